package recovery

// RECOVER_BENCH=20000 go test -run '^$' -bench Recover -benchtime 1x -timeout 60m ./recover/
// (default 4,000 affected keys). Two identical buckets: the bare loop
// restores one, recover the other, with the same concurrency.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

const benchConcurrency = 32

func BenchmarkRecover(b *testing.B) {
	n := 4000
	if s := os.Getenv("RECOVER_BENCH"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	c := testaws.Require(b).S3(b)
	buckets := []string{testaws.CreateBucket(b, c, testaws.BucketOptions{Versioning: true}), testaws.CreateBucket(b, c, testaws.BucketOptions{Versioning: true})}
	run := func(f func(bucket string, i int) error) {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(benchConcurrency)
		for _, bk := range buckets {
			for i := 0; i < n; i++ {
				g.Go(func() error { _ = gctx; return f(bk, i) })
			}
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	key := func(i int) string { return fmt.Sprintf("data/%06d.json", i) }
	run(func(bk string, i int) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String(key(i)), Body: strings.NewReader(`{"good":true}`)})
		return err
	})
	target := testaws.Cut()
	// Half the keys overwritten, half deleted.
	run(func(bk string, i int) error {
		var err error
		if i%2 == 0 {
			_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String(key(i)), Body: strings.NewReader("ENCRYPTED")})
		} else {
			_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bk), Key: aws.String(key(i))})
		}
		return err
	})

	b.Run("baseline-bare-loop", func(b *testing.B) {
		plan, err := MakePlan(ctx, c, buckets[0], target, PlanOptions{})
		if err != nil || len(plan.Actions) != n {
			b.Fatalf("plan: %d actions, %v", len(plan.Actions), err)
		}
		b.ResetTimer()
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(benchConcurrency)
		for _, a := range plan.Actions {
			g.Go(func() error {
				if a.Kind == RemoveMarkers {
					_, err := c.DeleteObject(gctx, &s3.DeleteObjectInput{Bucket: aws.String(buckets[0]), Key: aws.String(a.Key), VersionId: aws.String(a.Markers[0])})
					return err
				}
				// recover reads the version first (storage class, SSE-KMS
				// key, checksum, Object Lock) to keep them on the copy.
				// The same calls recover makes, with the same parameters.
				h, err := c.HeadObject(gctx, &s3.HeadObjectInput{Bucket: aws.String(buckets[0]), Key: aws.String(a.Key), VersionId: aws.String(a.VersionID),
					ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					return err
				}
				_, err = c.CopyObject(gctx, &s3.CopyObjectInput{Bucket: aws.String(buckets[0]), Key: aws.String(a.Key),
					CopySource:        aws.String(buckets[0] + "/" + a.Key + "?versionId=" + a.VersionID),
					MetadataDirective: types.MetadataDirectiveCopy, TaggingDirective: types.TaggingDirectiveCopy,
					StorageClass: types.StorageClass(h.StorageClass), ChecksumAlgorithm: checksumAlgorithm(h)})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("recover-plan-apply-verify", func(b *testing.B) {
		l, err := ledger.Open(ctx, filepath.Join(b.TempDir(), "journal.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		b.ResetTimer()
		start := time.Now()
		plan, err := MakePlan(ctx, c, buckets[1], target, PlanOptions{})
		if err != nil || len(plan.Actions) != n {
			b.Fatalf("plan: %d actions, %v", len(plan.Actions), err)
		}
		planned := time.Since(start)
		ap := &Applier{API: c, Ledger: l, Concurrency: benchConcurrency}
		sum, err := ap.Start(ctx, "bench", plan)
		if err != nil || len(sum.Failed) != 0 || len(sum.Mismatched) != 0 {
			b.Fatalf("summary %+v, %v", sum, err)
		}
		total := time.Since(start)
		vstart := time.Now()
		if bad, err := StateAt(ctx, c, plan); err != nil || len(bad) != 0 {
			b.Fatalf("state: %v %v", bad, err)
		}
		b.ReportMetric(planned.Seconds(), "plan-s")
		b.ReportMetric(time.Since(vstart).Seconds(), "verify-s")
		b.ReportMetric((total - planned - time.Since(vstart)).Seconds(), "apply-s")
	})
}
