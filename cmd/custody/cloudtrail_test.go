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
	"github.com/aws/aws-sdk-go-v2/credentials"
	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/testaws"
)

func TestCloudTrailValidateCommand(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	c := e.S3(t)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tr := cttest.Trail{Bucket: testaws.CreateBucket(t, c, testaws.BucketOptions{}), Account: "123456789012", Region: "us-east-1",
		Name: "main", Start: start, Hours: 4, LogsPerHour: 2, RotateAt: 2}
	w, err := cttest.Write(context.Background(), c, tr)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"cloudtrail", "validate", "--bucket", tr.Bucket, "--account", tr.Account, "--region", tr.Region, "--trail", tr.Name,
		"--start", start.Format(time.RFC3339), "--end", start.Add(4 * time.Hour).Format(time.RFC3339)}

	// Keys from ListPublicKeys, served in CloudTrail's wire format.
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", cttest.KeyServer(t, w.Keys))
	out, errOut, code := run(t, args...)
	if code != 0 || !strings.Contains(out, "validated 4 digest(s) in 1 chain(s) and 8 log file(s)") {
		t.Fatalf("validate with ListPublicKeys: exit %d\n%s%s", code, out, errOut)
	}

	// Offline, from a saved key list.
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	b, _ := cloudtrail.MarshalPublicKeys(w.Keys)
	if err := os.WriteFile(keysFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", "http://127.0.0.1:1")
	if out, errOut, code := run(t, append(args, "--public-keys", keysFile)...); code != 0 {
		t.Fatalf("validate --public-keys: exit %d\n%s%s", code, out, errOut)
	}

	// A deleted log file: exit 1 with a finding naming it.
	if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(tr.Bucket), Key: aws.String(w.Logs[2])}); err != nil {
		t.Fatal(err)
	}
	out, _, code = run(t, append([]string{"--json"}, append(args, "--public-keys", keysFile)...)...)
	var res cloudtrail.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != cli.ExitFindings || res.OK || len(res.Findings) != 1 ||
		res.Findings[0].Kind != "log-missing" || !strings.HasSuffix(res.Findings[0].Object, w.Logs[2]) {
		t.Fatalf("after deleting a log file: exit %d %+v %v", code, res, err)
	}
	if _, _, code := run(t, "cloudtrail", "validate", "--bucket", "b"); code != cli.ExitUsage {
		t.Fatalf("missing flags: exit %d", code)
	}
}

// TestCloudTrailValidatePublicKeysSPKI: a key file whose keys were saved
// as SubjectPublicKeyInfo DER (as openssl converts them) with the
// fingerprint AWS publishes, the MD5 of the PKCS#1 DER, validates.
func TestCloudTrailValidatePublicKeysSPKI(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	c := e.S3(t)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tr := cttest.Trail{Bucket: testaws.CreateBucket(t, c, testaws.BucketOptions{}), Account: "123456789012", Region: "us-east-1",
		Name: "main", Start: start, Hours: 3, LogsPerHour: 1, RotateAt: 1, SPKI: true}
	w, err := cttest.Write(context.Background(), c, tr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cloudtrail.MarshalPublicKeys(w.Keys)
	if !strings.Contains(string(b), "MIIBIjANBgkqhkiG9w0BAQEF") { // base64 of an SPKI header: rsaEncryption
		t.Fatalf("the key file does not hold SubjectPublicKeyInfo keys:\n%s", b)
	}
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keysFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", "http://127.0.0.1:1")
	out, errOut, code := run(t, "cloudtrail", "validate", "--bucket", tr.Bucket, "--account", tr.Account, "--region", tr.Region, "--trail", tr.Name,
		"--start", start.Format(time.RFC3339), "--end", start.Add(3*time.Hour).Format(time.RFC3339), "--public-keys", keysFile)
	if code != 0 || !strings.Contains(out, "validated 3 digest(s)") {
		t.Fatalf("validate --public-keys with SPKI keys: exit %d\n%s%s", code, out, errOut)
	}
}

// TestCollectCloudTrailSince: a trail's lookback bounds its first run;
// collect --since reopens the window further back, and again skips what
// is sealed; every run seals the trail-status snapshot, its calls served
// by moto through the key server.
func TestCollectCloudTrailSince(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "pass")
	ctx := context.Background()
	c := e.S3(t)
	trailBucket := testaws.CreateBucket(t, c, testaws.BucketOptions{})
	name := "since-" + trailBucket[len(trailBucket)-8:]
	// The trail in moto (its bucket in moto's S3, as CreateTrail wants),
	// its files on MinIO, three days back.
	moto, err := awsclient.Load(ctx, awsclient.Options{Region: e.Region, Endpoint: e.Endpoint, S3Endpoint: e.Endpoint,
		Credentials: credentials.NewStaticCredentialsProvider(e.AccessKey, e.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := moto.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(trailBucket)}); err != nil {
		t.Fatal(err)
	}
	api := ct.NewFromConfig(moto.AWS)
	if _, err := api.CreateTrail(ctx, &ct.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String(trailBucket), EnableLogFileValidation: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = api.DeleteTrail(context.Background(), &ct.DeleteTrailInput{Name: aws.String(name)}) })
	if _, err := api.StartLogging(ctx, &ct.StartLoggingInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	w, err := cttest.Write(ctx, c, cttest.Trail{Bucket: trailBucket, Account: "123456789012", Region: "us-east-1", Name: name,
		Start: time.Now().UTC().Truncate(time.Hour).Add(-72 * time.Hour), Hours: 3, LogsPerHour: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", cttest.KeyServer(t, w.Keys))

	dir := t.TempDir()
	if _, _, code := run(t, "keygen", "--out", filepath.Join(dir, "k.pem")); code != 0 {
		t.Fatal("keygen failed")
	}
	cfgFile := filepath.Join(dir, "custody.yaml")
	writeConfig(t, cfgFile, fmt.Sprintf(`ledger: %s/ledger.db
agent: {stream: since-test}
store: {bucket: %s, retention: {mode: COMPLIANCE, days: 1}}
signer: {key: "file://%s/k.pem"}
sources:
  accounts:
    - id: "123456789012"
      regions: [us-east-1]
      trails: [{name: %s, bucket: %s, lookback: 1d}]
`, dir, testaws.BucketName(t), dir, name, trailBucket))
	if _, errOut, code := run(t, "-c", cfgFile, "store", "init", "--yes"); code != 0 {
		t.Fatal(errOut)
	}
	collect := func(args ...string) []collector.Result {
		t.Helper()
		out, errOut, code := run(t, append([]string{"-c", cfgFile, "--json", "collect", "--once", "--collector", "cloudtrail"}, args...)...)
		var rs []collector.Result
		if err := json.Unmarshal([]byte(out), &rs); err != nil || code != 0 || len(rs) != 1 {
			t.Fatalf("collect %v: exit %d, %v\n%s%s", args, code, err, out, errOut)
		}
		return rs
	}
	// lookback: 1d: the files three days back are outside; the key list
	// and the trail-status snapshot are stored.
	if rs := collect(); rs[0].Artifacts != 2 {
		t.Fatalf("first run within its lookback: %+v", rs[0])
	}
	files := len(w.Digests) + len(w.Logs)
	if rs := collect("--since", "5d"); rs[0].Artifacts != files+2 {
		t.Fatalf("--since 5d: %d artifacts, want %d", rs[0].Artifacts, files+2)
	}
	if rs := collect("--since", time.Now().UTC().Add(-120*time.Hour).Format(time.RFC3339)); rs[0].Artifacts != 2 {
		t.Fatalf("--since again: %d artifacts, only the key list and the snapshot expected", rs[0].Artifacts)
	}
	for _, bad := range [][]string{{"--collector", "posture", "--since", "1d"}, {"--since", "yesterday"}} {
		if _, errOut, code := run(t, append([]string{"-c", cfgFile, "collect", "--once"}, bad...)...); code != cli.ExitUsage {
			t.Errorf("collect %v: exit %d, want usage\n%s", bad, code, errOut)
		}
	}
	if out, errOut, code := run(t, "-c", cfgFile, "verify"); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
}
