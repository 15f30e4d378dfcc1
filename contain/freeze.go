package contain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/ledger"
)

// EventSealer seals custody events and reads back what it sealed
// (custody.Chain).
type EventSealer interface {
	Record(context.Context, custody.Event) (custody.Recorded, error)
	ReadArtifact(context.Context, custody.Artifact) ([]byte, error)
}

// Journal keeps each bucket's freeze between runs (the custody ledger's
// cursors): which case froze it, how far it got, and where its sealed
// before-state is.
type Journal interface {
	Cursor(ctx context.Context, collector, scope string) (string, error)
	SetCursor(ctx context.Context, collector, scope, value string) error
}

// Freeze phases, as the journal keeps them.
const (
	PhaseFreezing   = "freezing"   // the before-state is sealed; changes may be partly made
	PhaseFrozen     = "frozen"     // every change made and sealed
	PhaseUnfreezing = "unfreezing" // the state before the unfreeze is sealed; restores may be partly made
	PhaseUnfrozen   = "unfrozen"   // the before-state is back, and sealed
)

// Steps of a freeze, in order, and of an unfreeze (which runs them in
// reverse: the policy, which keeps writers out, comes back last).
const (
	StepSealBefore = "seal-before"
	StepPolicy     = "policy"
	StepPAB        = "public-access-block"
	StepLifecycle  = "lifecycle"
	StepHolds      = "legal-holds"
	StepSealAfter  = "seal-after"
)

// Version is an object version, to hold.
type Version struct {
	Key       string `json:"key"`
	VersionID string `json:"versionId"`
}

// Hold is a version freeze puts under legal hold, with its hold status
// before: unfreeze lifts only the holds freeze placed.
type Hold struct {
	Version
	Prior string `json:"prior"` // ON or OFF
}

// BeforeState is what freeze seals before it changes anything: what
// unfreeze puts back, and what it will do.
type BeforeState struct {
	Bucket    string         `json:"bucket"`
	Case      string         `json:"case"`
	FreezeID  string         `json:"freezeId"`
	TakenAt   time.Time      `json:"takenAt"`
	Settings  Settings       `json:"settings"`
	Allowed   []Allowed      `json:"allowed"`
	Statement map[string]any `json:"statement"`
	Holds     []Hold         `json:"holds,omitempty"`
}

// journalEntry is what the journal keeps of a bucket's freeze.
type journalEntry struct {
	FreezeID       string            `json:"freezeId"`
	Case           string            `json:"case"`
	Phase          string            `json:"phase"`
	Before         custody.Artifact  `json:"before"`
	BeforeManifest string            `json:"beforeManifest"`
	Frozen         *custody.Artifact `json:"frozen,omitempty"` // the bucket's posture once frozen
	// Posture is the bucket's posture sealed with the before-state (absent
	// from journals written before it was kept).
	Posture *custody.Artifact `json:"posture,omitempty"`
}

// Step is one step of a freeze or an unfreeze, as it went.
type Step struct {
	Name   string `json:"name"`
	Status string `json:"status"` // done, already, unsupported, none, failed, planned
	Detail string `json:"detail,omitempty"`
	// Versions are the versions a legal-holds step put (or would put)
	// under legal hold: on a frozen bucket, holds found lifted.
	Versions []Version `json:"versions,omitempty"`
}

// Freezer freezes a bucket and puts it back.
type Freezer struct {
	API BucketAPI
	// Snapshot reads the bucket's whole security posture (sealed beside
	// each state; unfreeze compares the settings freeze does not manage).
	Snapshot func(context.Context) collector.Snapshot
	Seal     EventSealer
	Journal  Journal
	Bucket   string
	Case     string
	Now      func() time.Time
	// Vouch, when set, checks that a record read back (the before-state
	// unfreeze restores, the postures it compares with) is sealed by a
	// manifest that verifies, so that a local journal pointed at a planted
	// object is caught.
	Vouch func(ctx context.Context, a custody.Artifact) error
	// AfterStep, when set, runs after each step; an error stops the run
	// there, as a kill would (the tests' crash points).
	AfterStep func(step string) error
}

// FreezeOptions are what a freeze does beyond its defaults.
type FreezeOptions struct {
	Allowed []Allowed
	// Partition is the caller's AWS partition (ResolveAllowed,
	// CallerPartition): the freeze statement names the bucket's ARNs in
	// it. A new freeze needs it; none is assumed.
	Partition string
	Hold      []Version
	DryRun    bool
}

// Result is what a freeze or an unfreeze did.
type Result struct {
	Bucket   string    `json:"bucket"`
	Case     string    `json:"case"`
	FreezeID string    `json:"freezeId"`
	Phase    string    `json:"phase"`
	DryRun   bool      `json:"dryRun,omitempty"`
	Resumed  bool      `json:"resumed,omitempty"`
	Already  bool      `json:"already,omitempty"` // frozen (or unfrozen) already: nothing to do
	Allowed  []Allowed `json:"allowed,omitempty"`
	Steps    []Step    `json:"steps"`
	Holds    []Hold    `json:"holds,omitempty"`
	// Changes are settings changed since the freeze by someone else
	// (unfreeze), each "setting: frozen -> now".
	Changes   []string `json:"changes,omitempty"`
	Manifests []string `json:"manifests,omitempty"`
	// Warnings are what the responder should look at: an unfreeze that
	// puts back a policy open to everyone.
	Warnings []string `json:"warnings,omitempty"`
}

// Errors a command turns into usage errors: the bucket or the case named
// is not the one frozen.
var (
	ErrNotFrozen = errors.New("not frozen")
	ErrOtherCase = errors.New("frozen under another case")
)

// ErrOtherAllowed is a freeze run again with an --allow-role the
// bucket's freeze does not allow: a re-run resumes (or confirms) the
// sealed freeze, and cannot widen it.
var ErrOtherAllowed = errors.New("frozen with other allowed roles")

// ErrOtherHolds is a freeze run again with --hold-versions (or an actor)
// asking for legal holds the bucket's sealed freeze did not place: a
// re-run resumes (or confirms) the sealed freeze, so they would be
// dropped while the run said "already frozen".
var ErrOtherHolds = errors.New("frozen with other legal holds")

// notHeldBy are the versions of want the sealed freeze does not hold.
func notHeldBy(sealed []Hold, want []Version) []Version {
	have := map[Version]bool{}
	for _, h := range sealed {
		have[h.Version] = true
	}
	var out []Version
	for _, v := range want {
		if !have[v] {
			out = append(out, v)
		}
	}
	return out
}

// notAllowedBy are the ARNs of want (the caller aside) that the sealed
// freeze does not allow.
func notAllowedBy(sealed, want []Allowed) []string {
	have := map[string]bool{}
	for _, a := range sealed {
		have[a.UserID] = true
	}
	var out []string
	for _, a := range want {
		if !a.Caller && !have[a.UserID] {
			out = append(out, a.ARN)
		}
	}
	return out
}

func arns(as []Allowed) string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ARN
	}
	return strings.Join(out, ", ")
}

// errStop is what AfterStep's error is wrapped in.
var errStop = errors.New("stopped")

func (f *Freezer) after(step string) error {
	if f.AfterStep == nil {
		return nil
	}
	if err := f.AfterStep(step); err != nil {
		return fmt.Errorf("%w after %s: %w", errStop, step, err)
	}
	return nil
}

// journal reads the bucket's journal entry; ok is false when it has none.
func (f *Freezer) journal(ctx context.Context) (journalEntry, bool, error) {
	raw, err := f.Journal.Cursor(ctx, "freeze", f.Bucket)
	if errors.Is(err, ledger.ErrNotFound) || (err == nil && raw == "") {
		return journalEntry{}, false, nil
	}
	if err != nil {
		return journalEntry{}, false, fmt.Errorf("read the freeze journal of %s: %w", f.Bucket, err)
	}
	var e journalEntry
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return journalEntry{}, false, fmt.Errorf("the freeze journal of %s is unreadable (%v): the sealed freeze events of the case hold its state", f.Bucket, err)
	}
	return e, true, nil
}

func (f *Freezer) setJournal(ctx context.Context, e journalEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := f.Journal.SetCursor(ctx, "freeze", f.Bucket, string(b)); err != nil {
		return fmt.Errorf("journal the freeze of %s: %w", f.Bucket, err)
	}
	return nil
}

// sealedBefore reads the sealed before-state back from the evidence store.
func (f *Freezer) sealedBefore(ctx context.Context, e journalEntry) (BeforeState, error) {
	b, err := f.Seal.ReadArtifact(ctx, e.Before)
	if err != nil {
		return BeforeState{}, fmt.Errorf("the sealed before-state of the freeze of %s: %w", f.Bucket, err)
	}
	if f.Vouch != nil {
		if err := f.Vouch(ctx, e.Before); err != nil {
			return BeforeState{}, fmt.Errorf("the before-state of the freeze of %s: %w", f.Bucket, err)
		}
	}
	var st BeforeState
	if err := json.Unmarshal(b, &st); err != nil {
		return BeforeState{}, fmt.Errorf("the sealed before-state of the freeze of %s (%s): %w", f.Bucket, e.Before.Key, err)
	}
	if st.Bucket != f.Bucket || st.FreezeID != e.FreezeID {
		return BeforeState{}, fmt.Errorf("the sealed before-state %s is of bucket %s, freeze %s, not of %s, freeze %s", e.Before.Key, st.Bucket, st.FreezeID, f.Bucket, e.FreezeID)
	}
	return st, nil
}

// Freeze seals the bucket's before-state, then denies writes to every
// principal but the allowed ones, blocks public access, suspends the
// lifecycle rules that remove versions and holds the versions asked for;
// then seals what it did. A freeze the journal shows interrupted resumes
// from its sealed before-state; each step checks the bucket first, so
// running one twice changes nothing.
func (f *Freezer) Freeze(ctx context.Context, o FreezeOptions) (Result, error) {
	res := Result{Bucket: f.Bucket, Case: f.Case, DryRun: o.DryRun}
	e, ok, err := f.journal(ctx)
	if err != nil {
		return res, err
	}
	var st BeforeState
	switch {
	case ok && e.Case != f.Case && e.Phase != PhaseUnfrozen:
		return res, fmt.Errorf("%w: bucket %s is %s under case %s (freeze %s): unfreeze it there first, or give --case %s", ErrOtherCase, f.Bucket, e.Phase, e.Case, e.FreezeID, e.Case)
	case ok && e.Phase == PhaseUnfreezing:
		return res, fmt.Errorf("an unfreeze of bucket %s (case %s) was interrupted: run custody unfreeze --bucket %s --case %s to finish it first", f.Bucket, e.Case, f.Bucket, e.Case)
	case ok && (e.Phase == PhaseFreezing || e.Phase == PhaseFrozen):
		if st, err = f.sealedBefore(ctx, e); err != nil {
			return res, err
		}
		if p := statementPartition(st.Statement); o.Partition != "" && p != o.Partition {
			return res, fmt.Errorf("bucket %s is %s (freeze %s) with a deny statement naming the bucket in partition %q, but the caller is of partition %s: that statement denies nothing here; unfreeze it (custody unfreeze --bucket %s --case %s) and freeze it again", f.Bucket, e.Phase, e.FreezeID, p, o.Partition, f.Bucket, e.Case)
		}
		if missing := notAllowedBy(st.Allowed, o.Allowed); len(missing) > 0 {
			return res, fmt.Errorf("%w: bucket %s is %s (freeze %s) allowing only %s; %s not among them: unfreeze it and freeze it again with every role, or run without them", ErrOtherAllowed, f.Bucket, e.Phase, e.FreezeID, arns(st.Allowed), strings.Join(missing, ", "))
		}
		if missing := notHeldBy(st.Holds, o.Hold); len(missing) > 0 {
			return res, fmt.Errorf("%w: bucket %s is %s (freeze %s) holding %d version(s); %d asked for now are not among them (first s3://%s/%s version %s): unfreeze it and freeze it again with the holds, or run without --hold-versions",
				ErrOtherHolds, f.Bucket, e.Phase, e.FreezeID, len(st.Holds), len(missing), f.Bucket, missing[0].Key, missing[0].VersionID)
		}
		res.Resumed, res.Already = e.Phase == PhaseFreezing, e.Phase == PhaseFrozen
		res.Manifests = append(res.Manifests, e.BeforeManifest)
	default:
		if len(o.Allowed) == 0 {
			return res, fmt.Errorf("freeze needs at least one allowed role (--allow-role): the freeze denies every other principal, so nobody could restore or unfreeze the bucket")
		}
		if st, err = f.before(ctx, o); err != nil {
			return res, err
		}
	}
	res.FreezeID, res.Allowed, res.Holds, res.Phase = st.FreezeID, st.Allowed, st.Holds, PhaseFreezing
	if o.DryRun {
		res.Steps, err = f.freezeSteps(ctx, st, true, res.Already)
		return res, err
	}
	if !ok || e.Phase == PhaseUnfrozen {
		rec, err := f.Seal.Record(ctx, custody.Event{Type: custody.EventFreeze, Case: f.Case,
			Description: "freeze of s3://" + f.Bucket + ": the state before it",
			Details:     map[string]string{"bucket": f.Bucket, "phase": "before", "freeze": st.FreezeID},
			Records: []custody.Record{
				{Name: "freeze-before.json", Kind: "freeze-before", JSON: st, Source: "s3://" + f.Bucket},
				{Name: "posture-before.json", Kind: "posture", JSON: f.Snapshot(ctx), Source: "s3://" + f.Bucket},
			}})
		if err != nil {
			return res, fmt.Errorf("seal the before-state of %s (nothing was changed): %w", f.Bucket, err)
		}
		e = journalEntry{FreezeID: st.FreezeID, Case: f.Case, Phase: PhaseFreezing, Before: rec.Artifacts[0], BeforeManifest: rec.Key, Posture: &rec.Artifacts[1]}
		if err := f.setJournal(ctx, e); err != nil {
			return res, err
		}
		res.Manifests = append(res.Manifests, rec.Key)
		res.Steps = append(res.Steps, Step{Name: StepSealBefore, Status: "done", Detail: "manifest " + rec.Key})
		if err := f.after(StepSealBefore); err != nil {
			return res, err
		}
	}
	steps, stepErr := f.freezeSteps(ctx, st, false, res.Already)
	res.Steps = append(res.Steps, steps...)
	if errors.Is(stepErr, errStop) {
		return res, stepErr
	}
	if res.Already && stepErr == nil && !changedAny(steps) {
		res.Phase = PhaseFrozen
		return res, nil
	}
	// A frozen bucket found changed since (its freeze statement taken
	// out, a hold lifted) is frozen again, not "already frozen": sealed
	// as such, the steps naming what was made again.
	phase, what := "frozen", "frozen"
	if res.Already {
		res.Already, what = false, "frozen again (changes found undone since the freeze made again)"
	}
	if stepErr != nil {
		phase, what = "incomplete", "incomplete"
	}
	rec, err := f.Seal.Record(ctx, custody.Event{Type: custody.EventFreeze, Case: f.Case,
		Description: "freeze of s3://" + f.Bucket + ": " + what,
		Details:     map[string]string{"bucket": f.Bucket, "phase": phase, "freeze": st.FreezeID},
		Records: []custody.Record{
			{Name: "freeze.json", Kind: "freeze-record", JSON: freezeRecord{FreezeID: st.FreezeID, Steps: steps, Error: errText(stepErr), Before: e.BeforeManifest}, Source: "s3://" + f.Bucket},
			{Name: "posture-frozen.json", Kind: "posture", JSON: f.Snapshot(ctx), Source: "s3://" + f.Bucket},
		}})
	if err != nil {
		if stepErr != nil {
			// Interrupted (Ctrl-C cancels the context the seal needs too):
			// half-frozen, and not sealed as such.
			return res, fmt.Errorf("bucket %s is only partly frozen, and sealing that failed: re-run custody freeze to finish and seal it, or custody unfreeze --bucket %s --case %s to put back the sealed before-state: %w", f.Bucket, f.Bucket, f.Case, errors.Join(stepErr, err))
		}
		return res, fmt.Errorf("bucket %s is frozen but sealing it failed (re-run custody freeze to seal it): %w", f.Bucket, errors.Join(stepErr, err))
	}
	res.Manifests = append(res.Manifests, rec.Key)
	if stepErr != nil {
		return res, fmt.Errorf("bucket %s is only partly frozen (sealed in manifest %s): %w; re-run custody freeze to finish, or custody unfreeze --bucket %s --case %s to put back the sealed before-state", f.Bucket, rec.Key, stepErr, f.Bucket, f.Case)
	}
	if err := f.after(StepSealAfter); err != nil {
		return res, err
	}
	e.Phase, e.Frozen = PhaseFrozen, &rec.Artifacts[1]
	if err := f.setJournal(ctx, e); err != nil {
		return res, err
	}
	res.Phase = PhaseFrozen
	return res, nil
}

// freezeRecord is the sealed record of the changes a freeze made.
type freezeRecord struct {
	FreezeID string `json:"freezeId"`
	Before   string `json:"beforeManifest"`
	Steps    []Step `json:"steps"`
	Error    string `json:"error,omitempty"`
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func changedAny(steps []Step) bool {
	for _, s := range steps {
		if s.Status == "done" {
			return true
		}
	}
	return false
}

// before reads what a new freeze will seal as the before-state.
func (f *Freezer) before(ctx context.Context, o FreezeOptions) (BeforeState, error) {
	now := f.Now().UTC()
	st := BeforeState{Bucket: f.Bucket, Case: f.Case, FreezeID: now.Format("20060102T150405.000Z"), TakenAt: now, Allowed: o.Allowed}
	if !partitionRE.MatchString(o.Partition) {
		return st, fmt.Errorf("bucket %s: the caller's AWS partition is unknown (%q): the freeze statement must name the bucket's ARN in it; nothing was changed", f.Bucket, o.Partition)
	}
	st.Statement = FreezeStatement(o.Partition, f.Bucket, o.Allowed)
	var err error
	if st.Settings, err = readSettings(ctx, f.API, f.Bucket); err != nil {
		return st, err
	}
	frozen, err := withFreeze(st.Settings.Policy, st.Statement)
	if err != nil {
		return st, fmt.Errorf("bucket %s: %w", f.Bucket, err)
	}
	if len(frozen) > maxPolicyBytes {
		return st, fmt.Errorf("bucket %s: its policy with the freeze statement would be %d bytes, over S3's limit of %d: nothing was changed; shorten the policy (or allow fewer roles) and freeze again", f.Bucket, len(frozen), maxPolicyBytes)
	}
	if len(o.Hold) > 0 {
		lock, err := f.API.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(f.Bucket)})
		if err != nil || lock.ObjectLockConfiguration == nil || lock.ObjectLockConfiguration.ObjectLockEnabled != s3types.ObjectLockEnabledEnabled {
			return st, fmt.Errorf("bucket %s has no Object Lock, so its versions cannot be put under legal hold: freeze without --hold-versions (the freeze's deny still keeps them from being deleted)", f.Bucket)
		}
		for _, v := range o.Hold {
			h, err := f.API.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: aws.String(f.Bucket), Key: aws.String(v.Key), VersionId: aws.String(v.VersionID)})
			prior := "OFF"
			switch {
			case err == nil && h.LegalHold != nil && h.LegalHold.Status == s3types.ObjectLockLegalHoldStatusOn:
				prior = "ON"
			case err != nil && code(err) != "NoSuchObjectLockConfiguration":
				return st, fmt.Errorf("read the legal hold of s3://%s/%s (version %s): %w", f.Bucket, v.Key, v.VersionID, err)
			}
			st.Holds = append(st.Holds, Hold{Version: v, Prior: prior})
		}
	}
	return st, nil
}

// freezeSteps makes (or, planning, describes) each change of a freeze,
// after checking the bucket: a change already made is left alone. frozen:
// the freeze was sealed as done, so a change still to make was undone
// since (a hold lifted).
func (f *Freezer) freezeSteps(ctx context.Context, st BeforeState, plan, frozen bool) ([]Step, error) {
	var steps []Step
	cur, err := readSettings(ctx, f.API, f.Bucket)
	if err != nil {
		return steps, err
	}
	do := func(name, detail string, change func() error) error {
		if plan {
			steps = append(steps, Step{Name: name, Status: "planned", Detail: detail})
			return nil
		}
		if err := change(); err != nil {
			steps = append(steps, Step{Name: name, Status: "failed", Detail: err.Error()})
			return fmt.Errorf("%s: %w", name, err)
		}
		steps = append(steps, Step{Name: name, Status: "done", Detail: detail})
		return f.after(name)
	}
	skip := func(name, status, detail string) {
		steps = append(steps, Step{Name: name, Status: status, Detail: detail})
	}

	if hasFreeze(cur.Policy, st.Statement) {
		skip(StepPolicy, "already", "the deny statement "+FreezeSid+" is in the bucket policy")
	} else {
		pol, err := withFreeze(cur.Policy, st.Statement)
		if err != nil {
			return steps, fmt.Errorf("%s: %w", StepPolicy, err)
		}
		if err := do(StepPolicy, "deny writes, deletes and setting changes to every principal but the allowed ones", func() error {
			return putPolicy(ctx, f.API, f.Bucket, pol)
		}); err != nil {
			return steps, err
		}
	}
	switch {
	case cur.PublicAccessBlockUnsupported:
		skip(StepPAB, "unsupported", "this S3 server does not implement the public access block")
	case samePAB(cur.PublicAccessBlock, blockAll()):
		skip(StepPAB, "already", "every public access block setting is on")
	default:
		if err := do(StepPAB, "turn every public access block setting on", func() error {
			return putPAB(ctx, f.API, f.Bucket, blockAll())
		}); err != nil {
			return steps, err
		}
	}
	want, ids := suspended(cur.Lifecycle)
	if len(ids) == 0 {
		skip(StepLifecycle, "none", "no enabled lifecycle rule expires or transitions versions")
	} else if err := do(StepLifecycle, fmt.Sprintf("suspend lifecycle rules %q", ids), func() error {
		return putLifecycle(ctx, f.API, f.Bucket, want, cur.LifecycleTransitionDefault)
	}); err != nil {
		return steps, err
	}
	if len(st.Holds) > 0 {
		missing, err := f.notHeld(ctx, st.Holds)
		if err != nil {
			steps = append(steps, Step{Name: StepHolds, Status: "failed", Detail: err.Error()})
			return steps, fmt.Errorf("%s: %w", StepHolds, err)
		}
		if len(missing) == 0 {
			skip(StepHolds, "already", fmt.Sprintf("%d legal holds in place", len(st.Holds)))
			return steps, nil
		}
		detail := fmt.Sprintf("legal holds on %d versions (%d already held)", len(missing), len(st.Holds)-len(missing))
		if frozen {
			detail = fmt.Sprintf("legal holds put again on %d of the freeze's %d versions, found lifted since it: %s", len(missing), len(st.Holds), versionList(f.Bucket, missing))
		}
		if err := do(StepHolds, detail, func() error { return f.putHolds(ctx, missing) }); err != nil {
			return steps, err
		}
		steps[len(steps)-1].Versions = missing
	}
	return steps, nil
}

// notHeld are the versions of holds not under legal hold now: every one
// the freeze holds (those it placed, and those held before it), checked
// one by one (GetObjectLegalHold), so that a re-run puts only those
// missing: lifted since, or not reached by an interrupted run.
func (f *Freezer) notHeld(ctx context.Context, holds []Hold) ([]Version, error) {
	var out []Version
	for _, h := range holds {
		got, err := f.API.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: aws.String(f.Bucket), Key: aws.String(h.Key), VersionId: aws.String(h.VersionID)})
		switch {
		case err == nil && got.LegalHold != nil && got.LegalHold.Status == s3types.ObjectLockLegalHoldStatusOn:
		case err == nil || code(err) == "NoSuchObjectLockConfiguration": // never held
			out = append(out, h.Version)
		default:
			return nil, fmt.Errorf("read the legal hold of s3://%s/%s (version %s): %w", f.Bucket, h.Key, h.VersionID, err)
		}
	}
	return out, nil
}

// putHolds puts a legal hold on each version.
func (f *Freezer) putHolds(ctx context.Context, vs []Version) error {
	for _, v := range vs {
		_, err := f.API.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String(f.Bucket), Key: aws.String(v.Key), VersionId: aws.String(v.VersionID),
			LegalHold: &s3types.ObjectLockLegalHold{Status: s3types.ObjectLockLegalHoldStatusOn}})
		if err != nil {
			return fmt.Errorf("legal hold ON on s3://%s/%s (version %s): %w", f.Bucket, v.Key, v.VersionID, err)
		}
	}
	return nil
}

// versionList names versions for a step's detail: the first few (the
// step's versions list them all).
func versionList(bucket string, vs []Version) string {
	var out []string
	for i, v := range vs {
		if i == 5 {
			out = append(out, fmt.Sprintf("and %d more", len(vs)-i))
			break
		}
		out = append(out, fmt.Sprintf("s3://%s/%s (version %s)", bucket, v.Key, v.VersionID))
	}
	return strings.Join(out, ", ")
}
