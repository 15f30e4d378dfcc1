package recovery

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Report-only kinds of an actor plan (recover --actor).
const (
	// Conflict: someone other than the actor wrote the key after the
	// actor; it is left alone, both writers named.
	Conflict ActionKind = "conflict"
	// Uncovered: a change the evidence does not cover (no data event or
	// access-log record names the version): reported, never guessed.
	Uncovered ActionKind = "uncovered"
)

// Sources of a Write.
const (
	SourceCloudTrail = "cloudtrail"
	SourceAccessLog  = "access-log"
)

// WriteEvents are the S3 calls that create versions or delete markers,
// as CloudTrail data events name them.
var WriteEvents = []string{"PutObject", "CopyObject", "CompleteMultipartUpload", "DeleteObject", "DeleteObjects"}

// Write is one write to the bucket the sealed evidence records.
type Write struct {
	Key       string    `json:"key"`
	VersionID string    `json:"versionId,omitempty"` // the version or delete marker it created; "" when the evidence does not say
	Marker    bool      `json:"deleteMarker,omitempty"`
	At        time.Time `json:"time"`
	Principal string    `json:"principal"`
	AccessKey string    `json:"accessKey,omitempty"`
	Action    string    `json:"action"`
	EventID   string    `json:"eventId"`
	// Evidence is the sealed object the record was read from, and its
	// manifest.
	Evidence string `json:"evidence"`
	Manifest string `json:"manifest,omitempty"`
	// Source is where it was read: "cloudtrail" (a data event, which
	// names the version it created) or "access-log" (an S3 server access
	// log record, which never does: the log's version id is the
	// request's).
	Source string `json:"source,omitempty"`
	// Actor is whether the write is the actor's.
	Actor bool `json:"-"`
}

// ActorOptions describe what recover --actor undoes.
type ActorOptions struct {
	// Actor names the principal or access key, for the plan and reports.
	Actor string
	// Writes are every write to the bucket in the window the evidence
	// records, the actor's marked.
	Writes       []Write
	Since, Until time.Time
	// Prefix, when set, limits the plan to the keys under it.
	Prefix string
}

// PlanActor plans undoing the actor's writes, and nothing else, per key
// the actor wrote (docs/recover.md, "Undoing one actor"): a delete
// marker the actor placed is removed; a version the actor wrote that is
// still current is superseded by a copy of the version before it (or
// hidden behind a delete marker when there was none); a key someone else
// wrote after the actor is left alone (conflict); a change the evidence
// does not cover is reported. The actor's versions are never deleted:
// they are evidence.
func PlanActor(ctx context.Context, api lister, bucket string, o ActorOptions) (*Plan, error) {
	plan := &Plan{Bucket: bucket, Prefix: o.Prefix, Target: o.Since.UTC(), Actor: o.Actor, Actions: []Action{}}
	byKey := map[string][]Write{}
	for _, w := range o.Writes {
		if strings.HasPrefix(w.Key, o.Prefix) {
			byKey[w.Key] = append(byKey[w.Key], w)
		}
	}
	var keys []string
	for k, ws := range byKey {
		for _, w := range ws {
			if w.Actor {
				keys = append(keys, k)
				break
			}
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if IsCustodyKey(k) {
			return nil, &EvidenceBucketError{Bucket: bucket, Why: "it has custody manifests, such as " + k}
		}
		live, err := keyHistory(ctx, api, bucket, k)
		if err != nil {
			return nil, err
		}
		plan.Keys++
		if a, ok := decideActor(k, live, byKey[k], o); ok {
			plan.Actions = append(plan.Actions, a)
		} else {
			plan.Unchanged++
		}
	}
	return plan, nil
}

// keyHistory lists one key's versions and delete markers, newest first.
func keyHistory(ctx context.Context, api lister, bucket, key string) ([]entry, error) {
	var out []entry
	p := s3.NewListObjectVersionsPaginator(api, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list versions of s3://%s/%s: %w", bucket, key, err)
		}
		for _, e := range pageEntries(page) {
			if e.key == key {
				out = append(out, e.entry)
			}
		}
		if len(page.Versions)+len(page.DeleteMarkers) > 0 {
			last := ""
			for _, v := range page.Versions {
				last = max(last, aws.ToString(v.Key))
			}
			for _, m := range page.DeleteMarkers {
				last = max(last, aws.ToString(m.Key))
			}
			if last > key {
				break // past the key: the rest are other keys with it as prefix
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.After(out[j].at) })
	return out, nil
}

// decideActor is the rule table for one key the actor wrote.
func decideActor(key string, live []entry, writes []Write, o ActorOptions) (Action, bool) {
	byVersion := map[string]Write{}
	var actorWrites []Write
	for _, w := range writes {
		if w.VersionID != "" {
			byVersion[w.VersionID] = w
		}
		if w.Actor {
			actorWrites = append(actorWrites, w)
		}
	}
	isActor := func(e entry) bool { w, ok := byVersion[e.versionID]; return ok && w.Actor }
	refs := func(ws []Write) []Write { return append([]Write(nil), ws...) }
	a := Action{Key: key, Events: refs(actorWrites), Source: "live listing, CloudTrail data events"}

	for _, w := range actorWrites {
		if w.VersionID == "" {
			a.Kind = Uncovered
			a.Evidence = fmt.Sprintf("%s by %s (event %s) names no version: the evidence does not say what it created", w.Action, o.Actor, w.EventID)
			if w.Source == SourceAccessLog {
				a.Evidence = fmt.Sprintf("the S3 server access log records %s by %s (request %s), and no CloudTrail data event does: an access log never names the version a write created, so nothing is undone on a guess (the trail's S3 data events would name it)", w.Action, o.Actor, w.EventID)
			}
			return a, true
		}
	}
	found := false
	for _, e := range live {
		found = found || isActor(e)
	}
	if !found {
		a.Kind = Uncovered
		a.Evidence = "none of the versions the actor created is in the bucket any more (deleted for good?): nothing to undo here"
		return a, true
	}
	if len(live) > 0 && !isActor(live[0]) {
		top := live[0]
		a.Kind, a.VersionID, a.At = Conflict, top.versionID, top.at
		other := "a writer the evidence does not show (no data event or log record names version " + top.versionID + ")"
		if w, ok := byVersion[top.versionID]; ok {
			other = fmt.Sprintf("%s (%s, event %s)", w.Principal, w.Action, w.EventID)
			a.Events = append(a.Events, w)
		}
		a.Writers = []string{o.Actor, other}
		a.Evidence = fmt.Sprintf("written by %s after the actor: left alone", other)
		return a, true
	}
	// The actor's entries on top, and the entry before them.
	j := 0
	for j < len(live) && isActor(live[j]) {
		j++
	}
	onTop := live[:j]
	a.IfCurrent = live[0].versionID
	if j < len(live) {
		prev := live[j]
		if _, known := byVersion[prev.versionID]; !known && prev.at.After(o.Since) {
			a.Kind, a.VersionID, a.At = Uncovered, prev.versionID, prev.at
			a.Evidence = fmt.Sprintf("the version the actor's writes cover (%s, %s) was written in the window by a writer the evidence does not show: not restored on a guess",
				prev.versionID, prev.at.UTC().Format(time.RFC3339))
			a.IfCurrent = ""
			return a, true
		}
		if !prev.marker {
			a.VersionID, a.ETag, a.Size, a.At = prev.versionID, prev.etag, prev.size, prev.at
			markersOnly := true
			for _, e := range onTop {
				markersOnly = markersOnly && e.marker
			}
			if markersOnly {
				a.Kind = RemoveMarkers
				for _, e := range onTop {
					a.Markers = append(a.Markers, e.versionID)
				}
				a.Evidence = "the actor's delete marker(s) removed: version " + prev.versionID + " is current again, untouched"
			} else {
				a.Kind = CopyBack
				a.Evidence = "the actor's version superseded by a copy of version " + prev.versionID + " (the actor's stays, as evidence)"
			}
			return a, true
		}
	}
	if live[0].marker {
		return Action{}, false // the actor deleted a key that was already deleted (or absent): nothing shows
	}
	a.Kind = HideNew
	a.VersionID, a.ETag, a.Size, a.At = live[0].versionID, live[0].etag, live[0].size, live[0].at
	a.Evidence = "the key did not exist before the actor wrote it: hidden behind a delete marker (the actor's version stays, as evidence)"
	return a, true
}

// DescribeActor names an actor from the flags that select it.
func DescribeActor(accessKeys, principals []string) string {
	var parts []string
	for _, k := range accessKeys {
		parts = append(parts, "access key "+k)
	}
	for _, p := range principals {
		parts = append(parts, "principal "+p)
	}
	return strings.Join(parts, " or ")
}
