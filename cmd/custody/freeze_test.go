package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

// TestFreezeThroughTheBinary: a tired responder's mistakes first (no
// --yes, no allowed role, a wildcard, a role that does not exist, the
// evidence bucket itself: each refused, nothing changed), then a dry run
// that writes nothing anywhere, then the freeze (the exposed bucket stops
// taking anonymous writes), verify, the timeline showing the freeze, and
// the unfreeze putting the exposure back as sealed.
func TestFreezeThroughTheBinary(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "pass")
	ctx := context.Background()
	c := e.S3(t)
	bucket := testaws.CreateBucket(t, c, testaws.BucketOptions{ObjectLock: true})
	exposed := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"Exposed","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::%s/*"}]}`, bucket)
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(exposed)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(bucket), LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{
		{ID: aws.String("expire-noncurrent"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("")}, NoncurrentVersionExpiration: &s3types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}},
	}}}); err != nil {
		t.Fatal(err)
	}
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("report.csv"), Body: strings.NewReader("v1")})
	if err != nil {
		t.Fatal(err)
	}
	// The attacker overwrites report.csv after T: a restore to T needs v1.
	time.Sleep(1100 * time.Millisecond)
	at := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("report.csv"), Body: strings.NewReader("ransomed")}); err != nil {
		t.Fatal(err)
	}
	holdStatus := func() string {
		out, err := c.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: aws.String(bucket), Key: aws.String("report.csv"), VersionId: put.VersionId})
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchObjectLockConfiguration" {
			return "OFF" // never held
		}
		if err != nil {
			t.Fatalf("read the legal hold of report.csv: %v", err) // not "OFF": unfreeze's check must be able to fail
		}
		return string(out.LegalHold.Status)
	}
	role := "ir-responder-" + filepath.Base(bucket)[len(bucket)-8:]
	ic := iam.NewFromConfig(e.Config(t).AWS)
	r, err := testaws.CreateRole(ctx, ic, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	roleARN := aws.ToString(r.Role.Arn)

	dir := t.TempDir()
	if _, _, code := run(t, "keygen", "--out", filepath.Join(dir, "k.pem")); code != 0 {
		t.Fatal("keygen failed")
	}
	cfgFile := filepath.Join(dir, "custody.yaml")
	store := testaws.BucketName(t)
	writeConfig(t, cfgFile, fmt.Sprintf(`ledger: %[1]s/ledger.db
agent: {stream: freeze-test}
store: {bucket: %[2]s, retention: {mode: COMPLIANCE, days: 1}}
signer: {key: "file://%[1]s/k.pem"}
trust: [{name: test, key: "file://%[1]s/k.pub"}]
`, dir, store))
	if _, errOut, code := run(t, "-c", cfgFile, "store", "init", "--yes"); code != 0 {
		t.Fatal(errOut)
	}
	storeVersions := func() int {
		out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(store)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Versions) + len(out.DeleteMarkers)
	}
	anonymousPut := func(key string) int {
		req, _ := http.NewRequest(http.MethodPut, e.S3Endpoint+"/"+bucket+"/"+key, strings.NewReader("anonymous"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	policyNow := func() string {
		out, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Policy)
	}
	beforeVersions := storeVersions()
	base := []string{"-c", cfgFile, "freeze", "--bucket", bucket, "--case", "IR-9"}
	for why, c := range map[string]struct {
		args []string
		want string
	}{
		"no --yes":          {[]string{"--allow-role", roleARN}, "pass --yes"},
		"no allowed role":   {[]string{"--dry-run"}, "--allow-role is required"},
		"a wildcard":        {[]string{"--allow-role", "arn:aws:iam::123456789012:role/*", "--yes"}, "no wildcards"},
		"an unknown role":   {[]string{"--allow-role", "arn:aws:iam::123456789012:role/no-such-role", "--yes"}, "no-such-role"},
		"dry run and --yes": {[]string{"--allow-role", roleARN, "--dry-run", "--yes"}, "choose one"},
	} {
		_, errOut, code := run(t, append(base, c.args...)...)
		if code != cli.ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("freeze with %s: exit %d, %q; want exit 2 saying %q", why, code, errOut, c.want)
		}
	}
	_, errOut, code := run(t, "-c", cfgFile, "freeze", "--bucket", store, "--case", "IR-9", "--allow-role", roleARN, "--yes")
	if code != cli.ExitUsage || !strings.Contains(errOut, "evidence") {
		t.Errorf("freezing the evidence store: exit %d, %q", code, errOut)
	}
	// The ledger and its write-ahead log: a dry run's writes would land
	// in either.
	ledgerBytes := func() string {
		db, _ := os.ReadFile(filepath.Join(dir, "ledger.db"))
		wal, _ := os.ReadFile(filepath.Join(dir, "ledger.db-wal"))
		return string(db) + "\x00" + string(wal)
	}
	ledgerBefore := ledgerBytes()

	out, errOut, code := run(t, append(base, "--allow-role", roleARN, "--dry-run")...)
	if code != 0 || !strings.Contains(out, "dry run") || !strings.Contains(out, "planned") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	ledgerAfter := ledgerBytes()
	// (MinIO returns a policy's lists in a new order each time: look
	// for the freeze statement, not for the same bytes.)
	if storeVersions() != beforeVersions || strings.Contains(policyNow(), "CustodyFreeze") || string(ledgerBefore) != string(ledgerAfter) {
		t.Fatalf("the dry run wrote: store versions %d -> %d, policy %s, ledger changed %v", beforeVersions, storeVersions(), policyNow(), string(ledgerBefore) != string(ledgerAfter))
	}
	if anonymousPut("before") != http.StatusOK {
		t.Fatal("the exposed bucket refused an anonymous write before the freeze")
	}

	out, errOut, code = run(t, append([]string{"--json"}, append(base, "--allow-role", roleARN, "--hold-versions", at.Format(time.RFC3339), "--yes")...)...)
	if code != 0 {
		t.Fatalf("freeze: exit %d\n%s%s", code, out, errOut)
	}
	var res struct {
		Phase   string `json:"phase"`
		Allowed []struct {
			ARN    string `json:"arn"`
			UserID string `json:"userIdPattern"`
			Caller bool   `json:"caller"`
		} `json:"allowed"`
		Holds []struct {
			Key       string `json:"key"`
			VersionID string `json:"versionId"`
		} `json:"holds"`
		Manifests []string `json:"manifests"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("freeze --json: %v\n%s", err, out)
	}
	if res.Phase != "frozen" || len(res.Allowed) != 2 || res.Allowed[0].ARN != roleARN || res.Allowed[0].UserID != aws.ToString(r.Role.RoleId)+":*" || !res.Allowed[1].Caller || len(res.Manifests) != 2 {
		t.Fatalf("freeze --json: %s", out)
	}
	if len(res.Holds) != 1 || res.Holds[0].Key != "report.csv" || res.Holds[0].VersionID != aws.ToString(put.VersionId) || holdStatus() != "ON" {
		t.Errorf("a restore to T needs report.csv's first version: it must be held (now %s): %s", holdStatus(), out)
	}
	if anonymousPut("after") != http.StatusForbidden {
		t.Error("the frozen bucket took an anonymous write")
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("report.csv"), Body: strings.NewReader("v2")}); err != nil {
		t.Fatalf("the bucket's owner (allowed) could not write: %v", err)
	}
	if out, errOut, code := run(t, "-c", cfgFile, "verify"); code != 0 {
		t.Fatalf("verify after the freeze: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, "-c", cfgFile, "--json", "timeline", "--bucket", bucket, "--since", "1h")
	if code != 0 {
		t.Fatalf("timeline: exit %d\n%s%s", code, out, errOut)
	}
	if n := strings.Count(out, `"kind": "custody-event"`); n != 2 || !strings.Contains(out, "case IR-9") {
		t.Errorf("the timeline shows %d custody events, want the freeze's two:\n%s", n, out)
	}

	versionsNow := storeVersions()
	out, errOut, code = run(t, append([]string{"--json"}, append(base, "--allow-role", roleARN, "--yes")...)...)
	if code != 0 || !strings.Contains(out, `"already": true`) {
		t.Fatalf("freezing again: exit %d\n%s%s", code, out, errOut)
	}
	if n := storeVersions(); n != versionsNow || holdStatus() != "ON" {
		t.Fatalf("freezing again with its hold in place sealed %d more object(s) (want none), hold %s:\n%s", n-versionsNow, holdStatus(), out)
	}
	// Someone lifts the hold (the owner: MinIO's policies do not bind
	// it). The freeze run again puts that hold back and seals that it
	// did, naming the version; run again, it is already frozen.
	if _, err := c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String(bucket), Key: aws.String("report.csv"), VersionId: put.VersionId,
		LegalHold: &s3types.ObjectLockLegalHold{Status: s3types.ObjectLockLegalHoldStatusOff}}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = run(t, append([]string{"--json"}, append(base, "--allow-role", roleARN, "--yes")...)...)
	if code != 0 || strings.Contains(out, `"already": true`) || !strings.Contains(out, "put again on 1 of the freeze's 1 versions") || !strings.Contains(out, `"versionId": "`+aws.ToString(put.VersionId)+`"`) ||
		holdStatus() != "ON" || storeVersions() == versionsNow {
		t.Fatalf("freezing again after the hold was lifted: exit %d, hold %s, %d object(s) sealed\n%s%s", code, holdStatus(), storeVersions()-versionsNow, out, errOut)
	}
	versionsNow = storeVersions()
	out, errOut, code = run(t, append(base, "--allow-role", roleARN, "--yes")...)
	if code != 0 || !strings.Contains(out, "already frozen (1 holds in place)") || storeVersions() != versionsNow {
		t.Fatalf("freezing once more: exit %d, %d object(s) sealed\n%s%s", code, storeVersions()-versionsNow, out, errOut)
	}
	// The responder forgot recover's role: running the freeze again with
	// it must not answer "already frozen" and drop it.
	rr, err := testaws.CreateRole(ctx, ic, &iam.CreateRoleInput{RoleName: aws.String(role + "-recover"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run(t, append(base, "--allow-role", roleARN, "--allow-role", aws.ToString(rr.Role.Arn), "--yes")...)
	if code != cli.ExitUsage || !strings.Contains(errOut, aws.ToString(rr.Role.Arn)) || !strings.Contains(errOut, "not among them") {
		t.Fatalf("freezing again with another role: exit %d, %s; want exit 2 naming the role", code, errOut)
	}
	// Someone takes the freeze statement out (the exposure back as it was
	// before): that is undoing the freeze, not a half-done run, and
	// unfreeze must show it; freeze run again puts the statement back.
	frozenPolicy := policyNow()
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(exposed)}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = run(t, "-c", cfgFile, "unfreeze", "--bucket", bucket, "--case", "IR-9", "--dry-run")
	if code != 1 || !strings.Contains(out, "CustodyFreeze removed") {
		t.Fatalf("unfreeze --dry-run of a bucket whose freeze was taken out: exit %d, want 1 naming the statement\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, append(base, "--allow-role", roleARN, "--yes")...)
	if code != 0 || !strings.Contains(out, "policy") || !strings.Contains(policyNow(), "CustodyFreeze") || anonymousPut("refrozen") != http.StatusForbidden {
		t.Fatalf("freezing again after the statement was taken out: exit %d\n%s%s\n(policy frozen was %s)", code, out, errOut, frozenPolicy)
	}

	// A local attacker points the journal at a before-state of their own
	// (no policy: the freeze gone, nothing sealed says so), planted in
	// the evidence bucket with the right digest in the journal.
	l, err := ledger.Open(ctx, filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	journal, err := l.Cursor(ctx, "freeze", bucket)
	if err != nil {
		t.Fatal(err)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(journal), &entry); err != nil {
		t.Fatal(err)
	}
	before := entry["before"].(map[string]any)
	sealedBefore, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(store), Key: aws.String(before["key"].(string)), VersionId: aws.String(before["versionId"].(string))})
	if err != nil {
		t.Fatal(err)
	}
	var state map[string]any
	if err := json.NewDecoder(sealedBefore.Body).Decode(&state); err != nil {
		t.Fatal(err)
	}
	sealedBefore.Body.Close()
	state["settings"].(map[string]any)["policy"] = ""
	forged, _ := json.MarshalIndent(state, "", "  ")
	planted, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(store), Key: aws.String("custody/cases/IR-9/forged/freeze-before.json"), Body: bytes.NewReader(forged)})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(forged)
	before["key"], before["versionId"], before["sha256"], before["size"] = "custody/cases/IR-9/forged/freeze-before.json", aws.ToString(planted.VersionId), hex.EncodeToString(sum[:]), len(forged)
	tampered, _ := json.Marshal(entry)
	if err := l.SetCursor(ctx, "freeze", bucket, string(tampered)); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run(t, "-c", cfgFile, "unfreeze", "--bucket", bucket, "--case", "IR-9", "--yes")
	if code == 0 || !strings.Contains(errOut, "not sealed by any manifest that verifies") || anonymousPut("tampered") != http.StatusForbidden {
		t.Fatalf("unfreeze from a planted before-state: exit %d, %s", code, errOut)
	}
	if err := l.SetCursor(ctx, "freeze", bucket, journal); err != nil {
		t.Fatal(err)
	}
	l.Close()

	out, errOut, code = run(t, "-c", cfgFile, "unfreeze", "--bucket", bucket, "--case", "IR-9", "--yes")
	if code != 0 || !strings.Contains(out, "unfrozen") {
		t.Fatalf("unfreeze: exit %d\n%s%s", code, out, errOut)
	}
	if holdStatus() != "OFF" {
		t.Error("unfreeze must lift the legal hold the freeze placed")
	}
	if anonymousPut("unfrozen") != http.StatusOK {
		t.Error("after unfreeze the exposure (the before-state) must be back")
	}
	// Everything custody sealed verifies; the planted object is reported.
	out, errOut, code = run(t, "-c", cfgFile, "verify")
	if code != 1 || strings.Count(out, "FAILURE") != 1 || !strings.Contains(out, "unsealed-object") || !strings.Contains(out, "forged/freeze-before.json") {
		t.Fatalf("verify after the unfreeze: exit %d, want exactly the planted object as unsealed\n%s%s", code, out, errOut)
	}
}

// TestFreezeHoldsWhatUndoingAnActorNeeds: --hold-versions T with
// --hold-access-key holds the versions that undoing that key's writes
// (recover --access-key) would restore, read from the sealed CloudTrail
// data events, and not those of keys someone else wrote.
func TestFreezeHoldsWhatUndoingAnActorNeeds(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "pass")
	ctx := context.Background()
	c := e.S3(t)
	bucket := testaws.CreateBucket(t, c, testaws.BucketOptions{ObjectLock: true})
	put := func(key, body string) string {
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VersionId)
	}
	a1, b1 := put("a.csv", "a1"), put("b.csv", "b1")
	time.Sleep(1100 * time.Millisecond)
	since := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	a2, b2 := put("a.csv", "ransomed"), put("b.csv", "edited by the app")
	dir := t.TempDir()
	if _, _, code := run(t, "keygen", "--out", filepath.Join(dir, "k.pem")); code != 0 {
		t.Fatal("keygen failed")
	}
	cfgFile := filepath.Join(dir, "custody.yaml")
	writeConfig(t, cfgFile, fmt.Sprintf(`ledger: %[1]s/ledger.db
agent: {stream: freeze-actor}
store: {bucket: %[2]s, retention: {mode: COMPLIANCE, days: 1}}
signer: {key: "file://%[1]s/k.pem"}
trust: [{name: test, key: "file://%[1]s/k.pub"}]
`, dir, testaws.BucketName(t)))
	if _, errOut, code := run(t, "-c", cfgFile, "store", "init", "--yes"); code != 0 {
		t.Fatal(errOut)
	}
	write := func(key, version, arn, accessKey, id string) map[string]any {
		return map[string]any{"eventVersion": "1.09", "eventTime": time.Now().UTC().Format(time.RFC3339), "eventSource": "s3.amazonaws.com", "eventName": "PutObject",
			"awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9", "requestID": "REQ" + id, "eventID": id, "eventCategory": "Data", "managementEvent": false,
			"userIdentity":      map[string]any{"type": "IAMUser", "arn": arn, "accountId": "123456789012", "accessKeyId": accessKey},
			"requestParameters": map[string]any{"bucketName": bucket, "key": key}, "responseElements": map[string]any{"x-amz-version-id": version}, "recipientAccountId": "123456789012"}
	}
	sealTrail(t, cfgFile, []map[string]any{
		write("a.csv", a2, "arn:aws:iam::123456789012:user/mallory", "AKIAMALLORY00000009", "e1"),
		write("b.csv", b2, "arn:aws:iam::123456789012:role/app", "ASIAAPP0000000000001", "e2"),
	})
	r, err := testaws.CreateRole(ctx, iam.NewFromConfig(e.Config(t).AWS), &iam.CreateRoleInput{RoleName: aws.String("actor-" + bucket[len(bucket)-8:]), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "-c", cfgFile, "--json", "freeze", "--bucket", bucket, "--case", "IR-A", "--allow-role", aws.ToString(r.Role.Arn),
		"--hold-versions", since.Format(time.RFC3339), "--hold-access-key", "AKIAMALLORY00000009", "--dry-run")
	if code != 0 {
		t.Fatalf("freeze --hold-access-key --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, a1) || strings.Contains(out, b1) {
		t.Fatalf("the holds must be a.csv's version before mallory's write (%s), not b.csv's (%s):\n%s", a1, b1, out)
	}
	if _, errOut, code := run(t, "-c", cfgFile, "freeze", "--bucket", bucket, "--case", "IR-A", "--allow-role", aws.ToString(r.Role.Arn), "--hold-access-key", "AKIAMALLORY00000009", "--yes"); code != cli.ExitUsage || !strings.Contains(errOut, "give --hold-versions") {
		t.Errorf("--hold-access-key without --hold-versions: exit %d, %s", code, errOut)
	}
}
