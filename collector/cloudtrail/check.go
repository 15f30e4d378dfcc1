package cloudtrail

import (
	"context"

	"github.com/custody-ir/custody/custody"
)

// Check is custody verify's check of the preserved CloudTrail evidence.
//
// Deprecated: transitional, until cmd/custody uses collector.CloudTrailCheck;
// then this file goes, and package cloudtrail depends on custody/finding
// only.
type Check struct{}

var _ custody.EvidenceCheck = Check{}

// Name names the check.
func (Check) Name() string { return "cloudtrail" }

// Check validates every trail found among the manifests' subjects.
func (Check) Check(ctx context.Context, ev custody.EvidenceReader, ms []custody.ManifestRecord) custody.Findings {
	var as []Artifact
	for _, m := range ms {
		for _, s := range m.Subjects() {
			a := s.Annotations
			as = append(as, Artifact{Name: s.Name, VersionID: a.VersionID, Kind: a.Kind, Source: a.Source, Metadata: a.Metadata})
		}
	}
	return CheckPreserved(ctx, ev.Open, as)
}
