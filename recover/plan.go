package recovery

import (
	"context"
	"time"

	"github.com/custody-ir/custody/internal/ledger"
)

// ActionKind is what recover does to one key. It is the kind the journal
// stores (ledger.ActionKind), so a journalled job reads back as planned;
// the strings are the plan's JSON and must not change.
type ActionKind = ledger.ActionKind

// Action kinds, what recover does to one key: one per row of the rule
// table in docs/recover.md (rules.go decides which).
const (
	RemoveMarkers ActionKind = "remove-markers" // delete the markers placed after T: the version current at T shows again, untouched
	CopyBack      ActionKind = "copy"           // server-side copy of the version current at T onto the key
	HideNew       ActionKind = "hide-new"       // a key created after T, hidden behind a delete marker (--remove-new)
	ReportNew     ActionKind = "new-key"        // a key created after T, reported only
	ReplicaCopy   ActionKind = "replica-copy"   // a version permanently deleted at the source, copied back from the replica
	Unrecoverable ActionKind = "unrecoverable"  // the preserved list shows a version that neither the bucket nor the replica has
)

// Action is one planned change, with what it restores.
type Action struct {
	Kind      ActionKind `json:"kind"`
	Key       string     `json:"key"`
	VersionID string     `json:"versionId,omitempty"` // the version current at T
	ETag      string     `json:"etag,omitempty"`
	Size      int64      `json:"size"`
	Markers   []string   `json:"markers,omitempty"` // delete markers to remove
	At        time.Time  `json:"lastModified,omitzero"`
	Source    string     `json:"source"`             // where the facts come from: "live listing", the replica, the preserved list
	Evidence  string     `json:"evidence,omitempty"` // what the preserved version list (or, with --actor, the events) says of this key
	// Events are the writes (recover --actor) that justify the action, each
	// with its event id and the sealed object it was read from.
	Events []Write `json:"events,omitempty"`
	// Writers are a conflict's writers: the actor, and who wrote after.
	Writers []string `json:"writers,omitempty"`
	// IfCurrent is the version the action expects current when it runs
	// (recover --actor): a key written since the plan is not touched.
	IfCurrent string `json:"ifCurrent,omitempty"`
}

// Plan is what recover will do.
type Plan struct {
	Bucket string    `json:"bucket"`
	Prefix string    `json:"prefix,omitempty"`
	Target time.Time `json:"target"`
	// Actor is who recover --actor undoes (empty for a recovery to T).
	Actor     string   `json:"actor,omitempty"`
	Actions   []Action `json:"actions"`
	Unchanged int      `json:"unchanged"`
	Keys      int      `json:"keys"`
	// Oldest is the time of the oldest version or delete marker listed
	// in the bucket (under Prefix): CheckTarget compares it with Target.
	Oldest time.Time `json:"oldest,omitzero"`
}

// isChange reports whether an action of kind changes the bucket: the
// others (new-key, unrecoverable) are reported only.
func isChange(kind ActionKind) bool {
	return kind != ReportNew && kind != Unrecoverable && kind != Conflict && kind != Uncovered
}

// IsChange is isChange for a kind held as text, as the keys of Counts are.
func IsChange(kind string) bool { return isChange(ActionKind(kind)) }

// Changes is the number of actions that change the bucket: the one count
// the confirmation, the progress and the summary use.
func (p *Plan) Changes() int {
	n := 0
	for _, a := range p.Actions {
		if isChange(a.Kind) {
			n++
		}
	}
	return n
}

// Counts summarises a plan per kind: actions and bytes.
func (p *Plan) Counts() map[string][2]int64 {
	out := map[string][2]int64{}
	for _, a := range p.Actions {
		c := out[string(a.Kind)]
		c[0]++
		c[1] += a.Size
		out[string(a.Kind)] = c
	}
	return out
}

// PlanOptions refine MakePlan.
type PlanOptions struct {
	Prefix    string
	RemoveNew bool
	// Replica is the Cross-Region-Replication replica: a key whose source
	// holds nothing from before T is restored from the replica's version
	// current at T (the source's was permanently deleted).
	Replica       lister
	ReplicaBucket string
	// Evidence is the version list custody preserved at or before T.
	Evidence *Evidence
}

// MakePlan lists the bucket (and its replica, and reads the preserved
// version list), streamed, one key's histories at a time, and decides per
// key how to bring it back to its state at target.
func MakePlan(ctx context.Context, api lister, bucket string, target time.Time, o PlanOptions) (*Plan, error) {
	plan := &Plan{Bucket: bucket, Prefix: o.Prefix, Target: target.UTC(), Actions: []Action{}}
	keys := &merged{live: head{stream: newHistories(api, bucket, o.Prefix), take: plan.vetLive}}
	if o.Replica != nil {
		keys.replica.stream = newHistories(o.Replica, o.ReplicaBucket, o.Prefix)
	}
	if o.Evidence != nil {
		ev := &evidenceHistories{ev: o.Evidence, prefix: o.Prefix}
		defer ev.close()
		keys.preserved.stream = ev
	}
	if err := keys.start(ctx); err != nil {
		return nil, err
	}
	for {
		k, ok, err := keys.next(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			return plan, nil
		}
		plan.Keys++
		if a, ok := decide(k, target, o); ok {
			plan.Actions = append(plan.Actions, a)
		} else {
			plan.Unchanged++
		}
	}
}

// vetLive sees each key's live history as the plan takes it: a key of a
// custody evidence store refuses the bucket, and the oldest entry is
// kept for CheckTarget.
func (p *Plan) vetLive(key string, hist []entry) error {
	if IsCustodyKey(key) {
		return &EvidenceBucketError{Bucket: p.Bucket, Why: "it has custody manifests, such as " + key}
	}
	for _, e := range hist {
		if p.Oldest.IsZero() || e.at.Before(p.Oldest) {
			p.Oldest = e.at.UTC()
		}
	}
	return nil
}
