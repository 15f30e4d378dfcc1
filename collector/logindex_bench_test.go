package collector

// go test -run '^$' -bench CloudTrailIndexed -benchtime 3x -timeout 60m ./collector/
// (default 720 hourly digests with CT_BACKFILL_LOGS=3 log files each;
// CT_BACKFILL_HOURS=N for another window)

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
	"github.com/custody-ir/custody/search"
)

// BenchmarkCloudTrailIndexed backfills the same trail with the CloudTrail
// collector with and without custody search's index at collection
// (IndexLogs), alternating, each from a new ledger: the ratio is the
// indexed collection's throughput over the plain one's (the run, until
// RunOne returns), and, separately, with the index's drain after it.
func BenchmarkCloudTrailIndexed(b *testing.B) {
	hours, logs := 720, 3
	if s := os.Getenv("CT_BACKFILL_HOURS"); s != "" {
		hours, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("CT_BACKFILL_LOGS"); s != "" {
		logs, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	c := testaws.Require(b).S3(b)
	clock := time.Now().UTC().Truncate(time.Hour)
	tr := cttest.Trail{Bucket: testaws.CreateBucket(b, c, testaws.BucketOptions{}), Account: "123456789012", Region: "us-east-1",
		Name: "main", Start: clock.Add(-time.Duration(hours+1) * time.Hour), Hours: hours, LogsPerHour: logs, Concurrency: 32}
	w, err := cttest.Write(ctx, c, tr)
	if err != nil {
		b.Fatal(err)
	}
	objects := len(w.Digests) + len(w.Logs)
	backfill := func(b *testing.B, indexed bool) (run, drain time.Duration) {
		env := newBenchEnv(b)
		col := &CloudTrail{S3: c, Ledger: env.Ledger, Account: tr.Account, Region: tr.Region, Prefix: "custody", Concurrency: 16,
			Trail: config.Trail{Name: tr.Name, Bucket: tr.Bucket}, Now: func() time.Time { return clock },
			Keys: func(context.Context, time.Time, time.Time) ([]cloudtrail.PublicKey, error) { return w.Keys, nil }}
		var opts []RunOption
		var ix *search.CollectIndex
		if indexed {
			ix = search.NewCollectIndex(env.Ledger, nil, search.CollectIndexOptions{})
			opts = append(opts, IndexLogs(ix))
		}
		start := time.Now()
		res, err := RunOne(ctx, env.Chain, col, opts...)
		run = time.Since(start)
		if err != nil || res.Artifacts != objects+1 {
			b.Fatalf("backfill: %d artifacts (want %d), %v", res.Artifacts, objects+1, err)
		}
		if ix != nil {
			if err := ix.Close(ctx); err != nil {
				b.Fatal(err)
			}
			drain = time.Since(start) - run
			if st := ix.Stats(); st.Indexed+st.Dropped != int64(len(w.Logs)) {
				b.Fatalf("index stats %+v, %d log files", st, len(w.Logs))
			}
			b.Logf("indexed: run %.1fs, then %.1fs to drain; %+v", run.Seconds(), drain.Seconds(), ix.Stats())
		} else {
			b.Logf("plain:   run %.1fs", run.Seconds())
		}
		return run, drain
	}
	var plain, indexed, drained time.Duration
	for i := 0; b.Loop(); i++ {
		for j := 0; j < 2; j++ {
			if (i+j)%2 == 0 {
				d, _ := backfill(b, false)
				plain += d
			} else {
				d, dr := backfill(b, true)
				indexed += d
				drained += dr
			}
		}
	}
	b.ReportMetric(plain.Seconds()/indexed.Seconds(), "indexed/plain")
	b.ReportMetric(plain.Seconds()/(indexed+drained).Seconds(), "indexed+drain/plain")
}
