package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/testaws"
)

// run executes the custody command in-process and returns its output and
// exit code as main would.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	g := &globals{stdout: &out, stderr: &errOut, now: time.Now}
	root := newRootCommand(g)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code = g.printer().Exit(cli.ExitCode(err, &errOut), err) // as main does
	return out.String(), errOut.String(), code
}

func TestHelpAndVersion(t *testing.T) {
	out, _, code := run(t, "--help")
	if code != 0 || !strings.Contains(out, "Exit codes:") || !strings.Contains(out, "config") {
		t.Fatalf("--help: code %d\n%s", code, out)
	}
	out, _, code = run(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "custody ") || !strings.Contains(out, "revision") {
		t.Fatalf("--version: code %d, %q", code, out)
	}
	out, _, code = run(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Fatalf("completion bash: code %d", code)
	}
	if _, _, code = run(t, "no-such-command"); code != cli.ExitUsage {
		t.Fatalf("unknown command: exit %d, want %d", code, cli.ExitUsage)
	}
	if _, _, code = run(t, "config", "check", "--no-such-flag"); code != cli.ExitUsage {
		t.Fatalf("unknown flag: exit %d, want %d", code, cli.ExitUsage)
	}
}

func TestConfigCheck(t *testing.T) {
	out, _, code := run(t, "config", "check", filepath.Join("..", "..", "configs", "agent.example.yaml"))
	if code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("example config: exit %d\n%s", code, out)
	}
	for file, field := range map[string]string{
		"typo.yaml":           "schedules.cloudtrial: unknown key",
		"bad-cron.yaml":       "schedules.versions:",
		"zero-retention.yaml": "store.retention.days:",
		"bad-kms.yaml":        "signer.key: a malformed KMS URI",
	} {
		out, _, code := run(t, "config", "check", filepath.Join("..", "..", "testdata", "config", file))
		if code != cli.ExitUsage || !strings.Contains(out, field) {
			t.Errorf("%s: exit %d, want 2 naming %q:\n%s", file, code, field, out)
		}
	}
	out, _, code = run(t, "--json", "config", "check", filepath.Join("..", "..", "testdata", "config", "typo.yaml"))
	var res configCheckResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != cli.ExitUsage || res.OK || len(res.Problems) != 1 || res.Problems[0].Path != "schedules.cloudtrial" {
		t.Fatalf("--json: exit %d, %+v, %v\n%s", code, res, err, out)
	}
}

func TestStoreInitAndCheck(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	bucket := testaws.BucketName(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "custody.yaml")
	writeConfig(t, cfgFile, fmt.Sprintf("ledger: %s/ledger.db\nstore:\n  bucket: %s\n  retention: {mode: GOVERNANCE, days: 1}\nsigner:\n  key: file://%s/key.pem\n", dir, bucket, dir))

	out, errOut, code := run(t, "--config", cfgFile, "store", "init")
	if code != 0 || !strings.Contains(out, "created with Object Lock") {
		t.Fatalf("store init: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, "--config", cfgFile, "store", "check")
	if code != 0 {
		t.Fatalf("store check of a fresh bucket: exit %d\n%s%s", code, out, errOut)
	}
	// Asking for a stricter retention than the bucket's default: check fails.
	t.Setenv("CUSTODY_STORE_RETENTION_MODE", "COMPLIANCE")
	out, _, code = run(t, "--config", cfgFile, "--json", "store", "check")
	var res storeCheckResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != cli.ExitFindings || res.OK {
		t.Fatalf("store check against a stricter config: exit %d, %+v, %v", code, res, err)
	}
	if len(res.Findings) == 0 || res.Findings[0].Kind != "bucket-default-retention" || res.Findings[0].Object != "s3://"+bucket {
		t.Fatalf("findings = %+v", res.Findings)
	}
	// The flag overrides the file: another bucket that does not exist.
	_, _, code = run(t, "--config", cfgFile, "store", "check", "--bucket", testaws.BucketName(t))
	if code != cli.ExitFindings {
		t.Fatalf("store check of a missing bucket: exit %d", code)
	}
}

func TestLedgerInfo(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "custody.yaml")
	writeConfig(t, cfgFile, fmt.Sprintf("ledger: %s/ledger.db\nstore:\n  bucket: evidence\nsigner:\n  key: file://%s/key.pem\n", dir, dir))
	out, errOut, code := run(t, "--config", cfgFile, "ledger", "info")
	if code != 0 || !strings.Contains(out, "schema 5") || !strings.Contains(out, "recovery_actions") {
		t.Fatalf("ledger info: exit %d\n%s%s", code, out, errOut)
	}
}

func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
