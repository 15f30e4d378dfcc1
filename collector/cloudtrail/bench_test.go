package cloudtrail_test

// go test -run '^$' -bench ValidateYear -benchtime 1x ./collector/cloudtrail/
// (CT_BENCH_HOURS=720 for a month instead of a year)

import (
	"context"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/internal/testaws"
)

func BenchmarkValidateYear(b *testing.B) {
	hours := 8760
	if s := os.Getenv("CT_BENCH_HOURS"); s != "" {
		hours, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	c := testaws.Require(b).S3(b)
	tr := cttest.Trail{Bucket: testaws.CreateBucket(b, c, testaws.BucketOptions{}), Account: "123456789012", Region: "us-east-1",
		Name: "main", Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Hours: hours, LogsPerHour: 3, RotateAt: hours / 2, Concurrency: 32}
	start := time.Now()
	w, err := cttest.Write(ctx, c, tr)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d digests and %d log files in %s", len(w.Digests), len(w.Logs), time.Since(start).Round(time.Second))
	opts := cloudtrail.Options{Bucket: tr.Bucket, Account: tr.Account, Region: tr.Region, Trail: tr.Name, Start: tr.Start,
		End: tr.Start.Add(time.Duration(hours) * time.Hour), Keys: w.Keys, Concurrency: 32, Now: time.Now}

	b.Run("baseline-get-all", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(32)
			for _, k := range append(append([]string(nil), w.Digests...), w.Logs...) {
				g.Go(func() error {
					out, err := c.GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(tr.Bucket), Key: aws.String(k)})
					if err != nil {
						return err
					}
					_, err = io.Copy(io.Discard, out.Body)
					out.Body.Close()
					return err
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validate", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r, err := cloudtrail.Validate(ctx, cloudtrail.BucketSource{API: c, Bucket: tr.Bucket}, opts)
			if err != nil {
				b.Fatal(err)
			}
			if !r.OK || r.Checked.Digests != hours || r.Checked.LogFiles != 3*hours {
				b.Fatalf("validate: %+v, %d findings", r.Checked, len(r.Findings))
			}
		}
	})
}
