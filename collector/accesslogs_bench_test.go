package collector

// ACCESSLOGS_BENCH=50000 go test -run '^$' -bench AccessLogs -benchtime 1x -timeout 60m ./collector/
// (default 5,000 log objects). Both sub-benchmarks copy the same objects,
// 32 at a time; compare their ns/op (the custody one reports the ratio).

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

	var baseline, collected time.Duration
	b.Run("baseline-get-put", func(b *testing.B) {
		dest := testaws.CreateBucket(b, c, testaws.BucketOptions{ObjectLock: true, Days: 1})
		b.ResetTimer()
		t0 := time.Now()
		for i := 0; i < b.N; i++ {
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
						_, err = c.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(dest), Key: aws.String(fmt.Sprintf("%d/%s", i, *o.Key)), Body: bytesReader(body)})
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
		}
		baseline = time.Since(t0) / time.Duration(b.N)
	})
	// The same loop, each PUT as the evidence store makes it (SHA-256
	// checksum, retention, If-None-Match): what S3 itself costs more.
	b.Run("baseline-get-put-locked", func(b *testing.B) {
		dest := testaws.CreateBucket(b, c, testaws.BucketOptions{ObjectLock: true, Days: 1})
		for i := 0; i < b.N; i++ {
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(32)
			for _, k := range keys {
				g.Go(func() error {
					out, err := c.GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(target), Key: aws.String(k)})
					if err != nil {
						return err
					}
					body, err := io.ReadAll(out.Body)
					out.Body.Close()
					if err != nil {
						return err
					}
					sum := sha256.Sum256(body)
					_, err = c.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(dest), Key: aws.String(fmt.Sprintf("%d/%s", i, k)), Body: bytesReader(body),
						ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])), IfNoneMatch: aws.String("*"),
						ObjectLockMode: s3types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(25 * time.Hour))})
					return err
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("custody-accesslogs", func(b *testing.B) {
		var peak uint64
		t0 := time.Now()
		var setup time.Duration
		for i := 0; i < b.N; i++ {
			s0 := time.Now()
			env := newBenchEnv(b) // a fresh ledger and store: every object is new
			col := &AccessLogs{API: c, Ledger: env.Ledger, Account: "123456789012", Region: "us-east-1", Buckets: []string{source},
				Targets: []config.AccessLogTarget{{Bucket: source, TargetBucket: target, TargetPrefix: "logs/"}}, Prefix: "custody", Now: time.Now}
			runtime.GC()
			setup += time.Since(s0)
			stopHeap := testaws.PeakHeap()
			res, err := RunOne(ctx, env.Chain, col)
			if p := stopHeap(); p > peak {
				peak = p
			}
			if err != nil {
				b.Fatal(err)
			}
			if res.Artifacts != n {
				b.Fatalf("stored %d, want %d", res.Artifacts, n)
			}
		}
		collected = (time.Since(t0) - setup) / time.Duration(b.N)
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		if baseline > 0 {
			b.ReportMetric(float64(baseline)/float64(collected), "x-baseline-speed")
		}
		b.Logf("%d objects: baseline %s, custody %s (%.0f%% of the baseline's speed), peak heap %.1f MiB",
			n, baseline.Round(time.Millisecond), collected.Round(time.Millisecond), 100*float64(baseline)/float64(collected), float64(peak)/(1<<20))
	})
}

func bytesReader(b []byte) io.ReadSeeker { return bytes.NewReader(b) }
