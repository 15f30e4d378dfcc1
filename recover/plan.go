package recovery

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/awsclient"
)

// Action kinds, what recover does to one key.
const (
	RemoveMarkers = "remove-markers" // delete the markers placed after T: the version current at T shows again, untouched
	CopyBack      = "copy"           // server-side copy of the version current at T onto the key
	HideNew       = "hide-new"       // a key created after T, hidden behind a delete marker (--remove-new)
	ReportNew     = "new-key"        // a key created after T, reported only
	ReplicaCopy   = "replica-copy"   // a version permanently deleted at the source, copied back from the replica
	Unrecoverable = "unrecoverable"  // the preserved list shows a version that neither the bucket nor the replica has
)

// Action is one planned change, with what it restores.
type Action struct {
	Kind      string    `json:"kind"`
	Key       string    `json:"key"`
	VersionID string    `json:"versionId,omitempty"` // the version current at T
	ETag      string    `json:"etag,omitempty"`
	Size      int64     `json:"size"`
	Markers   []string  `json:"markers,omitempty"` // delete markers to remove
	At        time.Time `json:"lastModified,omitzero"`
	Source    string    `json:"source"`             // where the facts come from: "live listing", the replica, the preserved list
	Evidence  string    `json:"evidence,omitempty"` // what the preserved version list says of this key
}

// Plan is what recover will do.
type Plan struct {
	Bucket    string    `json:"bucket"`
	Prefix    string    `json:"prefix,omitempty"`
	Target    time.Time `json:"target"`
	Actions   []Action  `json:"actions"`
	Unchanged int       `json:"unchanged"`
	Keys      int       `json:"keys"`
	// Oldest is the time of the oldest version or delete marker listed
	// in the bucket (under Prefix): CheckTarget compares it with Target.
	Oldest time.Time `json:"oldest,omitzero"`
}

// IsChange reports whether an action of kind changes the bucket: the
// others (new-key, unrecoverable) are reported only.
func IsChange(kind string) bool { return kind != ReportNew && kind != Unrecoverable }

// Changes is the number of actions that change the bucket: the one count
// the confirmation, the progress and the summary use.
func (p *Plan) Changes() int {
	n := 0
	for _, a := range p.Actions {
		if IsChange(a.Kind) {
			n++
		}
	}
	return n
}

// Counts summarises a plan per kind: actions and bytes.
func (p *Plan) Counts() map[string][2]int64 {
	out := map[string][2]int64{}
	for _, a := range p.Actions {
		c := out[a.Kind]
		c[0]++
		c[1] += a.Size
		out[a.Kind] = c
	}
	return out
}

// lister is what planning needs.
type lister interface {
	ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

var _ lister = (*s3.Client)(nil)

// entry is one version or delete marker of a key.
type entry struct {
	versionID string
	marker    bool
	latest    bool
	at        time.Time
	etag      string
	size      int64
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

// MakePlan lists the bucket (and its replica), streamed, one key's history
// at a time, and decides per key how to bring it back to its state at
// target.
func MakePlan(ctx context.Context, api lister, bucket string, target time.Time, o PlanOptions) (*Plan, error) {
	plan := &Plan{Bucket: bucket, Prefix: o.Prefix, Target: target.UTC(), Actions: []Action{}}
	src := newHistories(api, bucket, o.Prefix)
	var rep *histories
	if o.Replica != nil {
		rep = newHistories(o.Replica, o.ReplicaBucket, o.Prefix)
	}
	sk, sh, sok, err := src.next(ctx)
	if err != nil {
		return nil, err
	}
	var rk string
	var rh []entry
	var rok bool
	if rep != nil {
		if rk, rh, rok, err = rep.next(ctx); err != nil {
			return nil, err
		}
	}
	var ev *evidenceHistories
	var ek string
	var eh []entry
	var eok bool
	if o.Evidence != nil {
		if ev, err = openEvidence(ctx, o.Evidence, o.Prefix); err != nil {
			return nil, err
		}
		defer ev.close()
		if ek, eh, eok, err = ev.next(o.Prefix); err != nil {
			return nil, err
		}
	}
	for sok || rok || eok {
		key := ""
		for _, c := range []struct {
			ok bool
			k  string
		}{{sok, sk}, {rok, rk}, {eok, ek}} {
			if c.ok && (key == "" || c.k < key) {
				key = c.k
			}
		}
		var live, replica, preserved []entry
		if eok && ek == key {
			preserved = eh
			if ek, eh, eok, err = ev.next(o.Prefix); err != nil {
				return nil, err
			}
		}
		if sok && sk == key {
			if IsCustodyKey(key) {
				return nil, &EvidenceBucketError{Bucket: bucket, Why: "it has custody manifests, such as " + key}
			}
			live = sh
			for _, e := range sh {
				if plan.Oldest.IsZero() || e.at.Before(plan.Oldest) {
					plan.Oldest = e.at.UTC()
				}
			}
			if sk, sh, sok, err = src.next(ctx); err != nil {
				return nil, err
			}
		}
		if rok && rk == key {
			replica = rh
			if rk, rh, rok, err = rep.next(ctx); err != nil {
				return nil, err
			}
		}
		plan.Keys++
		if a, ok := decideAll(key, live, replica, preserved, target, o); ok {
			plan.Actions = append(plan.Actions, a)
		} else {
			plan.Unchanged++
		}
	}
	return plan, nil
}

// decideWithReplica is decide, plus the replica for keys whose source
// keeps nothing from before target.
func decideWithReplica(key string, live, replica []entry, target time.Time, o PlanOptions) (Action, bool) {
	hadBefore := false
	for _, e := range live {
		if !e.at.After(target) {
			hadBefore = true
			break
		}
	}
	if !hadBefore && len(replica) > 0 {
		for _, e := range replica {
			if e.at.After(target) {
				continue
			}
			if e.marker {
				break // deleted at T on the replica too
			}
			if len(live) > 0 && !live[0].marker && live[0].etag == e.etag && live[0].size == e.size {
				return Action{}, false // restored from the replica before
			}
			return Action{Kind: ReplicaCopy, Key: key, VersionID: e.versionID, ETag: e.etag, Size: e.size, At: e.at,
				Source: "replica s3://" + o.ReplicaBucket}, true
		}
	}
	if len(live) == 0 {
		return Action{}, false
	}
	return decide(key, live, target, o.RemoveNew)
}

// histories streams a bucket's listing one key's history at a time.
type histories struct {
	p      *s3.ListObjectVersionsPaginator
	bucket string
	marker [2]string
	buf    []keyed
	i      int
}

func newHistories(api lister, bucket, prefix string) *histories {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	return &histories{p: s3.NewListObjectVersionsPaginator(api, in), bucket: bucket}
}

func (h *histories) peek(ctx context.Context) (keyed, bool, error) {
	for h.i >= len(h.buf) {
		if !h.p.HasMorePages() {
			return keyed{}, false, nil
		}
		page, err := h.p.NextPage(ctx)
		if err != nil {
			return keyed{}, false, fmt.Errorf("list versions of s3://%s: %w", h.bucket, err)
		}
		if err := awsclient.VersionsAdvance(&h.marker, page); err != nil {
			return keyed{}, false, fmt.Errorf("list versions of s3://%s: %w", h.bucket, err)
		}
		h.buf, h.i = merge(page), 0
	}
	return h.buf[h.i], true, nil
}

// next returns the next key's history, newest first.
func (h *histories) next(ctx context.Context) (string, []entry, bool, error) {
	first, ok, err := h.peek(ctx)
	if !ok || err != nil {
		return "", nil, false, err
	}
	var hist []entry
	for {
		e, ok, err := h.peek(ctx)
		if err != nil {
			return "", nil, false, err
		}
		if !ok || e.key != first.key {
			return first.key, hist, true, nil
		}
		hist = append(hist, e.entry)
		h.i++
	}
}

type keyed struct {
	key string
	entry
}

// merge puts a page's versions and delete markers back into one list by
// key, each key newest first: the order S3 keeps them in.
func merge(page *s3.ListObjectVersionsOutput) []keyed {
	out := make([]keyed, 0, len(page.Versions)+len(page.DeleteMarkers))
	for _, v := range page.Versions {
		out = append(out, keyed{aws.ToString(v.Key), entry{versionID: aws.ToString(v.VersionId), latest: aws.ToBool(v.IsLatest),
			at: aws.ToTime(v.LastModified), etag: aws.ToString(v.ETag), size: aws.ToInt64(v.Size)}})
	}
	for _, m := range page.DeleteMarkers {
		out = append(out, keyed{aws.ToString(m.Key), entry{versionID: aws.ToString(m.VersionId), marker: true, latest: aws.ToBool(m.IsLatest),
			at: aws.ToTime(m.LastModified)}})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].key != out[j].key {
			return out[i].key < out[j].key
		}
		if out[i].latest != out[j].latest {
			return out[i].latest
		}
		return out[i].at.After(out[j].at)
	})
	return out
}

// decide compares a key's state at target with its state now.
func decide(key string, hist []entry, target time.Time, removeNew bool) (Action, bool) {
	if len(hist) == 0 {
		return Action{}, false
	}
	now := hist[0]
	at := -1 // the entry current at target
	for i, e := range hist {
		if !e.at.After(target) {
			at = i
			break
		}
	}
	if at < 0 || hist[at].marker {
		// The key did not exist at target.
		if now.marker {
			return Action{}, false
		}
		kind := ReportNew
		if removeNew {
			kind = HideNew
		}
		return Action{Kind: kind, Key: key, VersionID: now.versionID, ETag: now.etag, Size: now.size, At: now.at, Source: "live listing"}, true
	}
	v := hist[at]
	if at == 0 {
		return Action{}, false // unchanged since target
	}
	a := Action{Key: key, VersionID: v.versionID, ETag: v.etag, Size: v.size, At: v.at, Source: "live listing"}
	if !now.marker && now.etag == v.etag && now.size == v.size && v.etag != "" {
		return Action{}, false // already the same bytes: restored before, or rewritten unchanged
	}
	for _, e := range hist[:at] {
		if !e.marker {
			a.Kind = CopyBack
			a.Markers = nil
			return a, true
		}
		a.Markers = append(a.Markers, e.versionID)
	}
	a.Kind = RemoveMarkers
	return a, true
}

// StateAt reports, from a fresh listing, whether the bucket now matches
// the plan's target: every restored key's current version has the ETag and
// size it had at target, and every hidden key is hidden. It returns the
// keys that do not.
func StateAt(ctx context.Context, api lister, plan *Plan) ([]string, error) {
	want := map[string]Action{}
	for _, a := range plan.Actions {
		if a.Kind != ReportNew && a.Kind != Unrecoverable {
			want[a.Key] = a
		}
	}
	var bad []string
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(plan.Bucket)}
	if plan.Prefix != "" {
		in.Prefix = aws.String(plan.Prefix)
	}
	seen := map[string]bool{}
	p := s3.NewListObjectVersionsPaginator(api, in)
	var marker [2]string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list versions of s3://%s: %w", plan.Bucket, err)
		}
		if err := awsclient.VersionsAdvance(&marker, page); err != nil {
			return nil, fmt.Errorf("list versions of s3://%s: %w", plan.Bucket, err)
		}
		for _, e := range merge(page) {
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

// decideAll is decideWithReplica, corrected by the preserved version list:
// a version the list shows current at its capture (before T) that the
// bucket no longer has was deleted for good; the replica's copy with the
// same ETag and size restores it, or it is reported unrecoverable.
func decideAll(key string, live, replica, preserved []entry, target time.Time, o PlanOptions) (Action, bool) {
	if o.Evidence == nil || len(preserved) == 0 {
		return decideWithReplica(key, live, replica, target, o)
	}
	var x *entry
	for i := range preserved {
		if preserved[i].latest {
			x = &preserved[i]
			break
		}
	}
	note := "version list of " + o.Evidence.At.Format(time.RFC3339)
	if x == nil || x.marker || x.at.After(target) {
		a, ok := decideWithReplica(key, live, replica, target, o)
		a.Evidence = note + ": not current then"
		return a, ok
	}
	for _, e := range live {
		if e.versionID == x.versionID {
			a, ok := decideWithReplica(key, live, replica, target, o)
			if ok {
				a.Evidence = note + ": agrees (version " + x.versionID + ")"
			}
			return a, ok
		}
	}
	// Was a later version written by target? Then the list is out of date for this key.
	for _, e := range live {
		if !e.at.After(target) && e.at.After(x.at) {
			return decideWithReplica(key, live, replica, target, o)
		}
	}
	base := Action{Key: key, VersionID: x.versionID, ETag: x.etag, Size: x.size, At: x.at,
		Evidence: note + ": version " + x.versionID + " was current, and the bucket no longer has it"}
	for _, e := range replica {
		if !e.marker && e.etag == x.etag && e.size == x.size && !e.at.After(target) {
			if len(live) > 0 && !live[0].marker && live[0].etag == x.etag && live[0].size == x.size {
				return Action{}, false // restored before
			}
			base.Kind, base.VersionID, base.Source = ReplicaCopy, e.versionID, "replica s3://"+o.ReplicaBucket+", matched to the preserved list"
			return base, true
		}
	}
	base.Kind, base.Source = Unrecoverable, o.Evidence.Name
	return base, true
}
