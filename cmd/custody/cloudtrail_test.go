package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
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
