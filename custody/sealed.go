package custody

import (
	"context"
	"time"
)

// SealedArtifact is an artifact a verified manifest seals: what readers of
// the evidence (custody search) may trust, once its bytes hash to SHA256.
type SealedArtifact struct {
	Key, VersionID, SHA256 string
	Size                   int64
	Kind, Source           string
	Account, Region        string
	// Stream and Sequence name the manifest that seals it.
	Stream   string
	Sequence int64
	SealedAt time.Time
}

// Sealed checks the store's manifests, their chains and logs (not the
// artifacts they seal) and returns every artifact that a manifest which
// verified seals, with the findings of those checks. It is what a reader of the evidence without a ledger
// trusts: an artifact in no verified manifest is not evidence.
func (v *Verifier) Sealed(ctx context.Context) ([]SealedArtifact, Findings, error) {
	r := &Report{Findings: Findings{}}
	idx, err := v.index(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !v.src.Offline() {
		orig := v.src
		v.src = newPrefetchSource(orig, 16)
		defer func() { v.src = orig }()
	}
	var out []SealedArtifact
	for _, chain := range v.checkChains(ctx, idx, r) {
		for _, m := range chain {
			for _, s := range m.statement.Subject {
				a := s.Annotations
				out = append(out, SealedArtifact{Key: s.Name, VersionID: a.VersionID, SHA256: s.Digest["sha256"], Size: a.Size, Kind: a.Kind, Source: a.Source,
					Account: m.Where.Account, Region: m.Where.Region, Stream: m.Stream, Sequence: m.Sequence, SealedAt: m.SealedAt})
			}
		}
	}
	return out, r.Findings, ctx.Err()
}
