package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/contain"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	recovery "github.com/custody-ir/custody/recover"
	"github.com/custody-ir/custody/search"
)

// freezeOptions are freeze's and unfreeze's flags.
type freezeOptions struct {
	bucket, caseID string
	allow          []string
	holdSince      string
	holdKeys       []string
	holdPrincipals []string
	dryRun, yes    bool
	force          bool
}

func newFreezeCommand(g *globals) *cobra.Command {
	var o freezeOptions
	cmd := &cobra.Command{
		Use: "freeze --bucket B --case ID --allow-role ARN... [--hold-versions T] (--dry-run | --yes)",
		Example: `  # see what a freeze would change (reads only)
  custody freeze --bucket customer-data --case IR-42 --allow-role arn:aws:iam::111122223333:role/ir-responder --dry-run

  # freeze: deny writes and setting changes to all but the responder's and recover's roles,
  # block public access, suspend expiring lifecycle rules; hold what a restore to 36h ago needs
  custody freeze --bucket customer-data --case IR-42 \
    --allow-role arn:aws:iam::111122223333:role/ir-responder \
    --allow-role arn:aws:iam::111122223333:role/custody-recover --hold-versions 36h --yes`,
		Short: "Freeze a bucket for examination and restore: deny writes to all but the responders, sealed and reversible",
		Long: `Seal the bucket's settings (policy, public access block, lifecycle, and its
whole security posture) as the before-state of the case, then:
  - add a deny statement (Sid CustodyFreeze) to the bucket policy for object
    writes and deletes, legal holds and retention, and for policy, lifecycle,
    replication, versioning, public access, Object Lock and encryption changes,
    by every principal but the allowed roles (matched by their IAM unique ids)
    and the identity running the freeze (so that it can unfreeze);
  - turn every public access block setting on (where the server has it);
  - suspend the lifecycle rules that expire or transition versions;
  - with --hold-versions T, put a legal hold on each version a restore to T
    needs (the bucket must have Object Lock).
What was done is sealed as a custody event of the case. A freeze that was
interrupted is finished by running it again; custody unfreeze puts the
sealed before-state back. Runs with the SDK's credentials (the containment
role, configs/iam/contain-policy.json); the events go to the evidence store
of the configuration.`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFreeze(cmd.Context(), o, g.deps(cmd, nil))
		},
	}
	cmd.Flags().StringVar(&o.bucket, "bucket", "", "the bucket to freeze (required)")
	cmd.Flags().StringVar(&o.caseID, "case", "", "the case the freeze is sealed in (required)")
	cmd.Flags().StringArrayVar(&o.allow, "allow-role", nil, "ARN of an IAM role (or user) still allowed to write: the responder's, recover's (at least one)")
	cmd.Flags().StringVar(&o.holdSince, "hold-versions", "", "put a legal hold on the versions a restore to this time needs (RFC 3339 or 36h, 7d back from now)")
	cmd.Flags().StringArrayVar(&o.holdKeys, "hold-access-key", nil, "with --hold-versions: hold what undoing this access key's writes needs (recover --access-key), from the sealed CloudTrail data events")
	cmd.Flags().StringArrayVar(&o.holdPrincipals, "hold-principal", nil, "with --hold-versions: hold what undoing this principal's writes needs (recover --principal)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "say what would be done; change and seal nothing")
	cmd.Flags().BoolVar(&o.yes, "yes", false, "freeze (required unless --dry-run)")
	return cmd
}

func newUnfreezeCommand(g *globals) *cobra.Command {
	var o freezeOptions
	cmd := &cobra.Command{
		Use: "unfreeze --bucket B --case ID (--dry-run | --yes) [--force]",
		Example: `  # what would be put back, and whether anyone changed the bucket since the freeze
  custody unfreeze --bucket customer-data --case IR-42 --dry-run

  custody unfreeze --bucket customer-data --case IR-42 --yes`,
		Short: "Put back a frozen bucket's sealed before-state",
		Long: `Read the freeze's before-state back from the evidence store (its SHA-256 as
sealed) and put it back: legal holds the freeze placed are lifted, the
lifecycle rules, the public access block and, last, the bucket policy are
restored as they were. If a setting was changed since the freeze by anyone
but the freeze, unfreeze refuses and lists the changes; --force puts the
before-state back over them. The state found and what was done are sealed
as custody events of the case.`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUnfreeze(cmd.Context(), o, g.deps(cmd, nil))
		},
	}
	cmd.Flags().StringVar(&o.bucket, "bucket", "", "the frozen bucket (required)")
	cmd.Flags().StringVar(&o.caseID, "case", "", "the case it was frozen under (required)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "say what would be put back; change and seal nothing")
	cmd.Flags().BoolVar(&o.yes, "yes", false, "unfreeze (required unless --dry-run)")
	cmd.Flags().BoolVar(&o.force, "force", false, "put the before-state back over changes made since the freeze")
	return cmd
}

func (o freezeOptions) validate(verb string) error {
	switch {
	case o.bucket == "":
		return cli.Usagef("--bucket is required")
	case o.caseID == "":
		return cli.Usagef("--case is required: the %s is sealed in a case", verb)
	case o.dryRun && o.yes:
		return cli.Usagef("--dry-run and --yes together: choose one")
	case !o.dryRun && !o.yes:
		return cli.Usagef("%s changes bucket %s: pass --yes to %s it, or --dry-run to see what would change; nothing was changed", verb, o.bucket, verb)
	}
	return nil
}

// freezer opens what a freeze needs: the target's clients (the SDK's
// credentials) and, unless planning, the evidence store.
func freezer(ctx context.Context, o freezeOptions, d deps) (*contain.Freezer, func(), error) {
	cfg, err := d.config()
	if err != nil {
		return nil, func() {}, err
	}
	ac, err := sourceAWS(ctx)
	if err != nil {
		return nil, func() {}, err
	}
	api := ac.S3()
	guard := recovery.Guard{API: api, Protected: map[string]string{cfg.Store.Bucket: "the evidence store (store.bucket)"}}
	if err := guard.Check(ctx, o.bucket); err != nil {
		var eb *recovery.EvidenceBucketError
		if errors.As(err, &eb) {
			return nil, func() {}, cli.UsageError{Err: fmt.Errorf("%w: custody does not freeze evidence buckets (their own policy and Object Lock protect them)", err)}
		}
		return nil, func() {}, err
	}
	posture := &collector.Posture{API: api, Bucket: o.bucket, Now: d.now}
	f := &contain.Freezer{API: api, Snapshot: posture.Snapshot, Bucket: o.bucket, Case: o.caseID, Now: d.now, Vouch: vouch(cfg, d)}
	if o.dryRun {
		// A dry run reads the journal and the sealed before-state, and
		// writes nothing: no stream lock, no reseal, no ledger created,
		// and an older custody's ledger read as it is, not migrated.
		sc, err := cli.StoreAWS(ctx, cfg)
		if err != nil {
			return nil, func() {}, err
		}
		f.Seal = readOnlySealer{api: sc.S3()}
		f.Journal = noJournal{}
		if _, err := os.Stat(cfg.Ledger); err == nil {
			l, err := ledger.OpenReadOnly(ctx, cfg.Ledger, ledger.WithClock(d.now))
			if err != nil {
				return nil, func() {}, err
			}
			f.Journal = readOnlyJournal{l}
			return f, func() { l.Close() }, nil
		}
		return f, func() {}, nil
	}
	ev, err := cli.OpenEvidence(ctx, cfg, d.now, d.stderr)
	if err != nil {
		return nil, func() {}, err
	}
	f.Seal, f.Journal = ev.Chain, ev.Ledger
	return f, func() { ev.Close() }, nil
}

// vouch checks a sealed record against the store's manifests, verified
// from the bucket alone with the configured trust: the journal in the
// local ledger says where the before-state is, the verified chain says
// whether custody sealed it.
func vouch(cfg config.Config, d deps) func(context.Context, custody.Artifact) error {
	var sealed map[[3]string]bool // verified once, on first use
	return func(ctx context.Context, a custody.Artifact) error {
		if sealed == nil {
			trust, err := custody.ConfiguredTrust(ctx, cfg, d.getenv)
			if err != nil {
				return fmt.Errorf("no trusted key to check the manifest that sealed it (configure trust): %w", err)
			}
			sc, err := cli.StoreAWS(ctx, cfg)
			if err != nil {
				return err
			}
			v, err := cli.Verifier(sc, cfg, trust, nil, d.now)
			if err != nil {
				return err
			}
			all, _, err := v.Sealed(ctx)
			if err != nil {
				return err
			}
			sealed = map[[3]string]bool{}
			for _, s := range all {
				sealed[[3]string{s.Key, s.VersionID, s.SHA256}] = true
			}
		}
		if sealed[[3]string{a.Key, a.VersionID, a.SHA256}] {
			return nil
		}
		return fmt.Errorf("s3://%s/%s (version %s) is not sealed by any manifest that verifies: the local journal or the evidence bucket was changed; nothing was restored; run custody verify", a.Bucket, a.Key, a.VersionID)
	}
}

// readOnlySealer is a dry run's: it reads sealed records, and refuses to
// seal.
type readOnlySealer struct{ api awsclient.ObjectGetter }

func (s readOnlySealer) Record(context.Context, custody.Event) (custody.Recorded, error) {
	return custody.Recorded{}, errors.New("a dry run seals nothing")
}

func (s readOnlySealer) ReadArtifact(ctx context.Context, a custody.Artifact) ([]byte, error) {
	return custody.ReadRecord(ctx, s.api, a)
}

// readOnlyJournal reads a freeze journal and refuses to write it.
type readOnlyJournal struct{ l *ledger.Ledger }

func (j readOnlyJournal) Cursor(ctx context.Context, collector, scope string) (string, error) {
	return j.l.Cursor(ctx, collector, scope)
}

func (readOnlyJournal) SetCursor(context.Context, string, string, string) error {
	return errors.New("a dry run journals nothing")
}

// noJournal is the journal of a ledger that does not exist yet.
type noJournal struct{}

func (noJournal) Cursor(context.Context, string, string) (string, error) {
	return "", ledger.ErrNotFound
}

func (noJournal) SetCursor(context.Context, string, string, string) error {
	return errors.New("a dry run journals nothing")
}

func runFreeze(ctx context.Context, o freezeOptions, d deps) error {
	if err := o.validate("freeze"); err != nil {
		return err
	}
	if o.holdSince == "" && len(o.holdKeys)+len(o.holdPrincipals) > 0 {
		return cli.Usagef("--hold-access-key and --hold-principal say whose writes --hold-versions T undoes: give --hold-versions")
	}
	if o.dryRun && len(o.allow) == 0 {
		return cli.Usagef("--allow-role is required: the freeze denies every other principal, so without one nobody could restore or unfreeze the bucket")
	}
	f, done, err := freezer(ctx, o, d)
	defer done()
	if err != nil {
		return err
	}
	ac, err := sourceAWS(ctx)
	if err != nil {
		return err
	}
	fo := contain.FreezeOptions{DryRun: o.dryRun}
	if len(o.allow) > 0 {
		if fo.Allowed, fo.Partition, err = contain.ResolveAllowed(ctx, iam.NewFromConfig(ac.AWS), ac.STS(), o.allow); err != nil {
			return cli.UsageError{Err: err}
		}
	} else if fo.Partition, err = contain.Partition(ctx, ac.STS()); err != nil {
		// A re-run checks the sealed statement's partition against it.
		return err
	}
	if o.holdSince != "" {
		t, err := recovery.ParseSince(o.holdSince, d.now())
		if err != nil {
			return cli.UsageError{Err: fmt.Errorf("--hold-versions: %w", err)}
		}
		plan, err := holdPlan(ctx, o, d, ac.S3(), t)
		if err != nil {
			return err
		}
		for _, a := range plan.Actions {
			if (a.Kind == recovery.CopyBack || a.Kind == recovery.RemoveMarkers) && a.VersionID != "" {
				fo.Hold = append(fo.Hold, contain.Version{Key: a.Key, VersionID: a.VersionID})
			}
		}
		if len(fo.Hold) == 0 {
			fmt.Fprintf(d.stderr, "custody: --hold-versions: a restore of %s to %s needs no version of it: nothing to hold\n", o.bucket, t.Format("2006-01-02T15:04:05Z07:00"))
		}
	}
	res, err := f.Freeze(ctx, fo)
	if errors.Is(err, contain.ErrOtherCase) || errors.Is(err, contain.ErrOtherAllowed) || errors.Is(err, contain.ErrOtherHolds) {
		return cli.UsageError{Err: err}
	}
	if perr := d.printer().Result(res, func(w io.Writer) { printFreeze(w, res, "freeze") }); perr != nil && err == nil {
		err = perr
	}
	return err
}

// holdPlan is the plan of the restore whose versions --hold-versions
// holds: to T, or undoing one actor's writes since T.
func holdPlan(ctx context.Context, o freezeOptions, d deps, api *s3.Client, t time.Time) (*recovery.Plan, error) {
	at := t.Format(time.RFC3339)
	if len(o.holdKeys)+len(o.holdPrincipals) == 0 {
		plan, err := recovery.MakePlan(ctx, api, o.bucket, t, recovery.PlanOptions{})
		if err != nil {
			return nil, fmt.Errorf("--hold-versions: plan the restore of %s to %s: %w", o.bucket, at, err)
		}
		return plan, nil
	}
	cfg, err := d.config()
	if err != nil {
		return nil, err
	}
	until := d.now()
	writes, err := cli.SealedWrites(ctx, cfg, d.now, o.bucket, search.Filter{AccessKeys: o.holdKeys, Principals: o.holdPrincipals}, t, until)
	if err != nil {
		return nil, fmt.Errorf("--hold-versions: %w", err)
	}
	plan, err := recovery.PlanActor(ctx, api, o.bucket, recovery.ActorOptions{Actor: recovery.DescribeActor(o.holdKeys, o.holdPrincipals), Writes: writes, Since: t, Until: until})
	if err != nil {
		return nil, fmt.Errorf("--hold-versions: plan undoing %s since %s: %w", recovery.DescribeActor(o.holdKeys, o.holdPrincipals), at, err)
	}
	return plan, nil
}

func runUnfreeze(ctx context.Context, o freezeOptions, d deps) error {
	if err := o.validate("unfreeze"); err != nil {
		return err
	}
	f, done, err := freezer(ctx, o, d)
	defer done()
	if err != nil {
		return err
	}
	res, err := f.Unfreeze(ctx, contain.UnfreezeOptions{Force: o.force, DryRun: o.dryRun})
	if errors.Is(err, contain.ErrNotFrozen) || errors.Is(err, contain.ErrOtherCase) {
		return cli.UsageError{Err: err}
	}
	var changed *contain.ChangedError
	if errors.As(err, &changed) {
		if perr := d.printer().Result(res, func(w io.Writer) { printFreeze(w, res, "unfreeze") }); perr != nil {
			return perr
		}
		fmt.Fprintf(d.stderr, "custody: %v\n", err)
		return cli.ErrFindings
	}
	if perr := d.printer().Result(res, func(w io.Writer) { printFreeze(w, res, "unfreeze") }); perr != nil && err == nil {
		err = perr
	}
	return err
}

func printFreeze(w io.Writer, r contain.Result, verb string) {
	state := r.Phase
	switch {
	case r.DryRun:
		state = "dry run: nothing changed or sealed"
	case r.Already && verb == "freeze" && len(r.Holds) > 0:
		state = fmt.Sprintf("already %s (%d holds in place)", r.Phase, len(r.Holds))
	case r.Already:
		state = "already " + r.Phase
	case r.Resumed:
		state += " (resumed an interrupted " + verb + ")"
	}
	fmt.Fprintf(w, "%s s3://%s, case %s, freeze %s: %s\n", verb, r.Bucket, r.Case, r.FreezeID, state)
	for _, a := range r.Allowed {
		who := ""
		if a.Caller {
			who = " (running this, so that it can unfreeze)"
		}
		fmt.Fprintf(w, "  allowed: %s [%s]%s\n", a.ARN, a.UserID, who)
	}
	for _, c := range r.Changes {
		fmt.Fprintf(w, "  changed since the freeze: %s\n", c)
	}
	for _, s := range r.Steps {
		fmt.Fprintf(w, "  %-20s %-11s %s\n", s.Name, s.Status, s.Detail)
	}
	if n := len(r.Holds); n > 0 {
		fmt.Fprintf(w, "  legal holds: %d versions\n", n)
	}
	if len(r.Manifests) > 0 {
		fmt.Fprintf(w, "  sealed: %s\n", strings.Join(r.Manifests, ", "))
	}
	for _, m := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", m)
	}
}
