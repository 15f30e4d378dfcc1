package collector

// VERSIONS_BENCH=200000 go test -run '^$' -bench Versions -benchtime 1x -timeout 60m ./collector/
// (default 20,000 versions)
//
// go test -run '^$' -bench CloudTrailBackfill -benchtime 3x -timeout 60m ./collector/
// (default 2,160 hourly digests, 90 days, with CT_BACKFILL_LOGS=3 log files each;
// CT_BACKFILL_HOURS=N for another window)

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

func BenchmarkVersions(b *testing.B) {
	n := 20000
	if s := os.Getenv("VERSIONS_BENCH"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	c := testaws.Require(b).S3(b)
	src := testaws.CreateBucket(b, c, testaws.BucketOptions{Versioning: true})
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := 0; i < n; i++ {
		g.Go(func() error {
			key := fmt.Sprintf("data/%06d.json", i/2) // two versions a key
			if i%10 == 9 {
				_, err := c.DeleteObject(gctx, &s3.DeleteObjectInput{Bucket: aws.String(src), Key: aws.String(key)})
				return err
			}
			_, err := c.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(key), Body: strings.NewReader("{}")})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	// Concurrent writes to one key may leave fewer entries than
	// operations (a marker on a key not yet written); count what is there.
	total := 0
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(src)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		total += len(page.Versions) + len(page.DeleteMarkers)
	}
	b.Logf("populated %d versions and markers in %s", total, time.Since(start).Round(time.Second))

	b.Run("baseline-list-pagination", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			count := 0
			p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(src)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					b.Fatal(err)
				}
				count += len(page.Versions) + len(page.DeleteMarkers)
			}
			if count != total {
				b.Fatalf("listed %d, want %d", count, total)
			}
		}
	})
	b.Run("custody-versions-collector", func(b *testing.B) {
		env := newBenchEnv(b)
		runtime.GC()
		stopHeap := testaws.PeakHeap()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			v := &Versions{API: c, Bucket: src, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now}
			if _, err := RunOne(ctx, env.Chain, v); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(stopHeap())/(1<<20), "peak-heap-MiB")
	})
}

// BenchmarkCloudTrailBackfill backfills a trail's window (90 days of one
// region by default: 2,160 digests and their log files) with the
// CloudTrail collector, beside a bare parallel GET+PUT loop over the same
// objects into the same evidence bucket, at the same concurrency. Each
// collector iteration starts from a new ledger, so it copies everything.
func BenchmarkCloudTrailBackfill(b *testing.B) {
	hours, logs := 2160, 3
	if s := os.Getenv("CT_BACKFILL_HOURS"); s != "" {
		hours, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("CT_BACKFILL_LOGS"); s != "" {
		logs, _ = strconv.Atoi(s)
	}
	const concurrency = 16
	ctx := context.Background()
	c := testaws.Require(b).S3(b)
	clock := time.Now().UTC().Truncate(time.Hour)
	tr := cttest.Trail{Bucket: testaws.CreateBucket(b, c, testaws.BucketOptions{}), Account: "123456789012", Region: "us-east-1",
		Name: "main", Start: clock.Add(-time.Duration(hours+1) * time.Hour), Hours: hours, LogsPerHour: logs, RotateAt: hours / 2, Concurrency: 32}
	start := time.Now()
	w, err := cttest.Write(ctx, c, tr)
	if err != nil {
		b.Fatal(err)
	}
	objects := append(append([]string(nil), w.Digests...), w.Logs...)
	b.Logf("generated %d digests and %d log files in %s", len(w.Digests), len(w.Logs), time.Since(start).Round(time.Second))

	baseline := func(b *testing.B, env *testEnv, i int) {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(concurrency)
		for _, k := range objects {
			g.Go(func() error {
				out, err := c.GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(tr.Bucket), Key: aws.String(k)})
				if err != nil {
					return err
				}
				body, err := io.ReadAll(out.Body)
				out.Body.Close()
				if err != nil {
					return err
				}
				_, err = c.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(env.store.Bucket), Key: aws.String(fmt.Sprintf("baseline/%d/%s", i, k)),
					Body: bytes.NewReader(body), Metadata: out.Metadata})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	backfill := func(b *testing.B, env *testEnv) {
		col := &CloudTrail{S3: c, Ledger: env.Ledger, Account: tr.Account, Region: tr.Region, Prefix: "custody", Concurrency: concurrency,
			Trail: config.Trail{Name: tr.Name, Bucket: tr.Bucket}, Now: func() time.Time { return clock },
			Keys: func(context.Context, time.Time, time.Time) ([]cloudtrail.PublicKey, error) { return w.Keys, nil }}
		res, err := RunOne(ctx, env.Chain, col)
		if err != nil {
			b.Fatal(err)
		}
		if res.Artifacts != len(objects)+1 {
			b.Fatalf("stored %d artifacts, want %d", res.Artifacts, len(objects)+1)
		}
		for _, f := range res.Found {
			if f.Severity == "failure" {
				b.Fatalf("backfill: %v", f)
			}
		}
	}
	// Side by side: each iteration runs the bare loop and the backfill,
	// in alternating order, so that both see the same load; the ratio is
	// the backfill's throughput over the bare loop's.
	b.Run("side-by-side", func(b *testing.B) {
		var bare, custody time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			env := newBenchEnv(b)
			b.StartTimer()
			for j := 0; j < 2; j++ {
				start := time.Now()
				if (i+j)%2 == 0 {
					baseline(b, env, i)
					bare += time.Since(start)
				} else {
					backfill(b, env)
					custody += time.Since(start)
				}
			}
		}
		b.ReportMetric(float64(len(objects)*b.N)/bare.Seconds(), "bare-objects/s")
		b.ReportMetric(float64(len(objects)*b.N)/custody.Seconds(), "custody-objects/s")
		b.ReportMetric(bare.Seconds()/custody.Seconds(), "custody/bare")
	})
}
