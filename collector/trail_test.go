package collector

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
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

// killingRun cancels the collection once n artifacts were stored: a kill
// mid-backfill, with what was stored sealed as RunOne seals on shutdown.
type killingRun struct {
	Run
	n      int32
	stored atomic.Int32
	cancel context.CancelFunc
}

func (k *killingRun) Put(ctx context.Context, key string, body io.Reader, o custody.PutOptions) (custody.Artifact, error) {
	a, err := k.Run.Put(ctx, key, body, o)
	if err == nil && k.stored.Add(1) >= k.n {
		k.cancel()
	}
	return a, err
}

type killedCollector struct {
	*CloudTrail
	after int32
}

func (k killedCollector) Collect(ctx context.Context, run Run) (Outcome, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return k.CloudTrail.Collect(ctx, &killingRun{Run: run, n: k.after, cancel: cancel})
}

// sealedSources counts, per source object of the trail's bucket, the
// sealed copies the ledger knows, and the artifacts left unsealed.
func sealedSources(t *testing.T, e *testEnv, bucket string) (map[string]int, int) {
	t.Helper()
	rows, err := e.Ledger.DB().Query(`SELECT source, manifest_seq IS NOT NULL FROM artifacts WHERE source LIKE ?`, "s3://"+bucket+"/%")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out, unsealed := map[string]int{}, 0
	for rows.Next() {
		var src string
		var sealed bool
		if err := rows.Scan(&src, &sealed); err != nil {
			t.Fatal(err)
		}
		if sealed {
			out[src]++
		} else {
			unsealed++
		}
	}
	return out, unsealed
}

func TestCloudTrailBackfillResumesAfterAKill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	clock := time.Now().UTC().Truncate(time.Hour)
	t0 := clock.Add(-72 * time.Hour) // three days, across day prefixes
	trailBucket := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{})
	w, err := cttest.Write(ctx, e.s3, cttest.Trail{Bucket: trailBucket, Account: "123456789012", Region: "us-east-1", Name: "main",
		Start: t0, Hours: 71, LogsPerHour: 2, EmptyHours: map[int]bool{5: true}, RotateAt: 30})
	if err != nil {
		t.Fatal(err)
	}
	col := &CloudTrail{S3: e.s3, Ledger: e.Ledger, Account: "123456789012", Region: "us-east-1", Prefix: "custody",
		Trail: config.Trail{Name: "main", Bucket: trailBucket}, Now: func() time.Time { return clock }, Concurrency: 8,
		Keys: func(_ context.Context, start, end time.Time) ([]cloudtrail.PublicKey, error) {
			if start.After(clock.Add(-90*24*time.Hour)) || end.Before(clock) {
				return nil, fmt.Errorf("keys asked for %s to %s: not the whole window", start, end)
			}
			return w.Keys, nil
		}}
	files := len(w.Digests) + len(w.Logs)

	// Killed a third of the way: what it stored is sealed, the cursor stays.
	res, err := RunOne(ctx, e.Chain, killedCollector{col, int32(files / 3)})
	if err == nil || res.Manifest == 0 {
		t.Fatalf("the killed run: %+v, %v", res, err)
	}
	first, unsealed := sealedSources(t, e, trailBucket)
	t.Logf("killed run: %d artifacts, %d sources sealed", res.Artifacts, len(first))
	if len(first) < files/4 || len(first) >= files || unsealed != 0 {
		t.Fatalf("after the kill: %d of %d files sealed, %d unsealed", len(first), files, unsealed)
	}
	if _, err := e.Ledger.Cursor(ctx, "cloudtrail", col.scope()); err == nil {
		t.Fatal("the cursor moved after a failed run")
	}

	// The next run copies the rest, nothing twice, and validates it all.
	res, err = RunOne(ctx, e.Chain, col)
	if err != nil {
		t.Fatal(err)
	}
	got, unsealed := sealedSources(t, e, trailBucket)
	if len(got) != files || unsealed != 0 || res.Artifacts != files-len(first)+1 {
		t.Fatalf("after resuming: %d of %d sealed, %d unsealed, run stored %d (the killed one %d)", len(got), files, unsealed, res.Artifacts, len(first))
	}
	for src, n := range got {
		if n != 1 {
			t.Errorf("%s sealed %d times", src, n)
		}
	}
	for _, f := range res.Found {
		if f.Severity == custody.SeverityFailure {
			t.Errorf("resumed run: %v", f)
		}
	}
	cur, err := e.Ledger.Cursor(ctx, "cloudtrail", col.scope())
	newest, _ := cloudtrail.ParseDigestKey(w.Digests[len(w.Digests)-1])
	if err != nil || cur != newest.Time.Format(time.RFC3339) {
		t.Fatalf("cursor %q, %v; want the newest digest's %s", cur, err, newest.Time)
	}

	// --since before the cursor reopens the window: everything is
	// listed, validated, and skipped as sealed; the window is recorded.
	clock = clock.Add(10 * time.Minute)
	col.BackfillFrom(t0.Add(-time.Hour))
	res, err = RunOne(ctx, e.Chain, col)
	if err != nil || res.Artifacts != 1 {
		t.Fatalf("reopened window: %d artifacts (only the key list expected), %v", res.Artifacts, err)
	}
	out, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(e.store.Bucket), Key: aws.String(custody.ManifestKey("custody", e.Chain.Stream(), res.Manifest))})
	if err != nil {
		t.Fatal(err)
	}
	env, err := custody.ParseEnvelope(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	st, err := env.Statement()
	if err != nil {
		t.Fatal(err)
	}
	if when := st.Predicate.When; !when.WindowStart.Equal(t0.Add(-time.Hour)) || !when.WindowEnd.Equal(clock) {
		t.Fatalf("window recorded %s to %s", when.WindowStart, when.WindowEnd)
	}
	v := custody.NewVerifier(e.s3, e.store, e.trust, e.Ledger, time.Now)
	v.Checks = []custody.EvidenceCheck{CloudTrailCheck{}}
	r, err := v.Verify(ctx, custody.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Severity == custody.SeverityFailure {
			t.Errorf("verify: %v", f)
		}
	}
}

func TestCloudTrailFirstRunReaches90Days(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	clock := time.Date(2026, 11, 20, 12, 30, 0, 0, time.UTC)
	trailBucket := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{})
	var keys []cloudtrail.PublicKey
	// Two hours 91 days back (outside the default window), two 89 days
	// back (inside, a chain of its own), two just now.
	var inside int
	for i, back := range []time.Duration{91 * 24 * time.Hour, 89 * 24 * time.Hour, 3 * time.Hour} {
		w, err := cttest.Write(ctx, e.s3, cttest.Trail{Bucket: trailBucket, Account: "123456789012", Region: "us-east-1", Name: "main",
			Start: clock.Truncate(time.Hour).Add(-back), Hours: 2, LogsPerHour: 1})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, w.Keys...)
		if i > 0 {
			inside += len(w.Digests) + len(w.Logs)
		}
	}
	col := &CloudTrail{S3: e.s3, Ledger: e.Ledger, Account: "123456789012", Region: "us-east-1", Prefix: "custody",
		Trail: config.Trail{Name: "main", Bucket: trailBucket}, Now: func() time.Time { return clock },
		Keys: func(context.Context, time.Time, time.Time) ([]cloudtrail.PublicKey, error) { return keys, nil }}
	res, err := RunOne(ctx, e.Chain, col)
	if err != nil || res.Artifacts != inside+1 {
		t.Fatalf("first run: %d artifacts, want %d: %v", res.Artifacts, inside+1, err)
	}
}

// A log object whose answer has no Content-Length is of unknown size:
// streamed, never read "whole" as an empty object and sealed so.
func TestInlineSize(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name   string
		length *int64
		size   int64
		inline bool
	}{
		{"no Content-Length", nil, 0, false},
		{"empty", n(0), 0, true},
		{"small", n(1234), 1234, true},
		{"at the limit", n(maxInlineLog), maxInlineLog, true},
		{"over the limit", n(maxInlineLog + 1), 0, false},
		{"negative", n(-1), 0, false},
	} {
		if size, inline := inlineSize(tc.length); size != tc.size || inline != tc.inline {
			t.Errorf("%s: %d, %v; want %d, %v", tc.name, size, inline, tc.size, tc.inline)
		}
	}
}
