package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-ir/custody/cmd/internal/cli"
)

// TestSafetyAddChecksEveryFileFirst: a missing file, or a folder, among
// the files to add is a usage error naming it, and nothing is written:
// no object version, no manifest, no ledger change.
func TestSafetyAddChecksEveryFileFirst(t *testing.T) {
	s := newSafetyStore(t)
	good := s.file(t, "notes.txt", "14:02 key revoked")
	if out, errOut, code := run(t, "-c", s.cfg, "add", "--case", "IR-1", good); code != 0 {
		t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
	}
	before, manifests, ledger := s.versions(t), s.manifests(t), s.ledgerState(t)

	missing := filepath.Join(s.dir, "dump.rwa")
	folder := filepath.Join(s.dir, "screens")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bad, says string
	}{
		{missing, "no such file or directory"},
		{folder, "is a directory"},
	} {
		out, errOut, code := run(t, "-c", s.cfg, "add", "--case", "IR-1", good, tc.bad)
		if code != cli.ExitUsage || !strings.Contains(errOut, tc.bad) || !strings.Contains(errOut, tc.says) {
			t.Errorf("add with %s: exit %d, want %d naming it (%q)\n%s%s", tc.bad, code, cli.ExitUsage, tc.says, out, errOut)
		}
		if strings.Contains(out, "sealed") {
			t.Errorf("add with %s printed a result:\n%s", tc.bad, out)
		}
	}
	if after := s.versions(t); !sameStrings(before, after) {
		t.Errorf("refused adds wrote to the bucket:\nbefore %v\nafter  %v", before, after)
	}
	if n := s.manifests(t); n != manifests {
		t.Errorf("refused adds sealed: %d manifest(s), was %d", n, manifests)
	}
	if l := s.ledgerState(t); l != ledger {
		t.Error("refused adds changed the ledger")
	}
}
