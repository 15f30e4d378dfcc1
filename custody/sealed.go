package custody

import (
	"context"
	"sync"
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
// verified seals, with the findings of those checks. It is what a reader
// of the evidence without a ledger trusts: an artifact in no verified
// manifest is not evidence.
func (v *Verifier) Sealed(ctx context.Context) ([]SealedArtifact, Findings, error) {
	chains, fs, err := v.verifiedChains(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []SealedArtifact
	for _, chain := range chains {
		for _, m := range chain {
			for _, s := range m.statement.Subject {
				a := s.Annotations
				out = append(out, SealedArtifact{Key: s.Name, VersionID: a.VersionID, SHA256: s.Digest["sha256"], Size: a.Size, Kind: a.Kind, Source: a.Source,
					Account: m.Where.Account, Region: m.Where.Region, Stream: m.Stream, Sequence: m.Sequence, SealedAt: m.SealedAt})
			}
		}
	}
	return out, fs, nil
}

// chainsOnce holds what verifiedChains found.
type chainsOnce struct {
	mu     sync.Mutex
	done   bool
	chains map[string][]*ManifestRecord
	fs     Findings
}

// verifiedChains checks the store's manifests, their chains and logs,
// reading ahead, and returns the manifests of each chain that verified,
// with the findings. A Verifier does it once, whoever asks first (Sealed,
// Events: custody timeline asks for both); a check cut short (ctx) is
// not kept. Make another Verifier to verify again.
func (v *Verifier) verifiedChains(ctx context.Context) (map[string][]*ManifestRecord, Findings, error) {
	c := &v.chains
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return c.chains, c.fs, nil
	}
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
	chains := v.checkChains(ctx, idx, r)
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	c.chains, c.fs, c.done = chains, r.Findings, true
	return chains, r.Findings, nil
}

// SealedEvent is a custody event (anything but a collection run or a
// reseal) that a verified manifest records: a freeze, a containment, a
// recovery, an export.
type SealedEvent struct {
	Event       string            `json:"event"`
	Case        string            `json:"case,omitempty"`
	Description string            `json:"description,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Principal   string            `json:"principal,omitempty"` // who sealed it (STS caller)
	Operator    string            `json:"operator,omitempty"`
	Stream      string            `json:"stream"`
	Sequence    int64             `json:"sequence"`
	Manifest    string            `json:"manifest"`
	SealedAt    time.Time         `json:"sealedAt"`
}

// Events checks the store's manifests as Sealed does and returns the
// custody events of those that verified, with the findings of the
// checks: an event in a manifest that does not verify is not reported.
func (v *Verifier) Events(ctx context.Context) ([]SealedEvent, Findings, error) {
	chains, fs, err := v.verifiedChains(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []SealedEvent
	for _, chain := range chains {
		for _, m := range chain {
			p := m.statement.Predicate
			if p.Event == EventCollect || p.Event == EventReseal || p.Event == "" {
				continue
			}
			out = append(out, SealedEvent{Event: p.Event, Case: p.Case, Description: p.What.Description, Details: p.Details,
				Principal: p.Who.Principal, Operator: p.Who.Operator, Stream: m.Stream, Sequence: m.Sequence, Manifest: m.Key, SealedAt: m.SealedAt})
		}
	}
	return out, fs, nil
}
