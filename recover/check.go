package recovery

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/awsclient"
)

// checkResult lists the bucket again once a job has been applied and
// records in sum every key not at its target state, except those whose
// archived version is still being restored (pending).
func (ap *Applier) checkResult(ctx context.Context, plan *Plan, sum *Summary) error {
	bad, err := StateAt(ctx, ap.API, plan)
	if err != nil {
		return err
	}
	pending := map[string]bool{}
	for _, k := range sum.Pending {
		pending[k] = true
	}
	for _, k := range bad {
		if !pending[k] {
			sum.Mismatched = append(sum.Mismatched, k)
		}
	}
	return nil
}

// StateAt reports, from a fresh listing, whether the bucket now matches
// the plan's target: every restored key's current version has the ETag and
// size it had at target, and every hidden key is hidden. It returns the
// keys that do not.
func StateAt(ctx context.Context, api lister, plan *Plan) ([]string, error) {
	want := map[string]Action{}
	for _, a := range plan.Actions {
		if isChange(a.Kind) {
			want[a.Key] = a
		}
	}
	var bad []string
	seen := map[string]bool{}
	p := s3.NewListObjectVersionsPaginator(api, listInput(plan.Bucket, plan.Prefix))
	var marker [2]string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list versions of s3://%s: %w", plan.Bucket, err)
		}
		if err := awsclient.VersionsAdvance(&marker, page); err != nil {
			return nil, fmt.Errorf("list versions of s3://%s: %w", plan.Bucket, err)
		}
		for _, e := range pageEntries(page) {
			a, ok := want[e.key]
			if !ok || !e.latest || seen[e.key] {
				continue
			}
			seen[e.key] = true
			switch a.Kind {
			case HideNew:
				if !e.marker {
					bad = append(bad, e.key)
				}
			case RemoveMarkers:
				if e.marker || e.versionID != a.VersionID {
					bad = append(bad, e.key)
				}
			case CopyBack, ReplicaCopy:
				if a.Kind == ReplicaCopy && a.ETag == "" {
					continue
				}
				// A copy from or to a multipart upload gets a new ETag;
				// then the size has to do (the copy named its source by
				// version id, and S3 verified every part).
				etagOK := e.etag == a.ETag || strings.Contains(a.ETag, "-") || strings.Contains(e.etag, "-")
				if e.marker || !etagOK || e.size != a.Size {
					bad = append(bad, e.key)
				}
			}
		}
	}
	for k := range want {
		if !seen[k] {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return bad, nil
}
