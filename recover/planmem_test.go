package recovery

// go test -run '^$' -bench PlanMillion -benchtime 1x ./recover/
//
// The planner's own memory over 1,000,000 versions: a generated listing
// (pages of 1,000 like S3's, made on the fly, so only the planner holds
// memory) with a tenth of the keys overwritten after T.

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/internal/testaws"
)

type generatedListing struct {
	keys   int
	target time.Time
}

func (g generatedListing) ListObjectVersions(_ context.Context, in *s3.ListObjectVersionsInput, _ ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	start := 0
	if in.KeyMarker != nil {
		if _, err := fmt.Sscanf(aws.ToString(in.KeyMarker), "k%09d", &start); err != nil {
			return nil, fmt.Errorf("key marker %q: %w", aws.ToString(in.KeyMarker), err)
		}
		start++
	}
	out := &s3.ListObjectVersionsOutput{}
	const perPage = 500 // two versions a key: 1,000 entries a page
	end := min(start+perPage, g.keys)
	for i := start; i < end; i++ {
		key := fmt.Sprintf("k%09d", i)
		old := g.target.Add(-time.Hour)
		if i%10 == 0 { // overwritten after T
			out.Versions = append(out.Versions,
				types.ObjectVersion{Key: aws.String(key), VersionId: aws.String(fmt.Sprintf("v%d-2", i)), IsLatest: aws.Bool(true), LastModified: aws.Time(g.target.Add(time.Hour)), ETag: aws.String(`"bad"`), Size: aws.Int64(3)},
				types.ObjectVersion{Key: aws.String(key), VersionId: aws.String(fmt.Sprintf("v%d-1", i)), IsLatest: aws.Bool(false), LastModified: aws.Time(old), ETag: aws.String(`"good"`), Size: aws.Int64(4)})
		} else {
			out.Versions = append(out.Versions,
				types.ObjectVersion{Key: aws.String(key), VersionId: aws.String(fmt.Sprintf("v%d-2", i)), IsLatest: aws.Bool(true), LastModified: aws.Time(old), ETag: aws.String(`"e"`), Size: aws.Int64(4)},
				types.ObjectVersion{Key: aws.String(key), VersionId: aws.String(fmt.Sprintf("v%d-1", i)), IsLatest: aws.Bool(false), LastModified: aws.Time(old.Add(-time.Hour)), ETag: aws.String(`"e0"`), Size: aws.Int64(4)})
		}
	}
	if end < g.keys {
		out.IsTruncated = aws.Bool(true)
		out.NextKeyMarker = aws.String(fmt.Sprintf("k%09d", end-1))
		out.NextVersionIdMarker = aws.String("x")
	}
	return out, nil
}

func BenchmarkPlanMillion(b *testing.B) {
	target := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	g := generatedListing{keys: 500_000, target: target}
	runtime.GC()
	stopHeap := testaws.PeakHeap()
	for i := 0; i < b.N; i++ {
		plan, err := MakePlan(context.Background(), g, "b", target, PlanOptions{})
		if err != nil || len(plan.Actions) != 50_000 || plan.Keys != 500_000 {
			b.Fatalf("plan: %d actions over %d keys, %v", len(plan.Actions), plan.Keys, err)
		}
	}
	b.ReportMetric(float64(stopHeap())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(1_000_000, "versions")
}
