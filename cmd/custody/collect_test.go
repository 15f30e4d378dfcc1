package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/testaws"
)

func TestCollectOnceAndPostureDiff(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "pass")
	ctx := context.Background()
	c := e.S3(t)
	src := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	for i := 0; i < 3; i++ {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(fmt.Sprintf("k%d", i)), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if _, _, code := run(t, "keygen", "--out", filepath.Join(dir, "k.pem")); code != 0 {
		t.Fatal("keygen failed")
	}
	cfgFile := filepath.Join(dir, "custody.yaml")
	writeConfig(t, cfgFile, fmt.Sprintf(`ledger: %s/ledger.db
agent: {stream: collector-test}
schedules: {cloudtrail: "", config: "", iam: "", kms: "", findings: "", accesslogs: ""}
store: {bucket: %s, retention: {mode: COMPLIANCE, days: 1}}
signer: {key: "file://%s/k.pem"}
sources:
  accounts:
    - id: "123456789012"
      regions: [us-east-1]
      buckets: [%s]
`, dir, testaws.BucketName(t), dir, src))
	if _, errOut, code := run(t, "-c", cfgFile, "store", "init", "--yes"); code != 0 {
		t.Fatal(errOut)
	}
	out, errOut, code := run(t, "-c", cfgFile, "collect", "--once")
	if code != 0 || !strings.Contains(out, "posture:"+src) || !strings.Contains(out, "versions:"+src) {
		t.Fatalf("collect --once: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := run(t, "-c", cfgFile, "collect"); code != cli.ExitUsage {
		t.Fatalf("collect without --once: exit %d", code)
	}

	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`, src)
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(src), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code = run(t, "-c", cfgFile, "collect", "--once", "--collector", "posture"); code != 0 || strings.Contains(out, "versions:") {
		t.Fatalf("collect --collector posture: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, "-c", cfgFile, "posture", "diff", "--bucket", src, "--since", "1h")
	if code != 0 || !strings.Contains(out, "policy") || !strings.Contains(out, `"Principal": "*"`) {
		t.Fatalf("posture diff: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = run(t, "-c", cfgFile, "verify"); code != 0 || !strings.Contains(out, "3 manifest(s)") {
		t.Fatalf("verify after collecting: exit %d\n%s%s", code, out, errOut)
	}
}

func TestAgentCommandCollectsAndStopsCleanly(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "pass")
	c := e.S3(t)
	src := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	dir := t.TempDir()
	if _, _, code := run(t, "keygen", "--out", filepath.Join(dir, "k.pem")); code != 0 {
		t.Fatal("keygen failed")
	}
	cfgFile := filepath.Join(dir, "custody.yaml")
	writeConfig(t, cfgFile, fmt.Sprintf(`ledger: %s/ledger.db
agent: {stream: agent-test, listen: "127.0.0.1:0", log_json: true}
store: {bucket: %s, retention: {mode: COMPLIANCE, days: 1}}
signer: {key: "file://%s/k.pem"}
schedules: {posture: "@every 1s", versions: "@every 1s", cloudtrail: "", config: "", accesslogs: "", jitter: 10ms}
sources:
  accounts:
    - id: "123456789012"
      regions: [us-east-1]
      buckets: [%s]
`, dir, testaws.BucketName(t), dir, src))
	if _, errOut, code := run(t, "-c", cfgFile, "store", "init", "--yes"); code != 0 {
		t.Fatal(errOut)
	}
	var out bytes.Buffer
	errOut := &testaws.Buffer{}
	g := &globals{stdout: &out, stderr: errOut, now: time.Now}
	root := newRootCommand(g)
	root.SetArgs([]string{"-c", cfgFile, "agent"})
	// Stop the agent once it has collected a few times (SIGTERM's path),
	// however long start-up took on a loaded machine.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(errOut.String(), `"msg":"collected"`) < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("agent: %v\n%s", err, errOut.String())
	}
	logs := errOut.String()
	if strings.Count(logs, `"msg":"collected"`) < 4 || !strings.Contains(logs, `"msg":"agent stopped"`) {
		t.Fatalf("agent logs:\n%s", logs)
	}
	vout, verr, code := run(t, "-c", cfgFile, "verify")
	if code != 0 {
		t.Fatalf("verify after the agent: exit %d\n%s%s", code, vout, verr)
	}
	if _, _, code := run(t, "-c", cfgFile, "agent", "--listen", "0.0.0.0:9464"); code != cli.ExitUsage {
		t.Fatalf("a non-loopback listen address: exit %d", code)
	}
}

// testaws.Buffer is a bytes.Buffer safe for a writer and a reader at once.
