package contain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/search"
)

// KindState is the artifact kind of a sealed containment state.
const KindState = "contain-state"

// The records of a containment's custody events.
const (
	BeforeRecord = "before.json"
	AfterRecord  = "after.json"
)

// maxStateSize bounds a sealed state read back: a user with many keys
// is still a few kilobytes.
const maxStateSize = 1 << 20

// Source is what a containment's records are sealed as coming from: the
// access key, or (contain role) the role.
func Source(st *State) string {
	if st.AccessKey != "" {
		return "iam:access-key/" + st.AccessKey
	}
	return "iam:role/" + st.Principal
}

// Sealed is one containment state the evidence store holds.
type Sealed struct {
	Manifest string // "stream/sequence" of the manifest sealing it
	Name     string // BeforeRecord or AfterRecord
	Raw      []byte // as sealed
	State    State
}

// SealRequest is one custody event of a containment: its phase (before
// or after) and its records, each a state as JSON.
type SealRequest struct {
	Phase       string
	Description string
	Details     map[string]string
	Case        string
	Source      string
	Records     map[string][]byte // name: JSON
}

// Sealer seals containment events and reads back what was sealed.
type Sealer interface {
	// Seal records one custody event and returns its manifest,
	// "stream/sequence".
	Seal(ctx context.Context, r SealRequest) (string, error)
	// History returns every sealed state of source.
	History(ctx context.Context, source string) ([]Sealed, error)
}

// ChainSealer seals into the evidence store through the agent's chain
// and reads back through a catalog of sealed artifacts (the ledger, or
// the verified manifests), each read checked against its sealed SHA-256.
type ChainSealer struct {
	Chain   *custody.Chain
	Catalog search.Catalog
	Store   search.Opener
}

var _ Sealer = (*ChainSealer)(nil)

// Seal records the event as custody.EventContain, its records under the
// case's legal hold.
func (c *ChainSealer) Seal(ctx context.Context, r SealRequest) (string, error) {
	names := make([]string, 0, len(r.Records))
	for n := range r.Records {
		names = append(names, n)
	}
	sort.Strings(names) // after.json, before.json: stable
	var recs []custody.Record
	for _, n := range names {
		recs = append(recs, custody.Record{Name: n, Kind: KindState, Body: bytes.NewReader(r.Records[n]), ContentType: "application/json", Source: r.Source})
	}
	rec, err := c.Chain.Record(ctx, custody.Event{Type: custody.EventContain, Case: r.Case, Description: r.Description, Details: r.Details, Records: recs})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s/%d", rec.Stream, rec.Seq), nil
}

// History reads back every sealed state of source.
func (c *ChainSealer) History(ctx context.Context, source string) ([]Sealed, error) {
	return History(ctx, c.Catalog, c.Store, source)
}

// History reads back every sealed containment state of source, each
// checked against the SHA-256 its manifest sealed.
func History(ctx context.Context, cat search.Catalog, store search.Opener, source string) ([]Sealed, error) {
	files, err := cat.Files(ctx, KindState)
	if err != nil {
		return nil, err
	}
	var out []Sealed
	for _, f := range files {
		if f.Source != source {
			continue
		}
		raw, err := readSealed(ctx, store, f)
		if err != nil {
			return nil, err
		}
		s := Sealed{Manifest: f.Manifest, Name: path.Base(f.Key), Raw: raw}
		if err := json.Unmarshal(raw, &s.State); err != nil {
			return nil, fmt.Errorf("sealed containment state s3://%s/%s: %w", f.Bucket, f.Key, err)
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].State.ReadAt.Before(out[j].State.ReadAt) })
	return out, nil
}

// readSealed reads a sealed state back (custody.ReadRecord: the version,
// size and SHA-256 its manifest sealed).
func readSealed(ctx context.Context, store search.Opener, f search.File) ([]byte, error) {
	if f.Size > maxStateSize {
		return nil, fmt.Errorf("sealed containment state s3://%s/%s?versionId=%s: %d bytes, over %d", f.Bucket, f.Key, f.VersionID, f.Size, maxStateSize)
	}
	b, err := custody.ReadRecord(ctx, store, custody.Artifact{Bucket: f.Bucket, Key: f.Key, VersionID: f.VersionID, SHA256: f.SHA256, Size: f.Size})
	if err != nil {
		return nil, fmt.Errorf("sealed containment state of manifest %s: %w", f.Manifest, err)
	}
	return b, nil
}

// Pending is the newest before-state of the case that no after-state
// follows: a containment interrupted between sealing its before-state and
// sealing its after-state. Nil when there is none.
func Pending(hist []Sealed, caseID string) *Sealed {
	resolved, complete := map[string]bool{}, map[string]bool{}
	for _, h := range hist {
		if h.State.Phase == PhaseAfter {
			resolved[h.State.BeforeManifest] = true
			complete[h.Manifest] = true
		}
	}
	var best *Sealed
	for i := range hist {
		h := &hist[i]
		if h.State.Phase != PhaseBefore || h.State.Case != caseID || complete[h.Manifest] || resolved[h.Manifest] {
			continue
		}
		if best == nil || !h.State.ReadAt.Before(best.State.ReadAt) {
			best = h
		}
	}
	return best
}

// Containment is when a key or role was first found contained by a
// sealed containment, and the manifest that sealed it.
type Containment struct {
	At       time.Time `json:"at"`
	Manifest string    `json:"manifest"`
	Case     string    `json:"case"`
	Action   string    `json:"action"`
	// Principal is the user or role contained.
	Principal string `json:"principal"`
}

// First is the earliest sealed after-state that shows the containment in
// place: its change time, or, when that run found it in place already
// (a re-run), the time it read IAM. Nil when none.
func First(hist []Sealed) *Containment {
	var out *Containment
	for _, h := range hist {
		if h.State.Phase != PhaseAfter || !h.State.Contained {
			continue
		}
		at := h.State.ReadAt
		if h.State.ChangedAt != nil {
			at = *h.State.ChangedAt
		}
		if out == nil || at.Before(out.At) {
			out = &Containment{At: at, Manifest: h.Manifest, Case: h.State.Case, Action: h.State.Action, Principal: h.State.Principal}
		}
	}
	return out
}
