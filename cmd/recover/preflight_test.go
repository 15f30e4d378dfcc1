package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/internal/testaws"
)

// TestEvidenceOfTheBucketItself: recover is guided by the version list of
// the bucket it recovers, found by bucket, never by the list of another
// bucket whose name starts like it ("B.versions.old", preserved later),
// which a lookup by key substring took: it planned keys of that other
// bucket as unrecoverable.
func TestEvidenceOfTheBucketItself(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c := e.S3(t)
	cfgFile, cfg, _ := evidenceStore(t, "agent")

	bucket := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	other := bucket + ".versions.old"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(other)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(other),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	for b, k := range map[string]string{bucket: "mine.txt", other: "only-in-the-other.txt"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(k), Body: strings.NewReader("content of " + k)}); err != nil {
			t.Fatal(err)
		}
	}
	// The agent preserves the bucket's list, then, later, the other's.
	for _, b := range []string{bucket, other} {
		ev, err := cli.OpenEvidence(ctx, cfg, time.Now, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := collector.RunOne(ctx, ev.Chain, &collector.Versions{API: c, Bucket: b, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now}); err != nil {
			t.Fatal(err)
		}
		ev.Close()
		time.Sleep(1100 * time.Millisecond)
	}
	target := time.Now().UTC().Format(time.RFC3339Nano)

	out, code := run(t, "--bucket", bucket, "--since", target, "--config", cfgFile, "--dry-run")
	if code != 0 || !strings.Contains(out, "guided by the version list preserved") || strings.Contains(out, "only-in-the-other.txt") || !strings.Contains(out, "nothing to change") {
		t.Fatalf("recover guided by another bucket's list: exit %d\n%s", code, out)
	}
}
