package collector

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/testaws"
)

// randomAccount is a fresh 12-digit account id: moto keeps each account's
// Security Hub and GuardDuty apart, so tests sharing the server do not
// see each other's findings.
func randomAccount(t testing.TB) string {
	n, err := rand.Int(rand.Reader, big.NewInt(8_999_999_999))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("9%011d", n.Int64())
}

// accountConfig is the stand-ins' configuration as a role in account.
func accountConfig(t testing.TB, le testaws.Env, account string) awsclient.Config {
	return le.Config(t).AssumeRole("arn:aws:iam::"+account+":role/custody-collector", "", "custody-test")
}

// shFinding is an ASFF finding as a detector would import it.
func shFinding(account, id string, updated time.Time, label shtypes.SeverityLabel, resourceType, resourceID string) shtypes.AwsSecurityFinding {
	ts := updated.UTC().Format(time.RFC3339Nano)
	return shtypes.AwsSecurityFinding{
		SchemaVersion: aws.String("2018-10-08"), Id: aws.String(id), AwsAccountId: aws.String(account),
		ProductArn:  aws.String("arn:aws:securityhub:us-east-1::product/aws/guardduty"),
		GeneratorId: aws.String("guardduty"), Types: []string{"TTPs/Exfiltration"},
		CreatedAt: aws.String(ts), UpdatedAt: aws.String(ts), Severity: &shtypes.Severity{Label: label},
		Title: aws.String("finding " + id), Description: aws.String("a test finding"),
		Resources: []shtypes.Resource{{Type: aws.String(resourceType), Id: aws.String(resourceID)}},
	}
}

// A run that stores nothing seals a run record: Artifacts counts it.

// detectorRecords reads the records of the detector-findings artifacts the
// manifest sealed.
func (e *testEnv) detectorRecords(t *testing.T, manifest int64) []map[string]any {
	t.Helper()
	r := e.verify(t)
	var out []map[string]any
	for _, m := range r.Manifests {
		if m.Sequence != manifest {
			continue
		}
		for _, s := range m.Subjects() {
			if s.Annotations.Kind != "detector-findings" {
				continue
			}
			zr, err := gzip.NewReader(bytes.NewReader(e.read(t, s.Name)))
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(zr)
			sc.Buffer(nil, 1<<24)
			for sc.Scan() {
				var rec map[string]any
				if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
					t.Fatalf("%s: %v", s.Name, err)
				}
				out = append(out, rec)
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

func recordIDs(recs []map[string]any) []string {
	var ids []string
	for _, r := range recs {
		f, _ := r["finding"].(map[string]any)
		ids = append(ids, fmt.Sprint(f["Id"]))
	}
	return ids
}

func kindsOf(fs []custody.Finding, kind finding.Kind) []custody.Finding {
	var out []custody.Finding
	for _, f := range fs {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

func TestDetectorsSecurityHub(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	le := testaws.Require(t)
	acct, other := randomAccount(t), randomAccount(t)
	ac := accountConfig(t, le, acct)
	sh := securityhub.NewFromConfig(ac.AWS)
	if _, err := sh.EnableSecurityHub(ctx, &securityhub.EnableSecurityHubInput{}); err != nil {
		t.Fatal(err)
	}
	monitored := "t-detectors-monitored"
	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Millisecond)
	imp := func(fs ...shtypes.AwsSecurityFinding) {
		t.Helper()
		out, err := sh.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: fs})
		if err != nil || aws.ToInt32(out.FailedCount) != 0 {
			t.Fatalf("BatchImportFindings: %+v, %v", out, err)
		}
	}
	imp(
		shFinding(acct, "high-on-bucket", base, shtypes.SeverityLabelHigh, "AwsS3Bucket", "arn:aws:s3:::"+monitored),
		shFinding(acct, "low-on-object", base.Add(time.Minute), shtypes.SeverityLabelLow, "AwsS3Object", "arn:aws:s3:::"+monitored+"/some/key"),
		shFinding(acct, "critical-elsewhere", base.Add(2*time.Minute), shtypes.SeverityLabelCritical, "AwsEc2Instance", "arn:aws:ec2:us-east-1:"+acct+":instance/i-1"),
		// Another account's finding in the same hub (an administrator
		// account's view): not this account's evidence.
		shFinding(other, "other-account", base, shtypes.SeverityLabelCritical, "AwsS3Bucket", "arn:aws:s3:::"+monitored),
	)
	col := &Detectors{SecurityHub: sh, GuardDuty: guardduty.NewFromConfig(ac.AWS), Ledger: e.Ledger, Account: acct, Region: "us-east-1",
		Buckets: []string{monitored, "t-detectors-quiet"}, Prefix: "custody", Now: time.Now}

	out, err := RunOne(ctx, e.Chain, col)
	if err != nil || out.Artifacts != 1 {
		t.Fatalf("first run: %+v, %v", out, err)
	}
	recs := e.detectorRecords(t, out.Manifest)
	if got := strings.Join(recordIDs(recs), ","); got != "high-on-bucket,low-on-object,critical-elsewhere" {
		t.Fatalf("first run sealed %s", got)
	}
	for _, r := range recs[:2] {
		if fmt.Sprint(r["monitoredBuckets"]) != "["+monitored+"]" || r["source"] != "securityhub" {
			t.Errorf("record %v: monitoredBuckets %v, source %v", recordIDs([]map[string]any{r}), r["monitoredBuckets"], r["source"])
		}
	}
	if _, ok := recs[2]["monitoredBuckets"]; ok {
		t.Errorf("a finding on an instance names monitored buckets: %v", recs[2]["monitoredBuckets"])
	}
	onBucket := kindsOf(out.Found, finding.DetectorFindingOnBucket)
	if len(onBucket) != 1 || onBucket[0].Object != monitored || !strings.Contains(onBucket[0].Message, "high-on-bucket") {
		t.Fatalf("findings on the bucket: %+v (all: %+v)", onBucket, out.Found)
	}

	// Nothing updated since: nothing stored.
	out, err = RunOne(ctx, e.Chain, col)
	if err != nil || out.Artifacts != 1 || out.Findings != 0 || len(e.detectorRecords(t, out.Manifest)) != 0 {
		t.Fatalf("second run: %+v, %v", out, err)
	}

	// An update and a new finding: those two alone.
	now := time.Now().UTC()
	imp(shFinding(acct, "low-on-object", now.Add(-time.Minute), shtypes.SeverityLabelCritical, "AwsS3Object", "arn:aws:s3:::"+monitored+"/some/key"),
		shFinding(acct, "new", now.Add(-30*time.Second), shtypes.SeverityLabelMedium, "AwsS3Bucket", "arn:aws:s3:::t-detectors-quiet"))
	out, err = RunOne(ctx, e.Chain, col)
	if err != nil || out.Artifacts != 1 {
		t.Fatalf("third run: %+v, %v", out, err)
	}
	if got := strings.Join(recordIDs(e.detectorRecords(t, out.Manifest)), ","); got != "low-on-object,new" {
		t.Fatalf("third run sealed %s", got)
	}
	if n := len(kindsOf(out.Found, finding.DetectorFindingOnBucket)); n != 1 {
		t.Fatalf("the updated finding, now CRITICAL, gives %d finding(s): %+v", n, out.Found)
	}
}

// putGuardDutyFindings stores findings in the stand-in's GuardDuty through
// scripts/motoserver.py's test-only route (AWS has no such call).
func putGuardDutyFindings(t testing.TB, endpoint, account, region, detector string, findings []map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"account_id": account, "region": region, "detectorId": detector, "findings": findings})
	resp, err := http.Post(endpoint+"/moto-api/static/guardduty/findings", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("putting GuardDuty findings: %s %s", resp.Status, b)
	}
}

func gdFinding(id string, updated time.Time, severity float64, bucket string) map[string]any {
	f := map[string]any{"id": id, "updatedAt": updated.UTC().Format("2006-01-02T15:04:05.000Z"), "severity": severity,
		"title": "finding " + id, "type": "Exfiltration:S3/AnomalousBehavior"}
	if bucket != "" {
		f["resource"] = map[string]any{"resourceType": "S3Bucket", "s3BucketDetails": []map[string]any{{"name": bucket, "arn": "arn:aws:s3:::" + bucket}}}
	}
	return f
}

func TestDetectorsGuardDutyWithoutSecurityHub(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	le := testaws.Require(t)
	acct := randomAccount(t)
	ac := accountConfig(t, le, acct)
	gd := guardduty.NewFromConfig(ac.AWS)
	det, err := gd.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	detector := aws.ToString(det.DetectorId)
	monitored := "t-gd-monitored"
	base := time.Now().UTC().Add(-3 * time.Hour)
	var batch []map[string]any
	for i := range 120 { // three ListFindings pages, three GetFindings batches
		batch = append(batch, gdFinding(fmt.Sprintf("f%03d", i), base.Add(time.Duration(i)*time.Second), 2, ""))
	}
	batch = append(batch, gdFinding("high-on-bucket", base.Add(time.Hour), 8.0, monitored), gdFinding("medium-on-bucket", base.Add(time.Hour), 5.0, monitored))
	putGuardDutyFindings(t, le.Endpoint, acct, "us-east-1", detector, batch)
	col := &Detectors{SecurityHub: securityhub.NewFromConfig(ac.AWS), GuardDuty: gd, Ledger: e.Ledger, Account: acct, Region: "us-east-1",
		Buckets: []string{monitored}, Prefix: "custody", Now: time.Now}

	out, err := RunOne(ctx, e.Chain, col)
	if err != nil || out.Artifacts != 1 {
		t.Fatalf("first run: %+v, %v", out, err)
	}
	recs := e.detectorRecords(t, out.Manifest)
	if len(recs) != 122 {
		t.Fatalf("first run sealed %d GuardDuty findings, want 122", len(recs))
	}
	for _, r := range recs {
		if r["source"] != "guardduty" {
			t.Fatalf("record from %v", r["source"])
		}
	}
	onBucket := kindsOf(out.Found, finding.DetectorFindingOnBucket)
	if len(onBucket) != 1 || onBucket[0].Object != monitored || !strings.Contains(onBucket[0].Message, "high-on-bucket") {
		t.Fatalf("findings on the bucket: %+v", out.Found)
	}

	out, err = RunOne(ctx, e.Chain, col)
	if err != nil || out.Artifacts != 1 || len(e.detectorRecords(t, out.Manifest)) != 0 {
		t.Fatalf("second run: %+v, %v", out, err)
	}
	putGuardDutyFindings(t, le.Endpoint, acct, "us-east-1", detector, []map[string]any{gdFinding("f007", time.Now().Add(-time.Second), 9.5, monitored)})
	out, err = RunOne(ctx, e.Chain, col)
	if err != nil || out.Artifacts != 1 {
		t.Fatalf("third run: %+v, %v", out, err)
	}
	if got := strings.Join(recordIDs(e.detectorRecords(t, out.Manifest)), ","); got != "f007" {
		t.Fatalf("third run sealed %q, want the updated f007 alone", got)
	}
}

func TestDetectorsNoneEnabled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	le := testaws.Require(t)
	acct := randomAccount(t)
	ac := accountConfig(t, le, acct)
	col := &Detectors{SecurityHub: securityhub.NewFromConfig(ac.AWS), GuardDuty: guardduty.NewFromConfig(ac.AWS), Ledger: e.Ledger, Account: acct,
		Region: "us-east-1", Prefix: "custody", Now: time.Now}
	out, err := RunOne(ctx, e.Chain, col)
	if err != nil || out.Artifacts != 1 {
		t.Fatalf("run: %+v, %v", out, err)
	}
	if got := kindsOf(out.Found, finding.DetectorsUnavailable); len(got) != 1 || got[0].Object != col.Name() || got[0].Remedy == "" {
		t.Fatalf("findings: %+v", out.Found)
	}
}

// cutRun is a run whose store gives up part way through each artifact,
// as a crash or a lost connection would.
type cutRun struct{ Run }

func (c cutRun) Put(_ context.Context, _ string, body io.Reader, _ custody.PutOptions) (custody.Artifact, error) {
	_, _ = io.CopyN(io.Discard, body, 64)
	return custody.Artifact{}, fmt.Errorf("the store went away")
}

type cutCollector struct{ Collector }

func (c cutCollector) Collect(ctx context.Context, run Run) (Outcome, error) {
	return c.Collector.Collect(ctx, cutRun{run})
}

func TestDetectorsCursorMovesOnlyAfterSealing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	le := testaws.Require(t)
	acct := randomAccount(t)
	ac := accountConfig(t, le, acct)
	sh := securityhub.NewFromConfig(ac.AWS)
	if _, err := sh.EnableSecurityHub(ctx, &securityhub.EnableSecurityHubInput{}); err != nil {
		t.Fatal(err)
	}
	var fs []shtypes.AwsSecurityFinding
	for i := range 150 { // two pages
		fs = append(fs, shFinding(acct, fmt.Sprintf("f%03d", i), time.Now().Add(-time.Hour+time.Duration(i)*time.Second), shtypes.SeverityLabelLow, "AwsAccount", "AWS::::Account:"+acct))
	}
	for i := 0; i < len(fs); i += 100 {
		if _, err := sh.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: fs[i:min(i+100, len(fs))]}); err != nil {
			t.Fatal(err)
		}
	}
	col := &Detectors{SecurityHub: sh, GuardDuty: guardduty.NewFromConfig(ac.AWS), Ledger: e.Ledger, Account: acct, Region: "us-east-1", Prefix: "custody", Now: time.Now}
	if res, err := RunOne(ctx, e.Chain, cutCollector{col}); err == nil || res.Error == "" {
		t.Fatalf("a run cut off succeeded: %+v", res)
	}
	if _, err := e.Ledger.Cursor(ctx, "findings", "securityhub/"+acct+"/us-east-1"); err == nil {
		t.Fatal("the cursor moved although nothing was sealed")
	}
	res, err := RunOne(ctx, e.Chain, col)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.detectorRecords(t, res.Manifest)); n != 150 {
		t.Fatalf("the run after the cut sealed %d findings, want 150", n)
	}
}

// GuardDuty's own CreateSampleFindings, on the stand-in: the sample
// findings are collected like any other.
func TestDetectorsGuardDutySampleFindings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	le := testaws.Require(t)
	acct := randomAccount(t)
	ac := accountConfig(t, le, acct)
	gd := guardduty.NewFromConfig(ac.AWS)
	det, err := gd.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	types := []string{"Exfiltration:S3/AnomalousBehavior", "Policy:S3/BucketBlockPublicAccessDisabled"}
	if _, err := gd.CreateSampleFindings(ctx, &guardduty.CreateSampleFindingsInput{DetectorId: det.DetectorId, FindingTypes: types}); err != nil {
		t.Fatal(err)
	}
	col := &Detectors{SecurityHub: securityhub.NewFromConfig(ac.AWS), GuardDuty: gd, Ledger: e.Ledger, Account: acct, Region: "us-east-1",
		Prefix: "custody", Now: time.Now}
	out, err := RunOne(ctx, e.Chain, col)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range e.detectorRecords(t, out.Manifest) {
		f, _ := r["finding"].(map[string]any)
		got = append(got, fmt.Sprint(f["Type"]))
	}
	if strings.Join(got, ",") != strings.Join(types, ",") {
		t.Fatalf("sealed sample findings of types %v, want %v", got, types)
	}
}
