package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
)

// TestSafetyUnknownCase: verify and export of a case no manifest names are
// usage errors naming the case and the cases there are, not a green OK
// over nothing, an empty package or a signed export event.
func TestSafetyUnknownCase(t *testing.T) {
	s := newSafetyStore(t)
	for _, c := range []string{"IR-1", "IR-2"} {
		if out, errOut, code := run(t, "-c", s.cfg, "add", "--case", c, s.file(t, c+".txt", c)); code != 0 {
			t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
		}
	}
	before := s.versions(t)

	out, errOut, code := run(t, "-c", s.cfg, "verify", "--case", "NOPE")
	if code != cli.ExitUsage || !strings.Contains(errOut, `"NOPE"`) || !strings.Contains(errOut, "IR-1, IR-2") {
		t.Errorf("verify --case NOPE: exit %d, want %d naming NOPE and IR-1, IR-2\n%s%s", code, cli.ExitUsage, out, errOut)
	}
	if out != "" {
		t.Errorf("verify --case NOPE printed a report:\n%s", out)
	}

	pkg := filepath.Join(s.dir, "nope.tar.gz")
	out, errOut, code = run(t, "-c", s.cfg, "export", "--case", "NOPE", "--out", pkg)
	if code != cli.ExitUsage || !strings.Contains(errOut, `"NOPE"`) || !strings.Contains(errOut, "IR-1, IR-2") {
		t.Errorf("export --case NOPE: exit %d, want %d naming NOPE and IR-1, IR-2\n%s%s", code, cli.ExitUsage, out, errOut)
	}
	if _, err := os.Stat(pkg); !os.IsNotExist(err) {
		t.Errorf("export --case NOPE left a package: %v", err)
	}
	if after := s.versions(t); !sameStrings(before, after) {
		t.Errorf("export --case NOPE wrote to the bucket (an export event?):\nbefore %v\nafter  %v", before, after)
	}

	// The real case still verifies.
	if out, errOut, code := run(t, "-c", s.cfg, "verify", "--case", "IR-2"); code != 0 || !strings.Contains(out, "OK:") {
		t.Fatalf("verify --case IR-2: exit %d\n%s%s", code, out, errOut)
	}
}

// TestSafetyCaseOfATamperedManifest: a case whose only manifest is gone is
// not passed off as a typo (exit 2): verify reports the missing manifest
// and the case as failures (exit 1), and export exports nothing (exit 3:
// no package, so no report; verify is what shows the failures).
func TestSafetyCaseOfATamperedManifest(t *testing.T) {
	s := newSafetyStore(t)
	for _, c := range []string{"IR-1", "IR-2"} {
		if out, errOut, code := run(t, "-c", s.cfg, "add", "--case", c, s.file(t, c+".txt", c)); code != 0 {
			t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
		}
	}
	// An insider with s3:BypassGovernanceRetention deletes IR-1's manifest.
	for _, v := range s.versions(t) {
		if key, version, _ := strings.Cut(v, "?versionId="); strings.HasSuffix(key, "/manifests/"+s.stream+"/000000000001.dsse.json") {
			if _, err := s.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
				VersionId: aws.String(version), BypassGovernanceRetention: aws.Bool(true)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, errOut, code := run(t, "-c", s.cfg, "verify", "--case", "IR-1")
	if code != cli.ExitFindings || !strings.Contains(out, "case-missing") || !strings.Contains(out, "manifest-missing") {
		t.Errorf("verify --case of a deleted manifest's case: exit %d, want %d with case-missing and manifest-missing\n%s%s", code, cli.ExitFindings, out, errOut)
	}
	before := s.versions(t)
	pkg := filepath.Join(s.dir, "ir-1.tar.gz")
	out, errOut, code = run(t, "-c", s.cfg, "export", "--case", "IR-1", "--out", pkg)
	if code != cli.ExitFindings || !strings.Contains(errOut, "nothing to export") {
		t.Errorf("export --case of a deleted manifest's case: exit %d, want %d (the evidence failed)\n%s%s", code, cli.ExitFindings, out, errOut)
	}
	if _, err := os.Stat(pkg); !os.IsNotExist(err) {
		t.Errorf("a package was written: %v", err)
	}
	if after := s.versions(t); !sameStrings(before, after) {
		t.Errorf("export wrote to the bucket:\nbefore %v\nafter  %v", before, after)
	}
}

// TestSafetyExportRefusesVerifyFlags: --bundle (and --no-ledger) are
// verify's; export given one is a usage error that exports nothing and
// records no event. It once exported the whole store.
func TestSafetyExportRefusesVerifyFlags(t *testing.T) {
	s := newSafetyStore(t)
	if out, errOut, code := run(t, "-c", s.cfg, "add", "--case", "IR-1", s.file(t, "a.txt", "a")); code != 0 {
		t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
	}
	before := s.versions(t)
	pkg := filepath.Join(s.dir, "out.tar.gz")
	for _, flag := range [][]string{{"--bundle", filepath.Join(s.dir, "in.tar.gz")}, {"--no-ledger"}, {"--no-such-flag"}} {
		args := append([]string{"-c", s.cfg, "export", "--out", pkg}, flag...)
		out, errOut, code := run(t, args...)
		if code != cli.ExitUsage || !strings.Contains(errOut, "unknown flag: "+flag[0]) {
			t.Errorf("export %s: exit %d, want %d (unknown flag)\n%s%s", flag[0], code, cli.ExitUsage, out, errOut)
		}
		if _, err := os.Stat(pkg); !os.IsNotExist(err) {
			t.Errorf("export %s wrote a package: %v", flag[0], err)
		}
	}
	if after := s.versions(t); !sameStrings(before, after) {
		t.Errorf("refused exports wrote to the bucket:\nbefore %v\nafter  %v", before, after)
	}
	// verify still has --bundle.
	if _, errOut, code := run(t, "verify", "--bundle", filepath.Join(s.dir, "missing.tar.gz")); strings.Contains(errOut, "unknown flag") || code == 0 {
		t.Errorf("verify --bundle of a missing file: exit %d\n%s", code, errOut)
	}
}
