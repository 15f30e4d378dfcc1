package collector

// DETECTORS_BENCH=5000 go test -run '^$' -bench Detectors -benchtime 1x ./collector/
// (default 1,000 and 5,000 GuardDuty findings on the stand-in)

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gdtypes "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

// discardRun reads each artifact to its end and keeps nothing: what the
// collector costs apart from the store.
type discardRun struct{}

func (discardRun) RunID() string { return "20261129T000000Z-bench" }
func (discardRun) Put(_ context.Context, key string, body io.Reader, _ custody.PutOptions) (custody.Artifact, error) {
	n, err := io.Copy(io.Discard, body)
	return custody.Artifact{Key: key, Size: n}, err
}

// BenchmarkDetectorsGuardDuty reads N GuardDuty findings from the
// stand-in twice in the same run: a bare ListFindings and GetFindings loop
// (the baseline), and the collector streaming them into its gzip NDJSON
// artifact. It reports the collector's time as a ratio of the baseline's
// and its peak heap, which stays flat as N grows.
func BenchmarkDetectorsGuardDuty(b *testing.B) {
	sizes := []int{1000, 5000}
	if s := os.Getenv("DETECTORS_BENCH"); s != "" {
		n, _ := strconv.Atoi(s)
		sizes = []int{n}
	}
	ctx := context.Background()
	le := testaws.Require(b)
	for _, n := range sizes {
		b.Run(fmt.Sprintf("findings=%d", n), func(b *testing.B) {
			acct := randomAccount(b)
			ac := accountConfig(b, le, acct)
			gd := guardduty.NewFromConfig(ac.AWS)
			det, err := gd.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
			if err != nil {
				b.Fatal(err)
			}
			base := time.Now().Add(-time.Hour)
			for i := 0; i < n; i += 500 {
				var batch []map[string]any
				for j := i; j < min(i+500, n); j++ {
					f := gdFinding(fmt.Sprintf("f%06d", j), base.Add(time.Duration(j)*time.Millisecond), 5, "bench-bucket")
					f["description"] = fmt.Sprintf("%0512d", j) // a finding's usual size, about 1 KiB
					batch = append(batch, f)
				}
				putGuardDutyFindings(b, le.Endpoint, acct, "us-east-1", aws.ToString(det.DetectorId), batch)
			}
			l, err := ledger.Open(ctx, filepath.Join(b.TempDir(), "ledger.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var bare, collected time.Duration
			var peak uint64
			for b.Loop() {
				start := time.Now()
				got := 0
				// The same calls as the collector's (criteria, order, pages),
				// without encoding or storing anything.
				in := &guardduty.ListFindingsInput{DetectorId: det.DetectorId, MaxResults: aws.Int32(50),
					FindingCriteria: &gdtypes.FindingCriteria{Criterion: map[string]gdtypes.Condition{"accountId": {Equals: []string{acct}}}},
					SortCriteria:    &gdtypes.SortCriteria{AttributeName: aws.String("updatedAt"), OrderBy: gdtypes.OrderByAsc}}
				for {
					page, err := gd.ListFindings(ctx, in)
					if err != nil {
						b.Fatal(err)
					}
					if len(page.FindingIds) > 0 {
						fs, err := gd.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: det.DetectorId, FindingIds: page.FindingIds})
						if err != nil {
							b.Fatal(err)
						}
						got += len(fs.Findings)
					}
					if aws.ToString(page.NextToken) == "" {
						break
					}
					in.NextToken = page.NextToken
				}
				bare += time.Since(start)
				if got != n {
					b.Fatalf("the bare loop read %d findings, want %d", got, n)
				}
				col := &Detectors{SecurityHub: securityhub.NewFromConfig(ac.AWS), GuardDuty: gd, Ledger: l, Account: acct, Region: "us-east-1",
					Buckets: []string{"bench-bucket"}, Prefix: "custody", Now: time.Now}
				stop := testaws.PeakHeap()
				start = time.Now()
				_, err := col.Collect(ctx, discardRun{})
				collected += time.Since(start)
				if p := stop(); p > peak {
					peak = p
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(collected)/float64(bare), "collector/bare")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(n)*float64(b.N)/collected.Seconds(), "findings/s")
		})
	}
}
