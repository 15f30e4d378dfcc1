package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector/accesslog/altest"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/testaws"
	recovery "github.com/custody-ir/custody/recover"
)

const (
	attackerKey = "AKIAATTACKER0000001"
	attackerARN = "arn:aws:iam::111122223333:user/mallory"
	appKey      = "ASIAAPPSESSION00001"
	appARN      = "arn:aws:sts::111122223333:assumed-role/app/i-0abc"
)

// incident writes to a versioned MinIO bucket as an attacker's key and a
// legitimate application would, after T, and records each write as a
// CloudTrail data event in AWS's format with the version id MinIO
// returned.
type incident struct {
	t       *testing.T
	c       *s3.Client
	bucket  string
	records []map[string]any
	n       int
}

func (in *incident) event(name, key, version string, marker bool, attacker bool) {
	in.n++
	arn, ak, ident := appARN, appKey, map[string]any{"type": "AssumedRole", "principalId": "AROAAPP:i-0abc",
		"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "arn": "arn:aws:iam::111122223333:role/app", "userName": "app"}}}
	if attacker {
		arn, ak, ident = attackerARN, attackerKey, map[string]any{"type": "IAMUser", "principalId": "AIDAMALLORY", "userName": "mallory"}
	}
	ident["arn"], ident["accessKeyId"], ident["accountId"] = arn, ak, "111122223333"
	resp := map[string]any{"x-amz-version-id": version}
	if marker {
		resp["x-amz-delete-marker"] = "true"
	}
	in.records = append(in.records, map[string]any{
		"eventVersion": "1.09", "userIdentity": ident, "eventTime": time.Now().UTC().Format(time.RFC3339), "eventSource": "s3.amazonaws.com",
		"eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": map[bool]string{true: "203.0.113.7", false: "10.0.3.7"}[attacker],
		"requestParameters": map[string]any{"bucketName": in.bucket, "key": key, "Host": in.bucket + ".s3.amazonaws.com"},
		"responseElements":  resp, "requestID": fmt.Sprintf("REQ%04d", in.n), "eventID": fmt.Sprintf("00000000-0000-4000-8000-%012d", in.n),
		"readOnly": false, "resources": []any{map[string]any{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::" + in.bucket + "/" + key}},
		"eventType": "AwsApiCall", "managementEvent": false, "recipientAccountId": "111122223333", "eventCategory": "Data",
	})
}

func (in *incident) put(key, body string, attacker bool) string {
	in.t.Helper()
	out, err := in.c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(in.bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		in.t.Fatal(err)
	}
	in.event("PutObject", key, aws.ToString(out.VersionId), false, attacker)
	return aws.ToString(out.VersionId)
}

func (in *incident) del(key string, attacker bool) {
	in.t.Helper()
	out, err := in.c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(in.bucket), Key: aws.String(key)})
	if err != nil {
		in.t.Fatal(err)
	}
	in.event("DeleteObject", key, aws.ToString(out.VersionId), true, attacker)
}

// current is the key's current body, or "(deleted)".
func (in *incident) current(key string) string {
	in.t.Helper()
	out, err := in.c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(in.bucket), Key: aws.String(key)})
	if err != nil {
		return "(deleted)"
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b)
}

// TestRecoverActor: an attacker's key and the application both write,
// overwrite and delete after T, on the same keys in both orders.
// recover --actor undoes exactly the attacker's writes, keeps every
// legitimate one, reports the conflict with both writers named and keeps
// the attacker's versions as evidence; recover --since T on the same
// incident would have undone the application's writes too.
func TestRecoverActor(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c := e.S3(t)
	cfgFile, cfg, _ := evidenceStore(t, "responder")
	in := &incident{t: t, c: c, bucket: testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})}
	for _, k := range []string{"overwritten", "deleted", "app-after", "app-before", "app-only", "both-then-delete"} {
		in.put(k, "original "+k, false)
	}
	in.records = nil // before T: the trail is of the incident only
	target := testaws.Cut()
	in.put("overwritten", "ransom note", true)
	in.del("deleted", true)
	in.put("app-after", "ransom note", true)
	in.put("app-after", "app update after", false)
	in.put("app-before", "app update before", false)
	in.put("app-before", "ransom note", true)
	in.put("app-only", "app update", false)
	in.put("created", "attacker's new key", true)
	in.put("both-then-delete", "ransom note", true)
	in.del("both-then-delete", true)

	// The trail's log file, sealed into the evidence store as the
	// CloudTrail collector seals it.
	raw, _ := json.Marshal(map[string]any{"Records": in.records})
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
	run, err := ev.Chain.StartRun(ctx, "cloudtrail")
	if err != nil {
		t.Fatal(err)
	}
	delivered := time.Now().UTC().Add(time.Minute)
	src := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/%s/111122223333_CloudTrail_us-east-1_%s_0000000000000001.json.gz", delivered.Format("2006/01/02"), delivered.Format("20060102T1504Z"))
	if _, err := run.Put(ctx, custody.ArtifactPath("custody", "111122223333", "us-east-1", "cloudtrail", time.Now(), run.ID, src), &gz,
		custody.PutOptions{Kind: "cloudtrail-log", Account: "111122223333", Region: "us-east-1", Source: "s3://trail/" + src}); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Seal(ctx, custody.SealRequest{Event: custody.EventCollect}, nil); err != nil {
		t.Fatal(err)
	}
	ev.Close()

	// What recover --since T would do: the application's writes undone too.
	out, code := run2(t, "--bucket", in.bucket, "--since", target.Format(time.RFC3339Nano), "--dry-run", "--json")
	var byTime struct{ Plan recovery.Plan }
	if err := json.Unmarshal([]byte(stdout(out)), &byTime); err != nil || code != 0 {
		t.Fatalf("recover --since --dry-run: exit %d, %v\n%s", code, err, out)
	}
	undone := map[string]bool{}
	for _, a := range byTime.Plan.Actions {
		undone[a.Key] = recovery.IsChange(string(a.Kind))
	}
	if !undone["app-only"] || !undone["app-after"] || !undone["app-before"] {
		t.Fatalf("recover --since T should undo the application's writes too (showing why --actor exists): %+v", byTime.Plan.Actions)
	}

	// The actor's plan, then applied.
	out, code = run2(t, "--bucket", in.bucket, "--since", target.Format(time.RFC3339Nano), "--access-key", attackerKey, "--config", cfgFile, "--dry-run", "--json")
	var dry struct{ Plan recovery.Plan }
	if err := json.Unmarshal([]byte(stdout(out)), &dry); err != nil || code != 0 {
		t.Fatalf("recover --access-key --dry-run: exit %d, %v\n%s", code, err, out)
	}
	kinds := map[string]recovery.ActionKind{}
	for _, a := range dry.Plan.Actions {
		kinds[a.Key] = a.Kind
		if len(a.Events) == 0 || a.Events[0].EventID == "" || !strings.HasPrefix(a.Events[0].Evidence, "s3://"+cfg.Store.Bucket+"/") {
			t.Fatalf("action on %s names no event and evidence object: %+v", a.Key, a)
		}
	}
	want := map[string]recovery.ActionKind{"overwritten": recovery.CopyBack, "deleted": recovery.RemoveMarkers, "app-after": recovery.Conflict,
		"app-before": recovery.CopyBack, "created": recovery.HideNew, "both-then-delete": recovery.CopyBack}
	if fmt.Sprint(kinds) != fmt.Sprint(want) || dry.Plan.Actor != "access key "+attackerKey {
		t.Fatalf("actor plan = %v (actor %q), want %v", kinds, dry.Plan.Actor, want)
	}
	for _, a := range dry.Plan.Actions {
		if a.Kind == recovery.Conflict && (len(a.Writers) != 2 || !strings.Contains(a.Writers[1], appARN)) {
			t.Fatalf("the conflict does not name both writers: %+v", a)
		}
	}
	before := versionsCount(t, c, in.bucket)
	out, code = run2(t, "--bucket", in.bucket, "--since", target.Format(time.RFC3339Nano), "--access-key", attackerKey, "--config", cfgFile, "--yes")
	if code != cli.ExitFindings || !strings.Contains(out, "CONFLICT app-after") || !strings.Contains(out, "recovery sealed as manifest") {
		t.Fatalf("recover --access-key --yes: exit %d (want 1: a conflict is reported)\n%s", code, out)
	}
	for key, body := range map[string]string{
		"overwritten": "original overwritten", "deleted": "original deleted", "app-after": "app update after", "app-before": "app update before",
		"app-only": "app update", "created": "(deleted)", "both-then-delete": "original both-then-delete",
	} {
		if got := in.current(key); got != body {
			t.Errorf("%s is %q after recover --actor, want %q", key, got, body)
		}
	}
	// The attacker's versions stay, as evidence: only versions and
	// markers were added, besides the markers removed.
	if after := versionsCount(t, c, in.bucket); after < before {
		t.Errorf("versions went from %d to %d: recover --actor deleted a version", before, after)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(in.bucket), Key: aws.String("overwritten"), VersionId: aws.String(in.records[0]["responseElements"].(map[string]any)["x-amz-version-id"].(string))}); err != nil {
		t.Errorf("the attacker's version of overwritten is gone: %v", err)
	}

	// Run again: nothing left to undo but the conflict.
	out, code = run2(t, "--bucket", in.bucket, "--since", target.Format(time.RFC3339Nano), "--access-key", attackerKey, "--config", cfgFile, "--dry-run")
	if code != 0 || !strings.Contains(out, "CONFLICT app-after") || strings.Contains(out, "copy back") {
		t.Fatalf("second plan: exit %d\n%s", code, out)
	}
	if _, code := run2(t, "--bucket", in.bucket, "--since", "1h", "--access-key", attackerKey, "--dry-run"); code != cli.ExitUsage {
		t.Fatalf("--access-key without --config: exit %d, want 2", code)
	}
	// A tired user's flags: --batch-manifest would copy without checking
	// the actor's version is still current; --resume takes no actor.
	for _, extra := range [][]string{{"--batch-manifest", filepath.Join(t.TempDir(), "m.csv")}, {"--resume", "recover-x"}} {
		args := append([]string{"--bucket", in.bucket, "--since", "1h", "--access-key", attackerKey, "--config", cfgFile, "--yes"}, extra...)
		if out, code := run2(t, args...); code != cli.ExitUsage {
			t.Fatalf("%v: exit %d, want 2\n%s", extra, code, out)
		}
	}
}

// TestRecoverActorPrefix: --prefix limits recover --actor to the keys
// under it; the actor's writes elsewhere are left as they are.
func TestRecoverActorPrefix(t *testing.T) {
	plan, err := recovery.PlanActor(context.Background(), nil, "b", recovery.ActorOptions{Actor: "a", Prefix: "reports/",
		Writes: []recovery.Write{{Key: "orders/1", VersionID: "v1", Actor: true}}})
	if err != nil || plan.Keys != 0 || len(plan.Actions) != 0 || plan.Prefix != "reports/" {
		t.Fatalf("a write outside --prefix was planned: %+v, %v", plan, err)
	}
}

// run2 runs recover and returns its standard output (what --json
// prints) and, after it, the standard error.
func run2(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	g := &globals{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, now: time.Now}
	root := newRootCommand(g)
	root.SetArgs(args)
	code := exitCode(root.ExecuteContext(context.Background()), &errOut)
	if errOut.Len() > 0 {
		return out.String() + "\x00" + errOut.String(), code
	}
	return out.String(), code
}

// stdout is run2's standard output alone.
func stdout(s string) string { o, _, _ := strings.Cut(s, "\x00"); return o }

func versionsCount(t *testing.T, c *s3.Client, bucket string) int {
	t.Helper()
	out, err := c.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Versions)
}

// TestRecoverActorFromAccessLogs: the actor's writes are in the sealed S3
// server access logs too, one of them only there (the trail missed it).
// A write both record is undone from the CloudTrail event, which names
// the version it created; the one only the access log records is
// reported as not covered (the log never names the created version),
// never undone on a guess; the application's write is left alone.
func TestRecoverActorFromAccessLogs(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c := e.S3(t)
	cfgFile, cfg, _ := evidenceStore(t, "responder")
	in := &incident{t: t, c: c, bucket: testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})}
	for _, k := range []string{"both", "log-only", "app"} {
		in.put(k, "original "+k, false)
	}
	in.records = nil
	target := testaws.Cut()
	var lines []string
	logged := func(key, requester string) {
		lines = append(lines, altest.Entry{Owner: altest.Owner, Bucket: in.bucket, Time: time.Now().UTC(), RemoteIP: "203.0.113.7", Requester: requester,
			RequestID: fmt.Sprintf("ALREQ%04d", len(lines)), Operation: "REST.PUT.OBJECT", Key: key, RequestURI: "PUT /" + in.bucket + "/" + key + " HTTP/1.1",
			Status: 200, BytesSent: -1, Size: 12, TotalMS: 9, TurnMS: 3, UserAgent: "aws-cli/2.15.0", SigV: "SigV4", Auth: "AuthHeader"}.Line())
	}
	in.put("both", "ransom note", true)
	logged("both", attackerARN)
	in.put("log-only", "ransom note", true)
	in.records = in.records[:len(in.records)-1] // the trail has no data event of it
	logged("log-only", attackerARN)
	in.put("app", "app update", false)
	logged("app", appARN)

	ev, err := cli.OpenEvidence(ctx, cfg, time.Now, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"Records": in.records})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw); err != nil {
		panic(err)
	}
	zw.Close()
	delivered := time.Now().UTC().Add(time.Minute)
	for _, f := range []struct {
		collector, kind, src string
		body                 io.Reader
	}{
		{"cloudtrail", "cloudtrail-log", fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/%s/111122223333_CloudTrail_us-east-1_%s_0000000000000002.json.gz", delivered.Format("2006/01/02"), delivered.Format("20060102T1504Z")), &gz},
		{"accesslogs", "access-log", "logs/" + delivered.Format("2006-01-02-15-04-05") + "-0A1B2C3D4E5F6071", strings.NewReader(strings.Join(lines, "\n") + "\n")},
	} {
		run, err := ev.Chain.StartRun(ctx, f.collector)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := run.Put(ctx, custody.ArtifactPath("custody", "111122223333", "us-east-1", f.collector, time.Now(), run.ID, f.src), f.body,
			custody.PutOptions{Kind: f.kind, Account: "111122223333", Region: "us-east-1", Source: "s3://logs/" + f.src}); err != nil {
			t.Fatal(err)
		}
		if _, err := run.Seal(ctx, custody.SealRequest{Event: custody.EventCollect}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ev.Close()

	out, code := run2(t, "--bucket", in.bucket, "--since", target.Format(time.RFC3339Nano), "--principal", attackerARN, "--config", cfgFile, "--dry-run", "--json")
	var dry struct{ Plan recovery.Plan }
	if err := json.Unmarshal([]byte(stdout(out)), &dry); err != nil || code != 0 {
		t.Fatalf("recover --principal --dry-run: exit %d, %v\n%s", code, err, out)
	}
	got := map[string]recovery.Action{}
	for _, a := range dry.Plan.Actions {
		got[a.Key] = a
	}
	if got["both"].Kind != recovery.CopyBack {
		t.Errorf("a write both the trail and the access log record: %s, want copy (from the data event's version)\n%s", got["both"].Kind, out)
	}
	if a := got["log-only"]; a.Kind != recovery.Uncovered || !strings.Contains(a.Evidence, "access log") {
		t.Errorf("a write only the access log records: %s (%q), want uncovered, saying why", a.Kind, a.Evidence)
	}
	if _, ok := got["app"]; ok || len(got) != 2 {
		t.Errorf("the plan must hold the actor's two keys only: %+v", dry.Plan.Actions)
	}
}
