package recovery

import "time"

// decide brings one key back to its state at target. It is the rule table
// of docs/recover.md, row by row, in the order the rows are tried: the
// first row that applies decides. ok is false when the key needs nothing.
func decide(k keyHistories, target time.Time, o PlanOptions) (a Action, ok bool) {
	f := factsOf(k, target, o)
	switch {
	case f.purged(): // the preserved list shows V current, the bucket has no V
		return f.restorePurged() // replica-copy of the replica's V, else unrecoverable
	case f.onlyReplicaHadIt(): // no entry before T in the bucket, the replica has version R at T
		return f.noted(f.copyFromReplica())
	case f.absentAtT(): // deleted (delete marker) or absent at T
		return f.noted(f.newKey()) // new-key (hide-new), or none if deleted now too
	case f.unchanged(): // version V at T, V now (or V's bytes, restored before)
		return Action{}, false
	case f.onlyMarkersAfter(): // version V at T, only delete markers after V
		return f.noted(f.removeMarkers())
	default: // version V at T, newer versions after V
		return f.noted(f.copyBack())
	}
}

// facts are what the rules read of one key.
type facts struct {
	keyHistories
	target time.Time
	o      PlanOptions
	// atT is the index in live of the entry current at target: the newest
	// whose LastModified is not after it (the same second counts as
	// before); -1 if the bucket has none.
	atT int
	// listed is the entry the preserved list shows current when it was
	// taken; nil without a preserved list, or if it lists nothing current.
	listed *entry
}

func factsOf(k keyHistories, target time.Time, o PlanOptions) *facts {
	f := &facts{keyHistories: k, target: target, o: o, atT: currentAt(k.live, target)}
	if o.Evidence != nil {
		for i := range k.preserved {
			if k.preserved[i].latest {
				f.listed = &k.preserved[i]
				break
			}
		}
	}
	return f
}

// currentAt is the index of the entry of hist (newest first) current at
// target, -1 if none.
func currentAt(hist []entry, target time.Time) int {
	for i, e := range hist {
		if !e.at.After(target) {
			return i
		}
	}
	return -1
}

// sameBytes reports whether e is a version (not a marker) with etag and size.
func sameBytes(e entry, etag string, size int64) bool {
	return !e.marker && e.etag == etag && e.size == size
}

// listedThen reports whether the preserved list shows a version current
// at its capture, before target.
func (f *facts) listedThen() bool {
	return f.listed != nil && !f.listed.marker && !f.listed.at.After(f.target)
}

// liveHas reports whether the bucket still has the version versionID.
func (f *facts) liveHas(versionID string) bool {
	for _, e := range f.live {
		if e.versionID == versionID {
			return true
		}
	}
	return false
}

// purged: the preserved list shows a version current before target that
// the bucket no longer has, and the bucket wrote nothing newer by target
// (else the list is out of date for this key, and the live listing
// decides). That version was deleted for good.
func (f *facts) purged() bool {
	if !f.listedThen() || f.liveHas(f.listed.versionID) {
		return false
	}
	for _, e := range f.live {
		if !e.at.After(f.target) && e.at.After(f.listed.at) {
			return false
		}
	}
	return true
}

// restorePurged copies back the replica's version with the purged
// version's ETag and size, unless the key already holds those bytes; with
// no such version on the replica, the purged one is unrecoverable.
func (f *facts) restorePurged() (Action, bool) {
	x := f.listed
	a := Action{Key: f.key, VersionID: x.versionID, ETag: x.etag, Size: x.size, At: x.at,
		Evidence: f.listNote() + ": version " + x.versionID + " was current, and the bucket no longer has it"}
	for _, e := range f.replica {
		if sameBytes(e, x.etag, x.size) && !e.at.After(f.target) {
			if len(f.live) > 0 && sameBytes(f.live[0], x.etag, x.size) {
				return Action{}, false // restored before
			}
			a.Kind, a.VersionID, a.Source = ReplicaCopy, e.versionID, "replica s3://"+f.o.ReplicaBucket+", matched to the preserved list"
			return a, true
		}
	}
	a.Kind, a.Source = Unrecoverable, f.o.Evidence.Name
	return a, true
}

// onlyReplicaHadIt: the bucket has no entry from before target (its
// versions were deleted for good) and the replica's entry current at
// target is a version.
func (f *facts) onlyReplicaHadIt() bool {
	if f.atT >= 0 {
		return false
	}
	r := currentAt(f.replica, f.target)
	return r >= 0 && !f.replica[r].marker
}

// copyFromReplica restores the replica's version current at target,
// unless the key already holds its bytes (restored before).
func (f *facts) copyFromReplica() (Action, bool) {
	r := f.replica[currentAt(f.replica, f.target)]
	if len(f.live) > 0 && sameBytes(f.live[0], r.etag, r.size) {
		return Action{}, false
	}
	return Action{Kind: ReplicaCopy, Key: f.key, VersionID: r.versionID, ETag: r.etag, Size: r.size, At: r.at,
		Source: "replica s3://" + f.o.ReplicaBucket}, true
}

// absentAtT: the key had no version at target (nothing yet, or a delete
// marker on top).
func (f *facts) absentAtT() bool { return f.atT < 0 || f.live[f.atT].marker }

// newKey reports (or, with --remove-new, hides) a key that has a version
// now; a key deleted now, or never in the bucket, needs nothing.
func (f *facts) newKey() (Action, bool) {
	if len(f.live) == 0 || f.live[0].marker {
		return Action{}, false
	}
	now := f.live[0]
	kind := ReportNew
	if f.o.RemoveNew {
		kind = HideNew
	}
	return Action{Kind: kind, Key: f.key, VersionID: now.versionID, ETag: now.etag, Size: now.size, At: now.at, Source: "live listing"}, true
}

// unchanged: the version current at target is current now, or the current
// version has its bytes (restored before, or rewritten unchanged).
func (f *facts) unchanged() bool {
	v := f.live[f.atT]
	return f.atT == 0 || (v.etag != "" && sameBytes(f.live[0], v.etag, v.size))
}

// onlyMarkersAfter: everything written after the version current at
// target is a delete marker.
func (f *facts) onlyMarkersAfter() bool {
	for _, e := range f.live[:f.atT] {
		if !e.marker {
			return false
		}
	}
	return true
}

// restoreAtT is the action that brings back the version current at target.
func (f *facts) restoreAtT(kind ActionKind) Action {
	v := f.live[f.atT]
	return Action{Kind: kind, Key: f.key, VersionID: v.versionID, ETag: v.etag, Size: v.size, At: v.at, Source: "live listing"}
}

// removeMarkers removes the delete markers on top of the version current
// at target, newest first: it is current again, byte for byte.
func (f *facts) removeMarkers() (Action, bool) {
	a := f.restoreAtT(RemoveMarkers)
	for _, e := range f.live[:f.atT] {
		a.Markers = append(a.Markers, e.versionID)
	}
	return a, true
}

// copyBack copies the version current at target over the newer ones.
func (f *facts) copyBack() (Action, bool) { return f.restoreAtT(CopyBack), true }

// listNote names the preserved list, for what it says of a key.
func (f *facts) listNote() string {
	return "version list of " + f.o.Evidence.At.Format(time.RFC3339)
}

// noted adds to an action what the preserved list says of its key: not
// current when the list was taken, or agreeing with the bucket.
func (f *facts) noted(a Action, ok bool) (Action, bool) {
	switch {
	case !ok || f.o.Evidence == nil || len(f.preserved) == 0:
	case !f.listedThen():
		a.Evidence = f.listNote() + ": not current then"
	case f.liveHas(f.listed.versionID):
		a.Evidence = f.listNote() + ": agrees (version " + f.listed.versionID + ")"
	}
	return a, ok
}
