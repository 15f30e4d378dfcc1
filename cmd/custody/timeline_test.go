package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/testaws"
)

// sealTrail seals CloudTrail records into the store as one log file of
// the CloudTrail collector's kind, delivered now.
func sealTrail(t *testing.T, cfgFile string, records []map[string]any) {
	t.Helper()
	ctx := context.Background()
	cfg, err := cli.LoadConfig(cli.ConfigSource{File: cfgFile})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"Records": records})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw); err != nil {
		panic(err)
	}
	zw.Close()
	ev, err := cli.OpenEvidence(ctx, cfg, time.Now, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	run, err := ev.Chain.StartRun(ctx, "cloudtrail")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	src := fmt.Sprintf("AWSLogs/123456789012/CloudTrail/us-east-1/%s/123456789012_CloudTrail_us-east-1_%s_%016x.json.gz", at.Format("2006/01/02"), at.Add(time.Minute).Format("20060102T1504Z"), at.UnixNano())
	if _, err := run.Put(ctx, custody.ArtifactPath("custody", "123456789012", "us-east-1", "cloudtrail", at, run.ID, src), &gz,
		custody.PutOptions{Kind: "cloudtrail-log", Account: "123456789012", Region: "us-east-1", Source: "s3://trail/" + src}); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Seal(ctx, custody.SealRequest{Event: custody.EventCollect, Account: "123456789012", Region: "us-east-1"}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestTimelineShowsWhoMadeABucketPublic: a bucket made public through a
// recorded PutBucketPolicy call. The posture collector sees the change;
// custody timeline joins it to the call: who, from where, with which
// access key, in text, JSON and a self-contained HTML page that headless
// Chromium renders with the entries in it.
func TestTimelineShowsWhoMadeABucketPublic(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "pass")
	ctx := context.Background()
	c := e.S3(t)
	src := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	dir := t.TempDir()
	if _, _, code := run(t, "keygen", "--out", filepath.Join(dir, "k.pem")); code != 0 {
		t.Fatal("keygen failed")
	}
	cfgFile := filepath.Join(dir, "custody.yaml")
	writeConfig(t, cfgFile, fmt.Sprintf(`ledger: %[1]s/ledger.db
agent: {stream: timeline-test}
schedules: {cloudtrail: "", config: "", versions: "", accesslogs: "", iam: "", kms: "", findings: ""}
store: {bucket: %[2]s, retention: {mode: COMPLIANCE, days: 1}}
signer: {key: "file://%[1]s/k.pem"}
trust: [{name: test, key: "file://%[1]s/k.pub"}]
sources:
  accounts:
    - id: "123456789012"
      regions: [us-east-1]
      buckets: [%[3]s]
`, dir, testaws.BucketName(t), src))
	if _, errOut, code := run(t, "-c", cfgFile, "store", "init", "--yes"); code != 0 {
		t.Fatal(errOut)
	}
	if out, errOut, code := run(t, "-c", cfgFile, "collect", "--once", "--collector", "posture"); code != 0 {
		t.Fatalf("first posture snapshot: exit %d\n%s%s", code, out, errOut)
	}
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`, src)
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(src), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	call := func(name, arn, key, ip, id string, at time.Time, params map[string]any) map[string]any {
		params["bucketName"] = src
		return map[string]any{"eventVersion": "1.09", "eventTime": at.UTC().Format(time.RFC3339), "eventSource": "s3.amazonaws.com", "eventName": name,
			"awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": "[aws-cli/2.15.0]", "requestID": "REQ" + id, "eventID": id,
			"userIdentity":      map[string]any{"type": "IAMUser", "arn": arn, "accountId": "123456789012", "accessKeyId": key, "userName": filepath.Base(arn)},
			"requestParameters": params, "responseElements": nil, "eventType": "AwsApiCall", "managementEvent": name == "PutBucketPolicy",
			"eventCategory": map[bool]string{true: "Management", false: "Data"}[name == "PutBucketPolicy"], "recipientAccountId": "123456789012"}
	}
	now := time.Now()
	sealTrail(t, cfgFile, []map[string]any{
		call("PutBucketPolicy", "arn:aws:iam::123456789012:user/mallory", "AKIAMALLORY00000001", "203.0.113.7", "11111111-1111-4111-8111-111111111111", now.Add(-20*time.Second), map[string]any{"bucketPolicy": map[string]any{"Version": "2012-10-17"}}),
		call("GetObject", "arn:aws:iam::123456789012:user/stranger", "AKIASTRANGER0000001", "198.51.100.9", "22222222-2222-4222-8222-222222222222", now.Add(-10*time.Second), map[string]any{"key": "records/<script>alert(1)</script>.json"}), // a hostile key: the page must not run it
	})
	if out, errOut, code := run(t, "-c", cfgFile, "collect", "--once", "--collector", "posture"); code != 0 {
		t.Fatalf("second posture snapshot: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code := run(t, "-c", cfgFile, "timeline", "--bucket", src, "--since", "1h")
	if code != 0 || !strings.Contains(out, "posture-change") || !strings.Contains(out, "policy of "+src+" changed") ||
		!strings.Contains(out, "PutBucketPolicy by arn:aws:iam::123456789012:user/mallory from 203.0.113.7") || !strings.Contains(out, "AKIAMALLORY00000001") ||
		!strings.Contains(out, "GetObject "+src+"/records/<script>alert(1)</script>.json") {
		t.Fatalf("timeline: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = run(t, "-c", cfgFile, "--json", "timeline", "--bucket", src, "--since", "1h")
	doc := checkJSON(t, "timeline", out, ".entries[].change.before.**", ".entries[].change.after.**")
	entries, _ := field(doc, "entries").([]any)
	var posture map[string]any
	for _, e := range entries {
		if m := e.(map[string]any); m["kind"] == "posture-change" && field(m, "change", "item") == "policy" {
			posture = m
		}
	}
	if code != 0 || posture == nil || field(posture, "causedBy", "eventId") != "11111111-1111-4111-8111-111111111111" || posture["principal"] != "arn:aws:iam::123456789012:user/mallory" ||
		!strings.HasPrefix(field(posture, "causedBy", "evidence", "manifest").(string), "timeline-test/") {
		t.Fatalf("timeline --json: exit %d, policy change %v\n%s%s", code, posture, out, errOut)
	}

	// The HTML page, rendered by a browser: the entries are there.
	page, errOut, code := run(t, "-c", cfgFile, "timeline", "--bucket", src, "--since", "1h", "--html")
	if code != 0 || !strings.HasPrefix(page, "<!DOCTYPE html>") || strings.Contains(page, "<script") || strings.Contains(page, "http://") {
		t.Fatalf("timeline --html: exit %d (want a page with no script and no outside resource)\n%.300s%s", code, page, errOut)
	}
	html := filepath.Join(dir, "timeline.html")
	if err := os.WriteFile(html, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("the HTML timeline is checked in headless Chromium (Debian's chromium package; scripts/test installs it)")
	}
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--user-data-dir=" + filepath.Join(dir, "chromium")}
	dom, err := exec.Command(chromium, append(flags, "--dump-dom", "file://"+html)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	for _, want := range []string{`data-kind="posture-change"`, "PutBucketPolicy by arn:aws:iam::123456789012:user/mallory", `data-kind="data-event"`, "activity of arn:aws:iam::123456789012:user/mallory per hour"} {
		if !strings.Contains(string(dom), want) {
			t.Fatalf("the rendered page lacks %q:\n%s", want, dom)
		}
	}
	shot := filepath.Join(dir, "timeline.png")
	if out, err := exec.Command(chromium, append(flags, "--screenshot="+shot, "--window-size=1200,900", "file://"+html)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v (size %d)", shot, err, st.Size())
	}
	if _, _, code := run(t, "-c", cfgFile, "timeline", "--since", "1h"); code != cli.ExitUsage {
		t.Fatalf("timeline without --bucket: exit %d", code)
	}

	// On a machine without the ledger, the manifests are verified once,
	// for the sealed logs and for custody's own events alike: each is
	// read once (the AWS call log counts the GETs; it names no version, so
	// only manifests, written once each, are counted).
	for _, f := range []string{"ledger.db", "ledger.db-wal", "ledger.db-shm"} {
		if err := os.Rename(filepath.Join(dir, f), filepath.Join(dir, "elsewhere-"+f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	calls := filepath.Join(dir, "calls.ndjson")
	t.Setenv(awsclient.CallLogEnv, calls)
	out, errOut, code = run(t, "-c", cfgFile, "timeline", "--bucket", src, "--since", "1h")
	os.Unsetenv(awsclient.CallLogEnv)
	if code != 0 || !strings.Contains(out, "PutBucketPolicy "+src+" from 203.0.113.7") {
		t.Fatalf("timeline without the ledger: exit %d\n%s%s", code, out, errOut)
	}
	reads := map[string]int{}
	log, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		var c awsclient.Call
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		if c.Operation == "GetObject" && len(c.Needs) > 0 && strings.Contains(c.Needs[0].Resource, "/manifests/") &&
			strings.HasSuffix(c.Needs[0].Resource, ".dsse.json") { // a manifest: one version
			reads[c.Needs[0].Resource]++
		}
	}
	if len(reads) == 0 {
		t.Fatal("the timeline without the ledger read no manifest: it did not verify the store")
	}
	for m, n := range reads {
		if n > 1 {
			t.Errorf("%s read %d times: the timeline verified the store more than once", m, n)
		}
	}
}
