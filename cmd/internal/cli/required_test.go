package cli

import (
	"errors"
	"testing"

	"github.com/spf13/pflag"
)

func TestRequireFlagsReportsAllAtOnce(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("bucket", "", "")
	fs.String("account", "", "")
	fs.String("trail", "", "")
	if err := fs.Parse([]string{"--trail", "main"}); err != nil {
		t.Fatal(err)
	}
	err := RequireFlags(fs, "bucket", "account", "trail")
	var u UsageError
	if !errors.As(err, &u) {
		t.Fatalf("err = %v, want a UsageError", err)
	}
	if got, want := err.Error(), "required flags not set: --bucket, --account"; got != want {
		t.Fatalf("err = %q, want %q", got, want)
	}
	if err := RequireFlags(fs, "trail"); err != nil {
		t.Fatalf("set flag reported missing: %v", err)
	}
	if err := RequireFlags(fs, "bucket"); err == nil || err.Error() != "--bucket is required" {
		t.Fatalf("one missing flag: %v", err)
	}
}
