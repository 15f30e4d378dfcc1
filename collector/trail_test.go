package collector

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
)

func TestCloudTrailCollectorIsIncrementalAndVerifiable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	t0 := time.Now().UTC().Truncate(time.Hour).Add(-12 * time.Hour)
	trailBucket := strings.ToLower(strings.ReplaceAll(e.store.Bucket, "t-", "ct-"))
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(trailBucket)}); err != nil {
		t.Fatal(err)
	}
	w, err := cttest.Write(ctx, e.s3, cttest.Trail{Bucket: trailBucket, Account: "123456789012", Region: "us-east-1", Name: "main",
		Start: t0, Hours: 8, LogsPerHour: 2, EmptyHours: map[int]bool{1: true}, RotateAt: 4})
	if err != nil {
		t.Fatal(err)
	}
	clock := t0.Add(5*time.Hour + 30*time.Minute)
	col := &CloudTrail{S3: e.s3, Ledger: e.Ledger, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Lookback: 12 * time.Hour,
		Trail: config.Trail{Name: "main", Bucket: trailBucket}, Now: func() time.Time { return clock },
		Keys: func(context.Context, time.Time, time.Time) ([]cloudtrail.PublicKey, error) { return w.Keys, nil }}

	res, err := RunOne(ctx, e.Chain, col)
	if err != nil {
		t.Fatal(err)
	}
	// Hours 0-4 are delivered by then: 5 digests, 8 log files (hour 1 is empty), the key list.
	if res.Artifacts != 5+8+1 {
		t.Fatalf("first run stored %d artifacts", res.Artifacts)
	}
	clock = t0.Add(10 * time.Hour)
	if res, err = RunOne(ctx, e.Chain, col); err != nil || res.Artifacts != 3+6+1 {
		t.Fatalf("second run stored %d artifacts, %v", res.Artifacts, err)
	}
	if res, err = RunOne(ctx, e.Chain, col); err != nil || res.Artifacts != 1 {
		t.Fatalf("third run, nothing new: %d artifacts, %v", res.Artifacts, err)
	}

	// verify re-validates the preserved copies across the runs' manifests.
	v := custody.NewVerifier(e.s3, e.store, e.trust, e.Ledger, time.Now)
	v.Checks = []custody.EvidenceCheck{CloudTrailCheck{}}
	r, err := v.Verify(ctx, custody.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Severity == custody.SeverityFailure {
			t.Fatalf("clean trail: %v", f)
		}
	}
	if r.Checked.Subjects != 25 {
		t.Fatalf("%d subjects", r.Checked.Subjects)
	}
}

func TestCloudTrailCollectorPreservesATamperedTrail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	t0 := time.Now().UTC().Truncate(time.Hour).Add(-8 * time.Hour)
	trailBucket := strings.ReplaceAll(e.store.Bucket, "t-", "ct-")
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(trailBucket)}); err != nil {
		t.Fatal(err)
	}
	w, err := cttest.Write(ctx, e.s3, cttest.Trail{Bucket: trailBucket, Account: "123456789012", Region: "us-east-1", Name: "main", Start: t0, Hours: 6, LogsPerHour: 1})
	if err != nil {
		t.Fatal(err)
	}
	// An attacker removed an hour's digest and a log file before collection.
	if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(trailBucket), Key: aws.String(w.Digests[2])}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(trailBucket), Key: aws.String(w.Logs[4])}); err != nil {
		t.Fatal(err)
	}
	col := &CloudTrail{S3: e.s3, Ledger: e.Ledger, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Lookback: 9 * time.Hour,
		Trail: config.Trail{Name: "main", Bucket: trailBucket}, Now: time.Now,
		Keys: func(context.Context, time.Time, time.Time) ([]cloudtrail.PublicKey, error) { return w.Keys, nil }}
	if _, err := RunOne(ctx, e.Chain, col); err != nil {
		t.Fatalf("a damaged trail must still be preserved: %v", err)
	}
	v := custody.NewVerifier(e.s3, e.store, e.trust, e.Ledger, time.Now)
	v.Checks = []custody.EvidenceCheck{CloudTrailCheck{}}
	r, err := v.Verify(ctx, custody.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[custody.Kind]bool{}
	for _, f := range r.Findings {
		kinds[f.Kind] = true
	}
	// Recorded at collection (warnings from the manifest) and found again
	// in the preserved copies (failures).
	for _, k := range []custody.Kind{"recorded-cloudtrail-digest-missing", "cloudtrail-digest-missing", "cloudtrail-log-missing"} {
		if !kinds[k] {
			t.Errorf("no %s finding in %v", k, r.Findings)
		}
	}
}
