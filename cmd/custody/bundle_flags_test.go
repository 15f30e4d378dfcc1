package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-ir/custody/cmd/internal/cli"
)

// TestBundleAnchorFlagsAreChecked: a tired user's anchor flags fail as
// usage errors before anything is read: a pin without --bundle (it would
// otherwise look as if the store were checked against that key), and a
// key id that is not a whole one (a prefix read over the phone).
func TestBundleAnchorFlagsAreChecked(t *testing.T) {
	pkg := filepath.Join(t.TempDir(), "missing.tar.gz")
	id := strings.Repeat("ab", 32)
	for name, args := range map[string][]string{
		"--key-id without --bundle":   {"verify", "--key-id", id},
		"--key without --bundle":      {"verify", "--key", filepath.Join(t.TempDir(), "k.pub")},
		"a key id prefix":             {"verify", "--bundle", pkg, "--key-id", id[:16]},
		"a key id that is not hex":    {"verify", "--bundle", pkg, "--key-id", strings.Repeat("zz", 32)},
		"a --key file that is absent": {"verify", "--bundle", pkg, "--key", filepath.Join(t.TempDir(), "absent.pub")},
	} {
		out, errOut, code := run(t, args...)
		if code != cli.ExitUsage || strings.Contains(out, "OK") {
			t.Errorf("%s: exit %d, want %d\n%s%s", name, code, cli.ExitUsage, out, errOut)
		}
	}
	// A whole id, written as a sender might read it out, is accepted: the
	// package file is then what is missing (could not complete, not usage).
	if _, errOut, code := run(t, "verify", "--bundle", pkg, "--key-id", "SHA256:"+strings.ToUpper(id)); code == cli.ExitUsage || code == 0 {
		t.Errorf("a whole key id in capitals with a sha256: prefix: exit %d\n%s", code, errOut)
	}
}
