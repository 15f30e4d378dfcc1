package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// Every error has one exit code: a reported failure 1, the caller's
// mistake 2, an interrupt 130, and anything else 3, could not complete.
func TestExitCodeOfEachKindOfError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		code  int
		print string // what stderr says, "" for nothing
	}{
		{"nil", nil, ExitOK, ""},
		{"findings", ErrFindings, ExitFindings, ""},
		{"findings, wrapped", fmt.Errorf("collect: %w", ErrFindings), ExitFindings, ""},
		{"usage", Usagef("--bucket is required"), ExitUsage, "Error: --bucket is required\n"},
		{"configuration", config.Problems{{Path: "store.bucket", Message: "required"}}, ExitUsage, "Error: "},
		{"AWS configuration", awsclient.ConfigError{Err: errors.New("profile \"nope\" not found")}, ExitUsage, "Error: "},
		{"unknown command", errors.New(`unknown command "nope" for "custody"`), ExitUsage, "Error: unknown command"},
		{"interrupted", fmt.Errorf("verify: %w", context.Canceled), ExitCanceled, "interrupted\n"},
		{"evidence failed", fmt.Errorf("nothing to export: case IR-1: %w", custody.ErrEvidenceFailed), ExitFindings, "Error: nothing to export"},
		{"could not complete", errors.New("stream lock held by pid 42"), ExitIncomplete, "Error: stream lock held by pid 42\n"},
		{"could not complete, wrapped", fmt.Errorf("list s3://evidence: %w", errors.New("connection refused")), ExitIncomplete, "Error: list s3://evidence: connection refused\n"},
	} {
		var stderr bytes.Buffer
		if code := ExitCode(tc.err, &stderr); code != tc.code {
			t.Errorf("%s: exit %d, want %d", tc.name, code, tc.code)
		}
		if got := stderr.String(); !strings.HasPrefix(got, tc.print) || (tc.print == "") != (got == "") {
			t.Errorf("%s: stderr %q, want it to start with %q", tc.name, got, tc.print)
		}
	}
}

// In JSON mode, and only for exit 3, Exit prints the document that says
// nothing was concluded; every other code leaves stdout to the command.
func TestPrinterExitPrintsIncomplete(t *testing.T) {
	t.Setenv("CUSTODY_DEBUG", "")
	err := fmt.Errorf("could not check: GetBucketVersioning: %w", errors.New("connection refused"))
	for _, code := range []int{ExitOK, ExitFindings, ExitUsage, ExitIncomplete, ExitCanceled} {
		for _, jsonMode := range []bool{false, true} {
			var out bytes.Buffer
			if got := (Printer{Out: &out, JSON: jsonMode}).Exit(code, err); got != code {
				t.Errorf("Exit(%d) returned %d", code, got)
			}
			if !jsonMode || code != ExitIncomplete {
				if out.Len() != 0 {
					t.Errorf("exit %d, json %v: printed %q", code, jsonMode, out.String())
				}
				continue
			}
			var doc map[string]any
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
				t.Fatalf("exit 3 in JSON mode: %v\n%s", err, out.String())
			}
			ok, hasOK := doc["ok"]
			if !hasOK || ok != nil || doc["status"] != "incomplete" || doc["error"] != err.Error() || len(doc) != 3 {
				t.Errorf("exit 3 in JSON mode printed %s", out.String())
			}
		}
	}
}

// The real recover binary with --json against an endpoint that refuses
// connections: exit 3, and stdout says so in JSON.
func TestRecoverBinaryIncompleteJSON(t *testing.T) {
	addr := testaws.FreeAddr(t)
	cmd := exec.Command(buildRecover(t), "--json", "--bucket", "custody-evidence", "--since", "1h", "--dry-run", "--ledger", filepath.Join(t.TempDir(), "j.db"))
	cmd.Env = append(os.Environ(),
		"AWS_ENDPOINT_URL=http://"+addr, "AWS_ENDPOINT_URL_S3=", "AWS_REGION=us-east-1", "AWS_PROFILE=", "AWS_MAX_ATTEMPTS=1",
		"AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=b", "AWS_EC2_METADATA_DISABLED=true", "CUSTODY_DEBUG=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != ExitIncomplete {
		t.Fatalf("recover --json against a refused connection: %v, want exit 3\n%s%s", err, stdout.String(), stderr.String())
	}
	var doc struct {
		OK     *bool  `json:"ok"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil || doc.OK != nil || doc.Status != "incomplete" || !strings.Contains(doc.Error, "connection refused") {
		t.Errorf("recover --json stdout %q (%v), want {\"ok\": null, \"status\": \"incomplete\", \"error\": \"...connection refused...\"}", stdout.String(), err)
	}
	if !strings.Contains(stderr.String(), "Error: "+doc.Error) {
		t.Errorf("the JSON error %q is not stderr's line:\n%s", doc.Error, stderr.String())
	}
}

// An error that concludes the evidence failed is 1, and in JSON mode says
// so: "ok" false, "status" failed, never incomplete.
func TestPrinterExitOfFailedEvidence(t *testing.T) {
	var out, stderr bytes.Buffer
	err := fmt.Errorf("nothing to export: %w", custody.ErrEvidenceFailed)
	code := Printer{Out: &out, JSON: true}.Exit(ExitCode(err, &stderr), err)
	var got struct {
		OK     *bool  `json:"ok"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if jerr := json.Unmarshal(out.Bytes(), &got); jerr != nil || code != ExitFindings || got.OK == nil || *got.OK || got.Status != "failed" || !strings.Contains(got.Error, "nothing to export") {
		t.Fatalf("exit %d, %+v, %v\n%s", code, got, jerr, out.String())
	}
}
