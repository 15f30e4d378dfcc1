package collector

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
	"github.com/custody-ir/custody/search"
)

// TestRunOneIndexesSealedLogs: with IndexLogs, RunOne hands the CloudTrail
// collector's log files and the access-log collector's S3 server access
// logs to the search index, which records the terms of each once the
// run is sealed; digests, public keys and opaque log files are not
// indexed; the collections store exactly what they store without it.
func TestRunOneIndexesSealedLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newAccessLogsFixture(t)
	objs := f.write(t, 0, 3)
	c := testaws.Require(t).S3(t)
	clock := time.Now().UTC().Truncate(time.Hour)
	tr := cttest.Trail{Bucket: testaws.CreateBucket(t, c, testaws.BucketOptions{}), Account: "123456789012", Region: "us-east-1",
		Name: "main", Start: clock.Add(-4 * time.Hour), Hours: 3, LogsPerHour: 2}
	w, err := cttest.Write(ctx, c, tr)
	if err != nil {
		t.Fatal(err)
	}
	trail := &CloudTrail{S3: c, Ledger: f.e.Ledger, Account: tr.Account, Region: tr.Region, Prefix: "custody", Trail: config.Trail{Name: tr.Name, Bucket: tr.Bucket},
		Now: func() time.Time { return clock }, Keys: func(context.Context, time.Time, time.Time) ([]cloudtrail.PublicKey, error) { return w.Keys, nil }}

	ix := search.NewCollectIndex(f.e.Ledger, nil, search.CollectIndexOptions{})
	stored := 0
	for _, col := range []Collector{trail, f.col} {
		res, err := RunOne(ctx, f.e.Chain, col, IndexLogs(ix))
		if err != nil {
			t.Fatal(err)
		}
		stored += res.Artifacts
	}
	if err := ix.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if want := len(w.Digests) + len(w.Logs) + 1 + 3*4; stored != want {
		t.Fatalf("stored %d artifacts, want %d (digests, logs, public keys, access-log objects and log files)", stored, want)
	}
	terms := map[string][]string{}
	if err := f.e.Ledger.EachLogTerms(ctx, f.e.store.Bucket, func(key, _, _ string, t []string) { terms[key] = t }); err != nil {
		t.Fatal(err)
	}
	ctLogs, accessLogs := 0, 0
	for key, ts := range terms {
		switch {
		case strings.Contains(key, "_CloudTrail_"):
			ctLogs++
			if !containsTerm(ts, "e:getobject") {
				t.Errorf("terms of %s: %v", key, ts)
			}
		case strings.Contains(key, "/accesslogs/"):
			accessLogs++
		default:
			t.Errorf("%s indexed: neither a CloudTrail log nor an access log", key)
		}
	}
	if ctLogs != len(w.Logs) || accessLogs != len(objs) {
		t.Fatalf("indexed %d CloudTrail logs (want %d) and %d access logs (want %d)", ctLogs, len(w.Logs), accessLogs, len(objs))
	}
	if st := ix.Stats(); st.Indexed != int64(len(w.Logs)+len(objs)) || st.Dropped != 0 || st.Failed != 0 {
		t.Fatalf("index stats %+v", st)
	}
}

func containsTerm(ts []string, t string) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// intendingRun counts the intents a run is handed in advance.
type intendingRun struct {
	Run
	intents int
}

func (r *intendingRun) Intend(_ context.Context, in []custody.Intent) error {
	r.intents += len(in)
	return nil
}

// TestIndexingRunForwardsIntents: wrapping a run to index its logs keeps
// the access-log collector's batched intents (one ledger commit a batch);
// a run that records none is left to record each with its Put.
func TestIndexingRunForwardsIntents(t *testing.T) {
	inner := &intendingRun{}
	var r Run = indexingRun{Run: inner}
	in, ok := r.(intender)
	if !ok {
		t.Fatal("an indexing run does not take intents in advance")
	}
	if err := in.Intend(context.Background(), make([]custody.Intent, 3)); err != nil || inner.intents != 3 {
		t.Fatalf("forwarded %d intents (%v), want 3", inner.intents, err)
	}
	if err := (indexingRun{Run: struct{ Run }{}}).Intend(context.Background(), make([]custody.Intent, 2)); err != nil {
		t.Fatalf("a run without intents in advance: %v", err)
	}
}
