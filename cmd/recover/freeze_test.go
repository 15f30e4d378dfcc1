package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/contain"
	"github.com/custody-ir/custody/internal/testaws"
)

// TestRecoverKnowsAboutFreezes: on a bucket that is not frozen recover
// warns (a writer or a lifecycle rule can race it); on a frozen bucket
// whose freeze does not allow recover's identity it refuses to apply
// (its writes would be denied half-way) and a dry run says so; under an
// allowed identity it notes the freeze and restores.
func TestRecoverKnowsAboutFreezes(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c := e.S3(t)
	bucket := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a.txt"), Body: strings.NewReader("good")}); err != nil {
		t.Fatal(err)
	}
	target := testaws.Cut().Format(time.RFC3339Nano)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a.txt"), Body: strings.NewReader("bad")}); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(t.TempDir(), "journal.db")
	out, code := run(t, "--bucket", bucket, "--since", target, "--dry-run", "--ledger", journal)
	if code != 0 || !strings.Contains(out, "is not frozen") {
		t.Fatalf("an unfrozen bucket: exit %d, want the warning\n%s", code, out)
	}
	freeze := func(ids ...string) {
		allowed := make([]contain.Allowed, len(ids))
		for i, id := range ids {
			allowed[i] = contain.Allowed{ARN: "arn:aws:iam::123456789012:role/r" + fmt.Sprint(i), UserID: id}
		}
		doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[%s]}`, mustJSON(t, contain.FreezeStatement("aws", bucket, allowed)))
		if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	freeze("AROAOTHERROLE:*")
	out, code = run(t, "--bucket", bucket, "--since", target, "--dry-run", "--ledger", journal)
	if code != 0 || !strings.Contains(out, "does not allow") {
		t.Fatalf("a dry run on a bucket frozen against recover: exit %d, want a warning\n%s", code, out)
	}
	out, code = run(t, "--bucket", bucket, "--since", target, "--yes", "--ledger", journal)
	if code != cli.ExitUsage || !strings.Contains(out, "does not allow") {
		t.Fatalf("applying on a bucket frozen against recover: exit %d, want 2\n%s", code, out)
	}
	me, err := e.Config(t).STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	freeze("AROAOTHERROLE:*", aws.ToString(me.UserId))
	// STS does not answer: who runs recover, and so whether the freeze
	// allows it, cannot be told; a bucket that may be frozen is not
	// written to (a dry run says so).
	t.Setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1")
	out, code = run(t, "--bucket", bucket, "--since", target, "--yes", "--ledger", journal)
	if code != cli.ExitUsage || !strings.Contains(out, "who runs recover cannot be told") {
		t.Fatalf("applying on a frozen bucket without STS: exit %d, want 2\n%s", code, out)
	}
	out, code = run(t, "--bucket", bucket, "--since", target, "--dry-run", "--ledger", journal)
	if code != 0 || !strings.Contains(out, "who runs recover cannot be told") {
		t.Fatalf("a dry run on a frozen bucket without STS: exit %d, want a warning\n%s", code, out)
	}
	os.Unsetenv("AWS_ENDPOINT_URL_STS")
	out, code = run(t, "--bucket", bucket, "--since", target, "--yes", "--json", "--ledger", journal)
	if code != 0 || !strings.Contains(out, "which the freeze allows") || !strings.Contains(out, `"copied": 1`) {
		t.Fatalf("recover under an allowed identity: exit %d\n%s", code, out)
	}
}

// TestRecoverSeesThroughALookAlikeFreeze: a statement named
// CustodyFreeze that is not custody's freeze (here a deny of tagging only,
// or the full statement with a "*" among its allowed patterns: both deny
// nothing recover or an attacker writes) used to be taken for a freeze:
// recover said the bucket was frozen and allowed it, so the responder got
// no warning that writers could race the restore. It warns that the
// bucket is not frozen, naming the look-alike.
func TestRecoverSeesThroughALookAlikeFreeze(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c := e.S3(t)
	bucket := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a.txt"), Body: strings.NewReader("good")}); err != nil {
		t.Fatal(err)
	}
	target := testaws.Cut().Format(time.RFC3339Nano)
	me, err := e.Config(t).STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	own := contain.FreezeStatement("aws", bucket, []contain.Allowed{{UserID: aws.ToString(me.UserId)}})
	narrow := map[string]any{}
	for k, v := range own {
		narrow[k] = v
	}
	narrow["Action"] = []string{"s3:PutObjectTagging"}
	everyone := map[string]any{}
	for k, v := range own {
		everyone[k] = v
	}
	everyone["Condition"] = map[string]any{"StringNotLike": map[string]any{"aws:userid": []string{aws.ToString(me.UserId), "*"}}}
	journal := filepath.Join(t.TempDir(), "journal.db")
	for name, stmt := range map[string]map[string]any{"tagging only": narrow, "a * pattern": everyone} {
		doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[%s]}`, mustJSON(t, stmt))
		if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
		out, code := run(t, "--bucket", bucket, "--since", target, "--dry-run", "--ledger", journal)
		if code != 0 || !strings.Contains(out, "is not frozen") || !strings.Contains(out, "not custody's freeze") || strings.Contains(out, "which the freeze allows") {
			t.Errorf("a look-alike freeze (%s): exit %d, want the not-frozen warning naming it\n%s", name, code, out)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
