package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/testaws"
)

// TestExitFailedIsNotIncomplete: through the real binary, evidence that
// fails a check is exit 1 with a report whose status is "failed"; verify
// that cannot reach the store is exit 3, concluding nothing: no report,
// and with --json {"ok": null, "status": "incomplete", "error": ...}; a
// store that holds is exit 0, status "ok".
func TestExitFailedIsNotIncomplete(t *testing.T) {
	s := newSafetyStore(t)
	if out, errOut, code := run(t, "-c", s.cfg, "add", "--case", "IR-1", s.file(t, "a.txt", "a")); code != 0 {
		t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
	}
	verify := func(env ...string) (report custody.Report, out, errOut string, code int) {
		t.Helper()
		out, errOut, code = binRun{env: append([]string{"AWS_MAX_ATTEMPTS=1"}, env...)}.run(t, "-c", s.cfg, "--json", "verify")
		if code == cli.ExitOK || code == cli.ExitFindings {
			if err := json.Unmarshal([]byte(out), &report); err != nil {
				t.Fatalf("verify --json: exit %d and no report: %v\n%s%s", code, err, out, errOut)
			}
		}
		return report, out, errOut, code
	}

	if rep, out, errOut, code := verify(); code != cli.ExitOK || !rep.OK || rep.Status != custody.StatusOK {
		t.Fatalf("verify of a store that holds: exit %d, ok %v, status %q\n%s%s", code, rep.OK, rep.Status, out, errOut)
	}

	// The store's endpoint refuses connections: nothing is concluded.
	closed := "CUSTODY_STORE_ENDPOINT=http://" + testaws.FreeAddr(t)
	_, out, errOut, code := verify(closed)
	if code != cli.ExitIncomplete || !strings.Contains(errOut, "Error: ") || !strings.Contains(errOut, "connection refused") {
		t.Errorf("verify --json with the store unreachable: exit %d, want %d naming the refused connection\n%s%s", code, cli.ExitIncomplete, out, errOut)
	}
	requireIncomplete(t, out, "connection refused")
	out, errOut, code = binRun{env: []string{"AWS_MAX_ATTEMPTS=1", closed}}.run(t, "-c", s.cfg, "verify")
	if code != cli.ExitIncomplete || out != "" || strings.Contains(out+errOut, "FAILED") {
		t.Errorf("verify with the store unreachable: exit %d, want %d and no report\n%s%s", code, cli.ExitIncomplete, out, errOut)
	}

	// A manifest deleted by someone who may bypass governance retention:
	// a finding about the evidence, in a report.
	for _, v := range s.versions(t) {
		if key, version, _ := strings.Cut(v, "?versionId="); strings.HasSuffix(key, "/manifests/"+s.stream+"/000000000001.dsse.json") {
			if _, err := s.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
				VersionId: aws.String(version), BypassGovernanceRetention: aws.Bool(true)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if rep, out, errOut, code := verify(); code != cli.ExitFindings || rep.OK || rep.Status != custody.StatusFailed || rep.Findings.Failures() == 0 {
		t.Errorf("verify of a deleted manifest: exit %d, ok %v, status %q, want %d, false, %q with failures\n%s%s",
			code, rep.OK, rep.Status, cli.ExitFindings, custody.StatusFailed, out, errOut)
	}
}

// requireIncomplete checks the --json output of a command that could not
// complete (exit 3): {"ok": null, "status": "incomplete", "error": ...},
// the error saying each of want.
func requireIncomplete(t *testing.T, out string, want ...string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("could not complete, with --json: stdout is not one JSON document: %v\n%s", err, out)
	}
	ok, hasOK := doc["ok"]
	msg, _ := doc["error"].(string)
	if !hasOK || ok != nil || doc["status"] != custody.StatusIncomplete || msg == "" || len(doc) != 3 {
		t.Errorf("could not complete, with --json: %s, want {\"ok\": null, \"status\": \"incomplete\", \"error\": ...}", out)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("could not complete, with --json: the error %q does not say %q", msg, w)
		}
	}
}
