package main

import (
	"strings"
	"testing"

	"github.com/custody-ir/custody/cmd/internal/cli"
)

func TestCloudTrailValidateHelpAndRequiredFlags(t *testing.T) {
	out, _, code := run(t, "cloudtrail", "validate", "--help")
	if code != 0 || !strings.Contains(out, "--public-keys FILE") || strings.Contains(out, "--public-keys aws") {
		t.Fatalf("--public-keys type name in help: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "Examples:") {
		t.Fatalf("no Examples section:\n%s", out)
	}
	_, errOut, code := run(t, "cloudtrail", "validate", "--account", "111122223333")
	if code != cli.ExitUsage || !strings.Contains(errOut, "--bucket, --region, --trail, --start") {
		t.Fatalf("missing flags not reported at once: exit %d\n%s", code, errOut)
	}
}
