package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	g := &globals{stdin: strings.NewReader(""), stdout: &out, stderr: &out, now: time.Now}
	root := newRootCommand(g)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := exitCode(err, &out)
	return out.String(), code
}

func TestUsageErrors(t *testing.T) {
	cases := map[string][]string{
		"--bucket is required":    {"--since", "1h"},
		"--since is required":     {"--bucket", "b"},
		"--bucket, --since":       {"--dry-run"},
		"ambiguous":               {"--bucket", "b", "--since", "2026-11-01T10:00:00"},
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
	e := testaws.Require(t)
	e.Setenv(t)
	bucket := testaws.CreateBucket(t, e.S3(t), testaws.BucketOptions{})
	out, code := run(t, "--bucket", bucket, "--since", "1h", "--dry-run")
	if code != cli.ExitIncomplete || !strings.Contains(out, "never had versioning enabled") || !strings.Contains(out, bucket) {
		t.Fatalf("unversioned bucket: exit %d\n%s", code, out)
	}
}

func TestRecoverCommand(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c := e.S3(t)
	bucket := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	put := func(k, body string) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put("a.txt", "good")
	put("b.txt", "keep")
	target := testaws.Cut().Format(time.RFC3339Nano)
	put("a.txt", "bad")
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("b.txt")}); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(t.TempDir(), "journal.db")

	out, code := run(t, "--bucket", bucket, "--since", target, "--dry-run", "--ledger", journal)
	if code != 0 || !strings.Contains(out, "copy back a.txt") || !strings.Contains(out, "remove 1 delete marker(s) over b.txt") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if out, code = run(t, "--bucket", bucket, "--since", target, "--ledger", journal); code != cli.ExitUsage || !strings.Contains(out, "--yes") {
		t.Fatalf("without --yes and no terminal: exit %d\n%s", code, out)
	}
	out, code = run(t, "--bucket", bucket, "--since", target, "--yes", "--json", "--ledger", journal)
	if code != 0 || !strings.Contains(out, `"copied": 1`) || !strings.Contains(out, `"markersRemoved": 1`) {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	for k, want := range map[string]string{"a.txt": "good", "b.txt": "keep"} {
		obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if string(b) != want {
			t.Errorf("%s = %q after recovery", k, b)
		}
	}
	if out, code = run(t, "--bucket", bucket, "--since", target, "--yes", "--ledger", journal); code != 0 || !strings.Contains(out, "nothing to change") {
		t.Fatalf("a second recovery: exit %d\n%s", code, out)
	}
	if out, code = run(t, "--resume", "no-such-job", "--ledger", journal); code != cli.ExitUsage || !strings.Contains(out, "no such job") {
		t.Fatalf("unknown job: exit %d, want %d\n%s", code, cli.ExitUsage, out)
	}
}

func TestRecoverySealedAsCustodyEvent(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "pass")
	ctx := context.Background()
	c := e.S3(t)
	dir := t.TempDir()
	pub, err := custody.Keygen(filepath.Join(dir, "k.pem"), []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	store := config.Store{Bucket: testaws.BucketName(t), Prefix: "custody", Retention: config.Retention{Mode: config.ModeCompliance, Days: 1}}
	if _, err := custody.InitBucket(ctx, c, store); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "custody.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf("ledger: %s/ledger.db\nagent: {stream: responder}\nstore: {bucket: %s, retention: {mode: COMPLIANCE, days: 1}}\nsigner: {key: \"file://%s/k.pem\"}\n", dir, store.Bucket, dir)), 0o600); err != nil {
		t.Fatal(err)
	}

	bucket := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a"), Body: strings.NewReader("good")}); err != nil {
		t.Fatal(err)
	}
	target := testaws.Cut().Format(time.RFC3339Nano)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a"), Body: strings.NewReader("bad")}); err != nil {
		t.Fatal(err)
	}

	out, code := run(t, "--bucket", bucket, "--since", target, "--yes", "--config", cfgFile)
	if code != 0 || !strings.Contains(out, "recovery sealed as manifest 1 of stream responder") {
		t.Fatalf("recover --config: exit %d\n%s", code, out)
	}
	trust, err := custody.LoadTrust(ctx, []config.TrustedKey{{Name: "k", Key: "file://" + pub}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := custody.NewVerifier(c, store, trust, nil, time.Now).Verify(ctx, custody.VerifyOptions{})
	if err != nil || r.Findings.Failures() != 0 || len(r.Manifests) != 1 || r.Manifests[0].Event != custody.EventRecover || r.Manifests[0].SubjectCount != 2 {
		t.Fatalf("verify: %+v %v", r, err)
	}
}

// TestEvidenceGuidedRecovery: the version list the agent preserved before
// the incident shows versions the attacker then deleted for good. One comes
// back from the replica; the other is reported with what is known of it.
func TestEvidenceGuidedRecovery(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c := e.S3(t)
	rc := e.ReplicaS3(t)
	cfgFile, cfg, _ := evidenceStore(t, "agent")

	bucket := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	replica := testaws.CreateBucket(t, rc, testaws.BucketOptions{Versioning: true})
	versions := map[string]string{}
	for _, k := range []string{"purged.txt", "gone.txt", "fine.txt"} {
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader("content of " + k)})
		if err != nil {
			t.Fatal(err)
		}
		versions[k] = aws.ToString(out.VersionId)
	}
	// Only gone.txt reached the replica (replication lags, or was scoped).
	if _, err := rc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(replica), Key: aws.String("gone.txt"), Body: strings.NewReader("content of gone.txt")}); err != nil {
		t.Fatal(err)
	}

	// The agent preserves the version list.
	ev, err := cli.OpenEvidence(ctx, cfg, time.Now, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collector.RunOne(ctx, ev.Chain,
		&collector.Versions{API: c, Bucket: bucket, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now}); err != nil {
		t.Fatal(err)
	}
	ev.Close()
	target := testaws.Cut().Format(time.RFC3339Nano)
	// The attacker deletes both versions for good.
	for _, k := range []string{"purged.txt", "gone.txt"} {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), VersionId: aws.String(versions[k])}); err != nil {
			t.Fatal(err)
		}
	}

	out, code := run(t, "--bucket", bucket, "--since", target, "--config", cfgFile, "--dry-run", "--replica-bucket", replica, "--replica-endpoint", e.ReplicaEndpoint, "--replica-region", e.ReplicaRegion)
	if code != 0 || !strings.Contains(out, "guided by the version list preserved") || !strings.Contains(out, "UNRECOVERABLE purged.txt") || !strings.Contains(out, "restore gone.txt from the replica") {
		t.Fatalf("evidence-guided plan: exit %d\n%s", code, out)
	}
	out, code = run(t, "--bucket", bucket, "--since", target, "--config", cfgFile, "--yes", "--replica-bucket", replica, "--replica-endpoint", e.ReplicaEndpoint, "--replica-region", e.ReplicaRegion)
	if code != cli.ExitFindings || !strings.Contains(out, "1 restored from the replica") || !strings.Contains(out, "UNRECOVERABLE purged.txt version "+versions["purged.txt"]) {
		t.Fatalf("evidence-guided recovery: exit %d\n%s", code, out)
	}
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("gone.txt")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(b) != "content of gone.txt" {
		t.Fatalf("gone.txt = %q", b)
	}
}
