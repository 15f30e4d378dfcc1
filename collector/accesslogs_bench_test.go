package collector

// ACCESSLOGS_BENCH=50000 go test -run '^$' -bench AccessLogs -benchtime 1x -v -timeout 60m ./collector/
// (default 5,000 log objects). A bare parallel GET+PUT loop and the
// collector copy the same objects, 32 at a time, in alternating rounds
// (ACCESSLOGS_ROUNDS, default 3); the best round of each is compared.
// ACCESSLOGS_LOCKED=1 adds the bare loop with the evidence store's PUT;
// ACCESSLOGS_CONCURRENCY sets the collector's; ACCESSLOGS_BARE=0 skips
// the bare loop.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/collector/accesslog/altest"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

func BenchmarkAccessLogs(b *testing.B) {
	n := 5000
	if s := os.Getenv("ACCESSLOGS_BENCH"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	c := testaws.Require(b).S3(b)
	source, target := testaws.CreateBucket(b, c, testaws.BucketOptions{}), testaws.CreateBucket(b, c, testaws.BucketOptions{})
	start := time.Now()
	objs, err := altest.Write(ctx, c, altest.Delivery{TargetBucket: target, TargetPrefix: "logs/", Source: source, Account: "123456789012", Region: "us-east-1",
		Start: time.Now().UTC().Add(-time.Duration(n) * time.Second), Every: time.Second, Objects: n, RecordsPerObject: 4, Seed: 1}, 32)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d log objects of %d bytes in %s", len(objs), len(objs[0].Body()), time.Since(start).Round(time.Second))
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}

	// The bare loop: list, then GET and PUT each object, 32 at a time,
	// into an Object Lock bucket like the evidence store.
	dest := testaws.CreateBucket(b, c, testaws.BucketOptions{ObjectLock: true, Days: 1})
	var getPut func(round int, asStore bool) time.Duration
	bare := func(round int) time.Duration { return getPut(round, false) }
	// With ACCESSLOGS_LOCKED=1, the same loop with each PUT as the
	// evidence store makes it (SHA-256 checksum, retention, If-None-Match)
	// runs too: what the store's own PUT costs S3.
	locked := func(round int) time.Duration { return getPut(round, true) }
	getPut = func(round int, asStore bool) time.Duration {
		t0 := time.Now()
		listed := 0
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(32)
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(target), Prefix: aws.String("logs/")})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for _, o := range page.Contents {
				listed++
				g.Go(func() error {
					out, err := c.GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(target), Key: o.Key})
					if err != nil {
						return err
					}
					body, err := io.ReadAll(out.Body)
					out.Body.Close()
					if err != nil {
						return err
					}
					in := &s3.PutObjectInput{Bucket: aws.String(dest), Key: aws.String(fmt.Sprintf("%d-%v/%s", round, asStore, *o.Key)), Body: bytes.NewReader(body)}
					if asStore {
						sum := sha256.Sum256(body)
						in.ChecksumSHA256, in.IfNoneMatch = aws.String(base64.StdEncoding.EncodeToString(sum[:])), aws.String("*")
						in.ObjectLockMode, in.ObjectLockRetainUntilDate = s3types.ObjectLockModeCompliance, aws.Time(time.Now().Add(25*time.Hour))
					}
					_, err = c.PutObject(gctx, in)
					return err
				})
			}
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		if listed != n {
			b.Fatalf("listed %d, want %d", listed, n)
		}
		return time.Since(t0)
	}
	// The collector, into a fresh evidence store and ledger: every object
	// is new to it.
	var peak uint64
	collect := func() time.Duration {
		env := newBenchEnv(b)
		col := &AccessLogs{API: c, Ledger: env.Ledger, Account: "123456789012", Region: "us-east-1", Buckets: []string{source},
			Targets: []config.AccessLogTarget{{Bucket: source, TargetBucket: target, TargetPrefix: "logs/"}}, Prefix: "custody", Now: time.Now}
		col.Concurrency, _ = strconv.Atoi(os.Getenv("ACCESSLOGS_CONCURRENCY")) // 0: the collector's default
		runtime.GC()
		stopHeap := testaws.PeakHeap()
		// A run copies at most DefaultMaxObjects: as many runs as it
		// takes, each sealed, as the agent's schedule would run them.
		t0 := time.Now()
		total, runs := 0, 0
		for total < n {
			timed := &timedCollector{Collector: col}
			res, err := RunOne(ctx, env.Chain, timed)
			if p := stopHeap(); p > peak {
				peak = p
			}
			stopHeap = testaws.PeakHeap()
			if err != nil {
				b.Fatal(err)
			}
			if res.Artifacts <= 1 {
				b.Fatalf("a run stored %d artifacts with %d of %d copied", res.Artifacts, total, n)
			}
			total += res.Artifacts
			runs++
		}
		d := time.Since(t0)
		if p := stopHeap(); p > peak {
			peak = p
		}
		if total != n {
			b.Fatalf("stored %d, want %d", total, n)
		}
		b.Logf("custody: %d run(s), %s", runs, d.Round(time.Millisecond))
		return d
	}
	// The machine is shared: the two alternate, and the best round of each
	// is compared (the least disturbed by anything else running).
	rounds := 3
	if s := os.Getenv("ACCESSLOGS_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	b.ResetTimer()
	var bestBare, bestCustody time.Duration
	for i := 0; i < b.N*rounds; i++ {
		var d1 time.Duration
		if os.Getenv("ACCESSLOGS_BARE") != "0" {
			d1 = bare(i)
		}
		d2 := collect()
		if os.Getenv("ACCESSLOGS_LOCKED") == "1" {
			d3 := locked(i)
			b.Logf("round %d: bare loop with the store's PUT %s", i, d3.Round(time.Millisecond))
		}
		b.Logf("round %d: bare %s, custody %s", i, d1.Round(time.Millisecond), d2.Round(time.Millisecond))
		if bestBare == 0 || d1 < bestBare {
			bestBare = d1
		}
		if bestCustody == 0 || d2 < bestCustody {
			bestCustody = d2
		}
	}
	b.ReportMetric(bestBare.Seconds(), "bare-s")
	b.ReportMetric(bestCustody.Seconds(), "custody-s")
	b.ReportMetric(100*bestBare.Seconds()/bestCustody.Seconds(), "%-of-bare-speed")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.Logf("%d objects: best bare loop %s, best custody %s (%.0f%% of the bare loop's speed), peak heap %.1f MiB",
		n, bestBare.Round(time.Millisecond), bestCustody.Round(time.Millisecond), 100*bestBare.Seconds()/bestCustody.Seconds(), float64(peak)/(1<<20))
}

// timedCollector times the collection alone (RunOne then seals).
type timedCollector struct {
	Collector
	took time.Duration
	heap uint64 // peak heap while collecting
}

func (c *timedCollector) Collect(ctx context.Context, run Run) (Outcome, error) {
	t0 := time.Now()
	stop := testaws.PeakHeap()
	out, err := c.Collector.Collect(ctx, run)
	c.heap = stop()
	c.took = time.Since(t0)
	return out, err
}
