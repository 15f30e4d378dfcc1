package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/testaws"
)

// TestEvidenceLifecycle runs the commands a responder uses, in order:
// keygen, store init, add, verify, export, verify --bundle.
func TestEvidenceLifecycle(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "test passphrase")
	dir := t.TempDir()
	key := filepath.Join(dir, "signing.pem")
	if out, errOut, code := run(t, "keygen", "--out", key); code != 0 || !strings.Contains(out, "key id") {
		t.Fatalf("keygen: exit %d\n%s%s", code, out, errOut)
	}
	cfgFile := filepath.Join(dir, "custody.yaml")
	writeConfig(t, cfgFile, fmt.Sprintf(`ledger: %s/ledger.db
agent: {stream: responder-1}
store:
  bucket: %s
  retention: {mode: COMPLIANCE, days: 1}
signer:
  key: file://%s
trust:
  - name: responder
    key: file://%s/signing.pub
`, dir, testaws.BucketName(t), key, dir))
	if out, errOut, code := run(t, "-c", cfgFile, "store", "init", "--yes"); code != 0 {
		t.Fatalf("store init: exit %d\n%s%s", code, out, errOut)
	}
	pub, _, code := run(t, "-c", cfgFile, "pubkey")
	want, _ := os.ReadFile(filepath.Join(dir, "signing.pub"))
	if code != 0 || pub != string(want) {
		t.Fatalf("pubkey: exit %d\n%s", code, pub)
	}

	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("14:02 attacker key AKIA... revoked"), 0o600); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "console.png")
	if err := os.WriteFile(shot, []byte("\x89PNG fake"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "-c", cfgFile, "add", "--case", "IR-2026-42", notes, shot)
	if code != 0 || strings.Count(out, "sealed s3://") != 2 || !strings.Contains(out, "manifest 1 of stream responder-1") {
		t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := run(t, "-c", cfgFile, "add", "--case", "IR-2026-42", filepath.Join(dir, "missing")); code != cli.ExitUsage {
		t.Fatalf("add of a missing file: exit %d", code)
	}

	out, errOut, code = run(t, "-c", cfgFile, "--json", "verify", "--case", "IR-2026-42")
	var report struct {
		OK      bool
		Checked struct{ Manifests, Subjects int }
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil || code != 0 || !report.OK || report.Checked.Manifests != 1 || report.Checked.Subjects != 2 {
		t.Fatalf("verify: exit %d %+v %v\n%s%s", code, report, err, out, errOut)
	}
	// Off a terminal, progress ends with one plain line of the final count.
	if !strings.Contains(errOut, "verified 2/2 artifacts") || strings.Contains(errOut, "\r") {
		t.Fatalf("verify progress off a terminal:\n%q", errOut)
	}
	if _, _, code := run(t, "-c", cfgFile, "verify", "--since", "2026-01-01"); code != cli.ExitUsage {
		t.Fatalf("verify with an ambiguous --since: exit %d", code)
	}

	pkg := filepath.Join(dir, "handoff.tar.gz")
	out, errOut, code = run(t, "-c", cfgFile, "export", "--case", "IR-2026-42", "--out", pkg)
	if code != 0 || !strings.Contains(out, "2 artifact(s)") || !strings.Contains(out, "export recorded as manifest 2") {
		t.Fatalf("export: exit %d\n%s%s", code, out, errOut)
	}
	_, keyID, found := strings.Cut(out, "signer key id: ")
	keyID, _, _ = strings.Cut(keyID, "\n")
	if !found || len(keyID) != 64 {
		t.Fatalf("export does not print the signer's key id for the recipient:\n%s", out)
	}
	// A package cannot vouch for itself: without a pinned signer, never OK.
	out, errOut, code = run(t, "verify", "--bundle", pkg)
	if code != cli.ExitFindings || strings.Contains(out, "OK:") || !strings.Contains(out, "signer-not-pinned") || !strings.Contains(out, keyID) {
		t.Fatalf("verify --bundle without an anchor: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, "verify", "--bundle", pkg, "--key-id", keyID)
	if code != 0 || !strings.Contains(out, "OK: all evidence") || !strings.Contains(out, `signed by "pinned key id `+keyID[:16]) {
		t.Fatalf("verify --bundle --key-id: exit %d\n%s%s", code, out, errOut)
	}
	// The export event itself verifies as part of the chain.
	if out, errOut, code = run(t, "-c", cfgFile, "verify"); code != 0 || !strings.Contains(out, "2 manifest(s)") {
		t.Fatalf("verify after export: exit %d\n%s%s", code, out, errOut)
	}
}
