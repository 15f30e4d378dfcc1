package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody/localaws"
)

func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	g := &globals{stdout: &out, stderr: &out, now: time.Now}
	root := newRootCommand(g)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := cli.ExitCode(err, &out)
	return out.String(), code
}

func TestUsageErrors(t *testing.T) {
	cases := map[string][]string{
		"--bucket is required":    {"--since", "1h"},
		"--since is required":     {"--bucket", "b"},
		"ambiguous":               {"--bucket", "b", "--since", "2026-11-01T10:00:00"},
		"alternatives":            {"--bucket", "b", "--since", "1h", "--replica-bucket", "r", "--replica-region", "us-west-2", "--replica-endpoint", "http://x"},
		"need --replica-bucket":   {"--bucket", "b", "--since", "1h", "--replica-region", "us-west-2"},
		"--concurrency must be":   {"--bucket", "b", "--since", "1h", "--concurrency", "0"},
		"unknown flag: --no-such": {"--no-such"},
	}
	for want, args := range cases {
		out, code := run(t, args...)
		if code != cli.ExitUsage || !strings.Contains(out, want) {
			t.Errorf("recover %v: exit %d, output %q, want exit 2 mentioning %q", args, code, out, want)
		}
	}
}

func TestUnversionedBucketIsAClearError(t *testing.T) {
	e := localaws.Require(t)
	e.Setenv(t)
	bucket := localaws.CreateBucket(t, e.S3(t), localaws.BucketOptions{})
	out, code := run(t, "--bucket", bucket, "--since", "1h", "--dry-run")
	if code != cli.ExitFindings || !strings.Contains(out, "never had versioning enabled") || !strings.Contains(out, bucket) {
		t.Fatalf("unversioned bucket: exit %d\n%s", code, out)
	}
}
