package contain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The phases of a containment's sealed states.
const (
	PhaseBefore = "before"
	PhaseAfter  = "after"
)

// Target is what to contain: an access key (its user's key deactivated),
// or a role (its sessions revoked), for a key or alone.
type Target struct {
	AccessKey string
	Role      *RoleARN // revoke the role's sessions; nil: deactivate the key
	RoleFrom  string   // how the role was found: "--role" or the sealed record
	Case      string
}

// Read reads the target's state in IAM.
func (k *Keys) Read(ctx context.Context, t Target) (*State, error) {
	var st *State
	var err error
	if t.Role != nil {
		st, err = k.ReadRole(ctx, *t.Role, t.AccessKey, t.Case)
	} else {
		st, err = k.ReadKey(ctx, t.AccessKey, t.Case)
	}
	if err != nil {
		return nil, err
	}
	st.RoleFrom = t.RoleFrom
	return st, nil
}

// Outcome is what a containment did.
type Outcome struct {
	Before, After *State
	// BeforeManifest sealed the before-state; Manifest the after-state
	// (with the before-state again, so one event holds both).
	BeforeManifest, Manifest string
	// Changed: this run changed IAM. Completed: it completed a containment
	// an earlier run began (its before-state sealed, its change made, its
	// after-state never sealed).
	Changed, Completed bool
	// CompletedManifest sealed the completion of the earlier run when this
	// run then changed IAM again (a role's policy put again with this
	// run's time): the state this run found is that run's after-state and
	// this run's before-state. Empty otherwise (Manifest completes it).
	CompletedManifest string
}

// Would says what a containment of st would do, for --dry-run.
func Would(st *State, now time.Time) string {
	switch {
	case st.Action == ActionDeactivateKey && st.Contained:
		return fmt.Sprintf("access key %s of %s is Inactive already: nothing to change; its state would be sealed", st.AccessKey, st.Principal)
	case st.Action == ActionDeactivateKey:
		return fmt.Sprintf("would seal the state of %s's access keys, set %s Inactive (iam:UpdateAccessKey; never deleted), read them back and seal that", st.Principal, st.AccessKey)
	case !needsChange(st, now):
		return fmt.Sprintf("role %s's %s policy denies sessions issued before %s, not earlier than now: it would be kept (never moved back) and its state sealed",
			st.Principal, RevokePolicyName, st.Role.RevokedBefore)
	case st.Role.RevokePolicy != nil && st.Role.RevokedBefore == "":
		return fmt.Sprintf("would seal role %s's %s policy (which revokes nothing: it is not a deny of every session issued before a time), replace it to deny every session issued before now (iam:PutRolePolicy), read it back and seal that",
			st.Principal, RevokePolicyName)
	case st.Role.RevokePolicy != nil:
		return fmt.Sprintf("would seal role %s's %s policy (sessions issued before %s denied), replace it to deny every session issued before now (iam:PutRolePolicy), read it back and seal that",
			st.Principal, RevokePolicyName, st.Role.RevokedBefore)
	}
	return fmt.Sprintf("would seal the state of role %s, put the inline policy %s denying every session issued before now (iam:PutRolePolicy), read it back and seal that", st.Principal, RevokePolicyName)
}

// Contain contains the target whose state before is before, sealing
// through s. The order is what makes a crash at any point safe to re-run:
//
//  1. the before-state is sealed as an event of its own, before anything
//     changes: whatever happens next, what was there is in the store;
//  2. IAM is changed (UpdateAccessKey to Inactive, or PutRolePolicy);
//  3. IAM is read back (again, a few times, while it still shows the
//     state before: it is eventually consistent) and the after-state
//     sealed, with the before-state again, naming the before-state's
//     manifest.
//
// A key found Inactive stays as it is. A role's policy is put again with
// this run's time on every run (sessions issued since an earlier
// revocation are revoked too), unless the policy in place already denies
// sessions issued before a time not earlier than now: a revocation is
// never moved back.
//
// A run killed between 1 and 3 leaves a before-state no after-state
// follows (Pending). The re-run finds it and, when IAM shows the change
// in place (the key Inactive; the role's policy denying sessions issued
// at or after that before-state was read), seals what it found as the
// after-state of that first run, against its before-state, which is the
// true one. A key is left as it is (that one event is the re-run's); a
// role's policy is then put again with the re-run's time, the state it
// found, sealed in the completion, being this change's state before.
// Otherwise the re-run starts afresh. A key is never deleted.
func Contain(ctx context.Context, k *Keys, s Sealer, t Target, before *State) (*Outcome, error) {
	hist, err := s.History(ctx, Source(before))
	if err != nil {
		return nil, fmt.Errorf("read the sealed containments of %s: %w", Source(before), err)
	}
	out := &Outcome{Before: before}
	change := needsChange(before, k.Now().UTC())
	var beforeRaw []byte
	p := Pending(hist, t.Case)
	switch {
	case p != nil && completes(before, p) && !change:
		out.Completed = true
		out.Before, out.BeforeManifest, beforeRaw = &p.State, p.Manifest, p.Raw
	case p != nil && completes(before, p):
		if out.CompletedManifest, err = sealCompletion(ctx, s, p, before); err != nil {
			return out, fmt.Errorf("seal the state after of the interrupted containment (before-state manifest %s; nothing was changed): %w", p.Manifest, err)
		}
		out.Completed, out.BeforeManifest = true, out.CompletedManifest
		before.Phase = PhaseBefore
		if beforeRaw, err = json.MarshalIndent(before, "", "  "); err != nil {
			return out, err
		}
	default:
		before.Phase = PhaseBefore
		if beforeRaw, err = json.MarshalIndent(before, "", "  "); err != nil {
			return nil, err
		}
		out.BeforeManifest, err = s.Seal(ctx, SealRequest{Phase: PhaseBefore, Case: t.Case, Source: Source(before),
			Description: describe(before, PhaseBefore), Details: details(before), Records: map[string][]byte{BeforeRecord: beforeRaw}})
		if err != nil {
			return nil, fmt.Errorf("seal the state before containment (nothing was changed): %w", err)
		}
	}

	var changedAt time.Time
	if change {
		changedAt = k.Now().UTC()
		if before.Action == ActionRevokeSessions {
			err = k.Revoke(ctx, before, changedAt)
		} else {
			err = k.Deactivate(ctx, before)
		}
		if err != nil {
			return out, fmt.Errorf("%w (the state before is sealed in manifest %s; nothing was changed)", err, out.BeforeManifest)
		}
		out.Changed = true
	}

	after, problem, stale, err := k.readBack(ctx, t, before, out.Changed, changedAt)
	if err != nil {
		return out, fmt.Errorf("read back after containment: %w (the state before is sealed in manifest %s; run again to seal the state after)", err, out.BeforeManifest)
	}
	after.Phase, after.Changed, after.BeforeManifest = PhaseAfter, out.Changed, out.BeforeManifest
	if out.Changed {
		after.ChangedAt = &changedAt
	}
	out.After = after
	switch {
	case stale:
		return out, fmt.Errorf("read back after containment: %w: run the same command again (%s; the state before is sealed in manifest %s)", ErrNotVisible, problem, out.BeforeManifest)
	case problem != "":
		return out, fmt.Errorf("read back after containment: %s (the state before is sealed in manifest %s)", problem, out.BeforeManifest)
	}
	afterRaw, err := json.MarshalIndent(after, "", "  ")
	if err != nil {
		return out, err
	}
	d := details(after)
	d["changed"], d["beforeManifest"] = strconv.FormatBool(out.Changed), out.BeforeManifest
	if out.Changed {
		d["changedAt"] = changedAt.Format(time.RFC3339Nano)
	}
	out.Manifest, err = s.Seal(ctx, SealRequest{Phase: PhaseAfter, Case: t.Case, Source: Source(before), Description: describe(after, PhaseAfter), Details: d,
		Records: map[string][]byte{BeforeRecord: beforeRaw, AfterRecord: afterRaw}})
	if err != nil {
		return out, fmt.Errorf("contained, but sealing the state after failed: %w (the state before is sealed in manifest %s; run the same command again to seal the state after)", err, out.BeforeManifest)
	}
	return out, nil
}

// sealCompletion seals found, what this run read, as the after-state of
// the interrupted containment p (which changed IAM, as found shows),
// with p's before-state: p is no longer pending.
func sealCompletion(ctx context.Context, s Sealer, p *Sealed, found *State) (string, error) {
	done := *found
	done.Phase, done.Changed, done.ChangedAt, done.BeforeManifest = PhaseAfter, false, nil, p.Manifest
	raw, err := json.MarshalIndent(&done, "", "  ")
	if err != nil {
		return "", err
	}
	d := details(&done)
	d["changed"], d["beforeManifest"] = "false", p.Manifest
	return s.Seal(ctx, SealRequest{Phase: PhaseAfter, Case: done.Case, Source: Source(found), Description: describe(&done, PhaseAfter), Details: d,
		Records: map[string][]byte{BeforeRecord: p.Raw, AfterRecord: raw}})
}

// needsChange reports whether a containment of st changes IAM at now: a
// key that is not Inactive; a role without a revoke policy, or whose
// policy denies only sessions issued before a time earlier than now (a
// time not earlier than now is kept: a revocation never moves back).
func needsChange(st *State, now time.Time) bool {
	if st.Action == ActionDeactivateKey {
		return !st.Contained
	}
	if !st.Contained || st.Role == nil {
		return true
	}
	t, err := time.Parse(time.RFC3339Nano, st.Role.RevokedBefore)
	return err != nil || t.Before(now.Truncate(time.Millisecond))
}

// completes reports whether the current state shows the change of the
// interrupted containment p in place.
func completes(now *State, p *Sealed) bool {
	// The same principal too: a key's source is shared by runs that name
	// different roles for it, and one role's before-state must not be
	// sealed beside another's after-state.
	if !now.Contained || p.State.Action != now.Action || p.State.Principal != now.Principal {
		return false
	}
	if now.Action == ActionDeactivateKey {
		return true
	}
	t, err := time.Parse(time.RFC3339Nano, now.Role.RevokedBefore)
	return err == nil && !t.Before(p.State.ReadAt.Truncate(time.Millisecond))
}

// ErrNotVisible is a change IAM does not show on read-back after every
// try: IAM is eventually consistent, and the same command run again
// completes the containment.
var ErrNotVisible = errors.New("IAM does not show the change yet (eventual consistency)")

// readBack reads the target after containment. A read that still shows
// the state before the change is read again after each of the waits
// (IAM is eventually consistent). problem says what is wrong with the
// last read ("" when it confirms the containment); stale: it still shows
// the state before the change, not another one.
func (k *Keys) readBack(ctx context.Context, t Target, before *State, changed bool, at time.Time) (after *State, problem string, stale bool, err error) {
	waits := k.ReadBackWaits
	if waits == nil {
		waits = readBackWaits
	}
	var waited time.Duration
	for try := 0; ; try++ {
		if after, err = k.Read(ctx, t); err != nil {
			return nil, "", false, err
		}
		problem, stale = unconfirmed(before, after, changed, at)
		switch {
		case !stale:
			return after, problem, false, nil
		case try == len(waits):
			return after, fmt.Sprintf("%s after %d reads over %s", problem, try+1, waited), true, nil
		}
		if err := k.sleep(ctx, waits[try]); err != nil {
			return nil, "", false, err
		}
		waited += waits[try]
	}
}

// unconfirmed says what is wrong when IAM, read back, does not show the
// containment ("" when it does); stale when what it shows is the state
// before the change (IAM has not caught up with it yet), not another one.
func unconfirmed(before, after *State, changed bool, at time.Time) (msg string, stale bool) {
	switch {
	case !after.Contained && after.Action == ActionDeactivateKey:
		return fmt.Sprintf("IAM still lists access key %s as Active", after.AccessKey), changed
	case !changed && !after.Contained:
		return fmt.Sprintf("role %s has no %s policy", after.Principal, RevokePolicyName), false
	case !changed || after.Action != ActionRevokeSessions:
		return "", false
	}
	want := at.UTC().Format(RevokeTimeFormat)
	switch {
	case after.Contained && after.Role.RevokedBefore == want:
		return "", false
	case after.Contained == before.Contained && samePolicy(string(after.Role.RevokePolicy), string(before.Role.RevokePolicy)):
		if !after.Contained {
			return fmt.Sprintf("role %s has no %s policy yet", after.Principal, RevokePolicyName), true
		}
		return fmt.Sprintf("role %s's %s policy still denies sessions issued before %q, not %s", after.Principal, RevokePolicyName, after.Role.RevokedBefore, want), true
	case !after.Contained:
		return fmt.Sprintf("role %s has no %s policy, though this run put it (denying sessions issued before %s): another writer deleted it", after.Principal, RevokePolicyName, want), false
	}
	return fmt.Sprintf("role %s's %s policy denies sessions issued before %q, not %s: another writer replaced it", after.Principal, RevokePolicyName,
		after.Role.RevokedBefore, want), false
}

// details are the custody event's details the timeline reads.
func details(st *State) map[string]string {
	d := map[string]string{"principal": st.Principal, "action": st.Action, "case": st.Case, "phase": st.Phase}
	if st.AccessKey != "" {
		d["accessKey"] = st.AccessKey
	}
	return d
}

func describe(st *State, phase string) string {
	what := fmt.Sprintf("access key %s of %s", st.AccessKey, st.Principal)
	if st.Action == ActionRevokeSessions {
		what = "sessions of role " + st.Principal
		if st.AccessKey != "" {
			what += " (which issued " + st.AccessKey + ")"
		}
	}
	if phase == PhaseBefore {
		return "containment of " + what + ": the state before"
	}
	if st.Action == ActionRevokeSessions {
		return fmt.Sprintf("containment: %s issued before %s revoked", what, st.Role.RevokedBefore)
	}
	return "containment: " + what + " Inactive"
}
