package main

import (
	"os"
	"strings"
	"testing"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/testaws"
)

// TestAWSCLIFlags: --profile, --region and --endpoint-url work as the AWS
// CLI's do; an unknown profile is a usage error naming it.
func TestAWSCLIFlags(t *testing.T) {
	t.Setenv("CUSTODY_DEBUG", "")
	_, bucket, target := smallDamage(t)
	e := testaws.Require(t)

	out, code := run(t, "--profile", "no-such-profile", "--bucket", bucket, "--since", target, "--dry-run")
	if code != cli.ExitUsage || !strings.Contains(out, "no-such-profile") {
		t.Fatalf("unknown --profile: exit %d, want %d naming it\n%s", code, cli.ExitUsage, out)
	}

	// Without any endpoint in the environment, --endpoint-url alone
	// finds the bucket.
	for _, v := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	out, code = run(t, "--endpoint-url", e.S3Endpoint, "--region", e.Region, "--bucket", bucket, "--since", target, "--dry-run")
	if code != 0 || !strings.Contains(out, "a.txt") {
		t.Fatalf("--endpoint-url: exit %d\n%s", code, out)
	}
}
