package collector

// VERSIONS_BENCH=200000 go test -run '^$' -bench Versions -benchtime 1x -timeout 60m ./collector/
// (default 20,000 versions)

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

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
