package collector

import (
	"context"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/custody"
)

// CloudTrailCheck re-validates the preserved CloudTrail evidence during
// custody verify: the digests, log files and key lists sealed in the
// selected manifests, with the keys preserved beside them, so no AWS call
// is needed years later (cloudtrail.CheckPreserved).
type CloudTrailCheck struct{}

var _ custody.EvidenceCheck = CloudTrailCheck{}

// Name names the check.
func (CloudTrailCheck) Name() string { return "cloudtrail" }

// Check validates every trail found among the manifests' subjects.
func (CloudTrailCheck) Check(ctx context.Context, ev custody.EvidenceReader, ms []custody.ManifestRecord) custody.Findings {
	var as []cloudtrail.Artifact
	for _, m := range ms {
		for _, s := range m.Subjects() {
			a := s.Annotations
			as = append(as, cloudtrail.Artifact{Name: s.Name, VersionID: a.VersionID, Kind: a.Kind, Source: a.Source, Metadata: a.Metadata})
		}
	}
	return cloudtrail.CheckPreserved(ctx, ev.Open, as)
}
