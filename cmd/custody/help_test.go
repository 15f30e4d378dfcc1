package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

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

func TestUnknownProfileIsAUsageError(t *testing.T) {
	t.Setenv("CUSTODY_DEBUG", "")
	_, errOut, code := run(t, "--profile", "no-such-profile", "ledger", "info", "--ledger", t.TempDir()+"/l.db")
	if code != 0 {
		t.Fatalf("a command that makes no AWS call fails on the profile: exit %d\n%s", code, errOut)
	}
	_, errOut, code = run(t, "--profile", "no-such-profile", "cloudtrail", "validate", "--bucket", "b", "--account", "1",
		"--region", "us-east-1", "--trail", "t", "--start", "1h")
	if code != cli.ExitUsage || !strings.Contains(errOut, "no-such-profile") {
		t.Fatalf("unknown --profile: exit %d, want %d naming it\n%s", code, cli.ExitUsage, errOut)
	}
}

// TestEveryCommandHasExamples: each command that does something shows
// how, kubectl style.
func TestEveryCommandHasExamples(t *testing.T) {
	g := &globals{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && !c.Hidden && c.Name() != "help" && c.Parent() != nil && c.Parent().Name() != "completion" && c.Name() != "completion" {
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("%q has no Examples section", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand(g))
}
