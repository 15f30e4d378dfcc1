package contain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/custody"
)

// ChangedError is an unfreeze refused because the bucket changed since
// its freeze, other than by the freeze.
type ChangedError struct {
	Bucket  string
	Changes []string
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("bucket %s changed since it was frozen, not by the freeze (%d settings): review the changes; --force puts back the sealed before-state over them (they are sealed first)", e.Bucket, len(e.Changes))
}

// managed are the posture settings freeze changes (or that follow from
// them); the others must be as the freeze left them.
var managed = map[string]bool{"policy": true, "policyStatus": true, "publicAccessBlock": true, "lifecycle": true, "location": true}

// UnfreezeOptions are what an unfreeze does beyond its defaults.
type UnfreezeOptions struct {
	Force  bool
	DryRun bool
}

// Unfreeze puts back the bucket's sealed before-state: legal holds freeze
// placed are lifted, the lifecycle rules, the public access block and,
// last, the policy restored as they were. It refuses (unless Force) when
// a setting is neither as the freeze left it nor as it was before: that
// is someone else's change, which the result lists. The state it finds is
// sealed before it changes anything, and what it did after.
func (f *Freezer) Unfreeze(ctx context.Context, o UnfreezeOptions) (Result, error) {
	res := Result{Bucket: f.Bucket, Case: f.Case, DryRun: o.DryRun}
	e, ok, err := f.journal(ctx)
	if err != nil {
		return res, err
	}
	if !ok {
		return res, fmt.Errorf("%w: bucket %s (no freeze of it in this ledger)", ErrNotFrozen, f.Bucket)
	}
	if e.Case != f.Case {
		return res, fmt.Errorf("%w: bucket %s was frozen under case %s, not %s: give --case %s", ErrOtherCase, f.Bucket, e.Case, f.Case, e.Case)
	}
	if e.Phase == PhaseUnfrozen {
		// Run again after it finished (or after a kill that came after
		// the last seal): nothing to do, if nobody froze it since (a
		// statement named FreezeSid, whichever partition it names).
		again, err := HasFreezeStatement(ctx, f.API, f.Bucket)
		if err != nil {
			return res, err
		}
		if again {
			return res, fmt.Errorf("bucket %s was unfrozen (freeze %s) but its policy has a %s statement again, which custody did not put back: inspect it", f.Bucket, e.FreezeID, FreezeSid)
		}
		res.FreezeID, res.Phase, res.Already = e.FreezeID, PhaseUnfrozen, true
		return res, nil
	}
	res.FreezeID, res.Phase, res.Resumed = e.FreezeID, e.Phase, e.Phase == PhaseUnfreezing
	st, err := f.sealedBefore(ctx, e)
	if err != nil {
		return res, err
	}
	res.Holds = st.Holds
	cur, err := readSettings(ctx, f.API, f.Bucket)
	if err != nil {
		return res, err
	}
	res.Changes = f.foreign(ctx, e, st, cur)
	switch open, err := opensToEveryone(st.Settings.Policy); {
	case err != nil:
		res.Warnings = append(res.Warnings, "could not read the sealed before-state's bucket policy ("+err.Error()+"): check it before unfreezing, it may allow access to everyone; unfreeze puts it back as it was")
	case open:
		res.Warnings = append(res.Warnings, "the sealed before-state's bucket policy allows access to everyone without a condition (the incident's exposure?): unfreeze puts it back as it was; change the policy afterwards if it should not be")
	}
	if len(res.Changes) > 0 && !o.Force {
		return res, &ChangedError{Bucket: f.Bucket, Changes: res.Changes}
	}
	if o.DryRun {
		res.Steps = f.unfreezeSteps(ctx, st, cur, true, nil)
		return res, nil
	}
	if e.Phase != PhaseUnfreezing {
		rec, err := f.Seal.Record(ctx, custody.Event{Type: custody.EventUnfreeze, Case: f.Case,
			Description: "unfreeze of s3://" + f.Bucket + ": the state before it",
			Details:     map[string]string{"bucket": f.Bucket, "phase": "before", "freeze": e.FreezeID},
			Records: []custody.Record{
				{Name: "unfreeze-before.json", Kind: "unfreeze-before", JSON: unfreezeRecord{FreezeID: e.FreezeID, Before: e.BeforeManifest, Forced: o.Force, Changes: res.Changes}, Source: "s3://" + f.Bucket},
				{Name: "posture-before.json", Kind: "posture", JSON: f.Snapshot(ctx), Source: "s3://" + f.Bucket},
			}})
		if err != nil {
			return res, fmt.Errorf("seal the state of %s before unfreezing it (nothing was changed): %w", f.Bucket, err)
		}
		res.Manifests = append(res.Manifests, rec.Key)
		res.Steps = append(res.Steps, Step{Name: StepSealBefore, Status: "done", Detail: "manifest " + rec.Key})
		e.Phase = PhaseUnfreezing
		if err := f.setJournal(ctx, e); err != nil {
			return res, err
		}
		if err := f.after(StepSealBefore); err != nil {
			return res, err
		}
	}
	var stepErr error
	steps := f.unfreezeSteps(ctx, st, cur, false, &stepErr)
	res.Steps = append(res.Steps, steps...)
	if errors.Is(stepErr, errStop) {
		return res, stepErr
	}
	phase := "done"
	if stepErr != nil {
		phase = "incomplete"
	}
	rec, err := f.Seal.Record(ctx, custody.Event{Type: custody.EventUnfreeze, Case: f.Case,
		Description: "unfreeze of s3://" + f.Bucket + ": " + phase,
		Details:     map[string]string{"bucket": f.Bucket, "phase": phase, "freeze": e.FreezeID},
		Records: []custody.Record{
			{Name: "unfreeze.json", Kind: "unfreeze-record", JSON: unfreezeRecord{FreezeID: e.FreezeID, Before: e.BeforeManifest, Forced: o.Force, Changes: res.Changes, Steps: steps, Error: errText(stepErr)}, Source: "s3://" + f.Bucket},
			{Name: "posture-after.json", Kind: "posture", JSON: f.Snapshot(ctx), Source: "s3://" + f.Bucket},
		}})
	if err != nil {
		return res, fmt.Errorf("unfreezing %s: sealing what was done failed (re-run custody unfreeze to seal it): %w", f.Bucket, errors.Join(stepErr, err))
	}
	res.Manifests = append(res.Manifests, rec.Key)
	if stepErr != nil {
		return res, fmt.Errorf("bucket %s is only partly unfrozen (sealed in manifest %s): %w; re-run custody unfreeze to finish", f.Bucket, rec.Key, stepErr)
	}
	if err := f.after(StepSealAfter); err != nil {
		return res, err
	}
	e.Phase, e.Frozen = PhaseUnfrozen, nil
	if err := f.setJournal(ctx, e); err != nil {
		return res, err
	}
	res.Phase = PhaseUnfrozen
	return res, nil
}

// unfreezeRecord is the sealed record of an unfreeze.
type unfreezeRecord struct {
	FreezeID string   `json:"freezeId"`
	Before   string   `json:"freezeBeforeManifest"`
	Forced   bool     `json:"forced,omitempty"`
	Changes  []string `json:"foreignChanges,omitempty"`
	Steps    []Step   `json:"steps,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// foreign lists the settings that are neither as the freeze made them nor
// as they were before it. Only an interrupted freeze or unfreeze leaves a
// managed setting as it was before: once the journal says frozen, each
// must be as the freeze made it (a freeze statement removed, or expiring
// rules enabled again, is someone undoing the freeze). The settings the
// freeze does not manage must be as they were before it (the posture
// sealed with the before-state) and as the sealed frozen posture shows
// them: a change made between a killed freeze and its re-run is not hidden
// by the posture the re-run seals.
func (f *Freezer) foreign(ctx context.Context, e journalEntry, st BeforeState, cur Settings) []string {
	var out []string
	strict := e.Phase == PhaseFrozen
	frozenPolicy, _ := withFreeze(st.Settings.Policy, st.Statement)
	if !samePolicy(cur.Policy, frozenPolicy) && (strict || !samePolicy(cur.Policy, st.Settings.Policy)) {
		out = append(out, policyChanges(frozenPolicy, cur.Policy)...)
	}
	if !cur.PublicAccessBlockUnsupported && !samePAB(cur.PublicAccessBlock, blockAll()) && (strict || !samePAB(cur.PublicAccessBlock, st.Settings.PublicAccessBlock)) {
		out = append(out, "publicAccessBlock: all on -> "+short(canonical(cur.PublicAccessBlock)))
	}
	frozenRules, _ := suspended(st.Settings.Lifecycle)
	if !sameRules(cur.Lifecycle, frozenRules) && (strict || !sameRules(cur.Lifecycle, st.Settings.Lifecycle)) {
		out = append(out, "lifecycle: "+short(canonical(frozenRules))+" -> "+short(canonical(cur.Lifecycle)))
	}
	var now *collector.Snapshot
	seen := map[string]bool{}
	for _, a := range []*custody.Artifact{e.Frozen, e.Posture} {
		if a == nil {
			continue
		}
		b, err := f.Seal.ReadArtifact(ctx, *a)
		if err == nil && f.Vouch != nil {
			err = f.Vouch(ctx, *a)
		}
		var then collector.Snapshot
		if err == nil {
			err = json.Unmarshal(b, &then)
		}
		if err != nil {
			out = append(out, "the sealed posture "+a.Key+" cannot be read back: "+err.Error())
			continue
		}
		if now == nil {
			s := f.Snapshot(ctx)
			now = &s
		}
		for _, c := range collector.Diff(&then, now) {
			if !managed[c.Setting] && !seen[c.Setting] {
				seen[c.Setting] = true
				out = append(out, c.Setting+": "+short(string(c.Before.Value)+c.Before.State)+" -> "+short(string(c.After.Value)+c.After.State))
			}
		}
	}
	sort.Strings(out)
	return out
}

func short(s string) string {
	if s == "" {
		return "(none)"
	}
	if len(s) > 400 {
		return s[:400] + "..."
	}
	return s
}

// unfreezeSteps puts back (or, planning, describes) each setting, the
// policy last; the first failure stops it, in *stepErr.
func (f *Freezer) unfreezeSteps(ctx context.Context, st BeforeState, cur Settings, plan bool, stepErr *error) []Step {
	var steps []Step
	failed := false
	do := func(name, detail string, change func() error) {
		if failed {
			return
		}
		if plan {
			steps = append(steps, Step{Name: name, Status: "planned", Detail: detail})
			return
		}
		if err := change(); err != nil {
			steps = append(steps, Step{Name: name, Status: "failed", Detail: err.Error()})
			*stepErr, failed = fmt.Errorf("%s: %w", name, err), true
			return
		}
		steps = append(steps, Step{Name: name, Status: "done", Detail: detail})
		if err := f.after(name); err != nil {
			*stepErr, failed = err, true
		}
	}
	skip := func(name, status, detail string) {
		if !failed {
			steps = append(steps, Step{Name: name, Status: status, Detail: detail})
		}
	}
	if n := placed(st.Holds); n > 0 {
		do(StepHolds, fmt.Sprintf("lift the legal holds freeze placed on %d versions", n), func() error {
			return f.setHolds(ctx, st.Holds, s3types.ObjectLockLegalHoldStatusOff)
		})
	}
	if sameRules(cur.Lifecycle, st.Settings.Lifecycle) {
		skip(StepLifecycle, "already", "the lifecycle rules are as before the freeze")
	} else {
		do(StepLifecycle, "put back the lifecycle rules as sealed", func() error {
			return putLifecycle(ctx, f.API, f.Bucket, st.Settings.Lifecycle, st.Settings.LifecycleTransitionDefault)
		})
	}
	switch {
	case cur.PublicAccessBlockUnsupported:
		skip(StepPAB, "unsupported", "this S3 server does not implement the public access block")
	case samePAB(cur.PublicAccessBlock, st.Settings.PublicAccessBlock):
		skip(StepPAB, "already", "the public access block is as before the freeze")
	default:
		do(StepPAB, "put back the public access block as sealed", func() error { return putPAB(ctx, f.API, f.Bucket, st.Settings.PublicAccessBlock) })
	}
	if samePolicy(cur.Policy, st.Settings.Policy) {
		skip(StepPolicy, "already", "the bucket policy is as before the freeze")
	} else {
		do(StepPolicy, "put back the bucket policy as sealed (the deny statement goes)", func() error { return putPolicy(ctx, f.API, f.Bucket, st.Settings.Policy) })
	}
	return steps
}

func placed(holds []Hold) int {
	n := 0
	for _, h := range holds {
		if h.Prior == "OFF" {
			n++
		}
	}
	return n
}

// setHolds sets the legal hold of every version whose prior status was
// OFF (the holds freeze places, and unfreeze lifts).
func (f *Freezer) setHolds(ctx context.Context, holds []Hold, status s3types.ObjectLockLegalHoldStatus) error {
	for _, h := range holds {
		if h.Prior != "OFF" {
			continue
		}
		_, err := f.API.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String(f.Bucket), Key: aws.String(h.Key), VersionId: aws.String(h.VersionID),
			LegalHold: &s3types.ObjectLockLegalHold{Status: status}})
		if err != nil {
			return fmt.Errorf("legal hold %s on s3://%s/%s (version %s): %w", status, f.Bucket, h.Key, h.VersionID, err)
		}
	}
	return nil
}
