package search

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/ledger"
)

// Kinds of timeline entry.
const (
	EntryPosture    = "posture-change"
	EntryManagement = "management-event"
	EntryData       = "data-event"
	EntryIAM        = "iam-change"
	EntryKMS        = "kms-change"
	EntryCustody    = "custody-event" // a freeze, a containment, a recovery: sealed by custody itself
)

// Entry is one moment of an incident's timeline.
type Entry struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Summary string    `json:"summary"`
	// Principal is who acted, where the evidence says (for a posture
	// change, who made the call that caused it).
	Principal string `json:"principal,omitempty"`
	// Record is the event (CloudTrail, access log) of an event entry.
	Record *Record `json:"record,omitempty"`
	// Change is a change between sealed snapshots (posture, IAM, KMS).
	Change *Change `json:"change,omitempty"`
	// Event is a custody event's sealed record (a freeze, a containment).
	Event *custody.SealedEvent `json:"event,omitempty"`
	// CausedBy is the recorded call that made a posture change: the
	// newest call of the matching API on the bucket before the snapshot
	// that saw it, after the one before.
	CausedBy *Record `json:"causedBy,omitempty"`
}

// Change is a setting or item that differs between two sealed snapshots.
type Change struct {
	Scope    string `json:"scope"` // the bucket, account, or account/region
	Item     string `json:"item"`  // the setting (policy) or item (user/alice)
	Change   string `json:"change,omitempty"`
	Before   string `json:"before,omitempty"`
	After    string `json:"after,omitempty"`
	Risk     string `json:"risk,omitempty"`
	RunID    string `json:"runId"`
	Manifest string `json:"manifest,omitempty"`
}

// settingCalls are the S3 calls that change each posture setting.
var settingCalls = map[string][]string{
	"policy":            {"PutBucketPolicy", "DeleteBucketPolicy"},
	"policyStatus":      {"PutBucketPolicy", "DeleteBucketPolicy"},
	"acl":               {"PutBucketAcl"},
	"publicAccessBlock": {"PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock", "PutPublicAccessBlock", "DeletePublicAccessBlock"},
	"versioning":        {"PutBucketVersioning"},
	"objectLock":        {"PutObjectLockConfiguration"},
	"replication":       {"PutBucketReplication", "DeleteBucketReplication"},
	"encryption":        {"PutBucketEncryption", "DeleteBucketEncryption"},
	"ownershipControls": {"PutBucketOwnershipControls", "DeleteBucketOwnershipControls"},
	"logging":           {"PutBucketLogging"},
	"lifecycle":         {"PutBucketLifecycle", "PutBucketLifecycleConfiguration", "DeleteBucketLifecycle"},
	"tags":              {"PutBucketTagging", "DeleteBucketTagging"},
}

// TimelineInput is what a timeline is made of.
type TimelineInput struct {
	Bucket string
	// Records are the events on the bucket (search with Buckets: [bucket]),
	// in any order.
	Records []Record
	Posture []ledger.PostureChange
	// State are the IAM and KMS changes of the bucket's accounts.
	State []ledger.StateChange
	// Events are custody's own events from verified manifests: those of
	// the bucket (a freeze, a recovery) and of the access keys and
	// principals in Records (a containment) are entries.
	Events []custody.SealedEvent
}

// Timeline orders everything known of a bucket's incident, joining each
// posture change to the call that caused it.
func Timeline(in TimelineInput) []Entry {
	recs := append([]Record(nil), in.Records...)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Time.Before(recs[j].Time) })
	var out []Entry
	for i := range recs {
		r := &recs[i]
		kind := EntryData
		if r.Category == "management" || r.Category == "" && r.Key == "" {
			kind = EntryManagement
		}
		obj := r.Bucket
		if r.Key != "" {
			obj += "/" + r.Key
		}
		status := ""
		if r.Error {
			status = " (" + r.Status + ")"
		}
		out = append(out, Entry{Time: r.Time, Kind: kind, Principal: r.Principal, Record: r,
			Summary: fmt.Sprintf("%s %s%s from %s", r.Action, obj, status, dashed(r.SourceIP))})
	}
	// Posture changes, each joined to its cause: the newest matching call
	// between the snapshot before and the one that saw the change.
	prevSnap := map[string]time.Time{}
	posture := append([]ledger.PostureChange(nil), in.Posture...)
	sort.SliceStable(posture, func(i, j int) bool { return posture[i].At.Before(posture[j].At) })
	for _, c := range posture {
		e := Entry{Time: c.At, Kind: EntryPosture, Change: &Change{Scope: c.Bucket, Item: c.Setting, Before: c.Before, After: c.After, Risk: c.Risk, RunID: c.RunID},
			Summary: fmt.Sprintf("%s of %s changed%s", c.Setting, c.Bucket, riskNote(c.Risk))}
		calls := settingCalls[c.Setting]
		for i := len(recs) - 1; i >= 0; i-- {
			r := &recs[i]
			if r.Time.After(c.At) || !prevSnap[c.Setting].IsZero() && r.Time.Before(prevSnap[c.Setting]) || r.Error || r.Bucket != c.Bucket {
				continue
			}
			if anyEqual(calls, r.Action, false) {
				e.CausedBy, e.Principal = r, r.Principal
				e.Summary += fmt.Sprintf(": %s by %s from %s at %s (access key %s)", r.Action, r.Principal, dashed(r.SourceIP), r.Time.Format(time.RFC3339), dashed(r.AccessKey))
				break
			}
		}
		if e.CausedBy == nil {
			e.Summary += ": no recorded call explains it (are the trail's management events preserved?)"
		}
		prevSnap[c.Setting] = c.At
		out = append(out, e)
	}
	for _, c := range in.State {
		kind := EntryIAM
		if c.Collector == "kms" {
			kind = EntryKMS
		}
		m := ""
		if c.Stream != "" {
			m = fmt.Sprintf("%s/%d", c.Stream, c.Seq)
		}
		out = append(out, Entry{Time: c.At, Kind: kind,
			Change:  &Change{Scope: c.Scope, Item: c.Item, Change: c.Change, Before: c.Before, After: c.After, Risk: c.Risk, RunID: c.RunID, Manifest: m},
			Summary: fmt.Sprintf("%s %s %s in %s%s", strings.ToUpper(c.Collector), c.Item, c.Change, c.Scope, riskNote(c.Risk))})
	}
	keys, principals := map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		keys[r.AccessKey], principals[r.Principal] = true, true
	}
	for i := range in.Events {
		ev := &in.Events[i]
		d := ev.Details
		ofBucket := d["bucket"] == in.Bucket
		ofKey := d["accessKey"] != "" && keys[d["accessKey"]]
		ofPrincipal := d["principal"] != "" && principals[d["principal"]]
		if !ofBucket && !ofKey && !ofPrincipal {
			continue
		}
		what := ev.Description
		if what == "" {
			what = ev.Event
		}
		summary := fmt.Sprintf("custody %s: %s", ev.Event, what)
		if ev.Case != "" {
			summary += " (case " + ev.Case + ")"
		}
		summary += fmt.Sprintf(", sealed in %s/%d", ev.Stream, ev.Sequence)
		out = append(out, Entry{Time: ev.SealedAt, Kind: EntryCustody, Principal: ev.Principal, Event: ev, Summary: summary})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

func riskNote(risk string) string {
	if risk == "" {
		return ""
	}
	return " (" + risk + ")"
}

func dashed(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ActivityByPrincipal counts a timeline's entries per principal and hour:
// the histogram of the HTML timeline.
func ActivityByPrincipal(es []Entry) map[string]map[time.Time]int {
	out := map[string]map[time.Time]int{}
	for _, e := range es {
		p := e.Principal
		if p == "" {
			continue
		}
		if out[p] == nil {
			out[p] = map[time.Time]int{}
		}
		out[p][e.Time.Truncate(time.Hour)]++
	}
	return out
}

// LedgerChanges reads the ledger's posture changes of the bucket and
// the IAM and KMS changes of its accounts since since, for a timeline.
func LedgerChanges(ctx context.Context, l *ledger.Ledger, bucket string, accounts, regions []string, since time.Time) ([]ledger.PostureChange, []ledger.StateChange, error) {
	posture, err := l.PostureChanges(ctx, bucket, since)
	if err != nil {
		return nil, nil, err
	}
	var state []ledger.StateChange
	for _, a := range accounts {
		cs, err := l.StateChanges(ctx, "iam", a, since)
		if err != nil {
			return nil, nil, err
		}
		state = append(state, cs...)
		for _, r := range regions {
			cs, err := l.StateChanges(ctx, "kms", a+"/"+r, since)
			if err != nil {
				return nil, nil, err
			}
			state = append(state, cs...)
		}
	}
	return posture, state, nil
}
