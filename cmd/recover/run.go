package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/contain"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	recovery "github.com/custody-ir/custody/recover"
)

type result struct {
	Plan    *recovery.Plan    `json:"plan,omitempty"`
	Summary *recovery.Summary `json:"summary,omitempty"`
	DryRun  bool              `json:"dryRun"`
}

// session is one run of recover: its options and what it has set up.
type session struct {
	g       *globals
	o       *recoverOptions
	cfg     *config.Config
	journal string // absolute path of the journal
	api     *s3.Client
	replica *s3.Client
	stsAPI  contain.CallerAPI
	guard   recovery.Guard
	p       cli.Printer
}

// runRecover wires the steps: local checks first (files, journal), then
// the evidence guard, then planning or the journalled job, confirmation,
// applying, sealing.
func runRecover(ctx context.Context, g *globals, o *recoverOptions) error {
	s := &session{g: g, o: o, p: cli.Printer{Out: g.stdout, JSON: o.json}}
	if err := s.local(); err != nil {
		return err
	}
	if err := s.clients(ctx); err != nil {
		return err
	}
	if o.resume != "" {
		return s.resume(ctx)
	}
	return s.recover(ctx)
}

// local does what needs no network: the configuration, the output files'
// folders and the journal's, before any S3 call.
func (s *session) local() error {
	o := s.o
	if o.config != "" {
		c, err := cli.LoadConfig(cli.ConfigSource{File: o.config})
		if err != nil {
			return err
		}
		s.cfg = &c
	}
	for flag, path := range map[string]string{"--plan-out": o.planOut, "--batch-manifest": o.batchManifest} {
		if err := checkOutputFile(flag, path); err != nil {
			return err
		}
	}
	j, err := journalPath(o, s.cfg)
	if err != nil {
		return err
	}
	s.journal = j
	if !o.dryRun {
		// A dry run writes nothing, so it needs no writable journal.
		return prepareJournalDir(j)
	}
	return nil
}

func (s *session) clients(ctx context.Context) error {
	ac, err := awsclient.Load(ctx, awsclient.Options{})
	if err != nil {
		return err
	}
	s.api = ac.S3()
	s.stsAPI = ac.STS()
	if s.o.replicaBucket != "" {
		rc, err := awsclient.Load(ctx, awsclient.Options{Region: s.o.replicaRegion, S3Endpoint: s.o.replica})
		if err != nil {
			return err
		}
		s.replica = rc.S3()
	}
	s.guard = recovery.Guard{API: s.api, Protected: protectedBuckets(s.cfg, s.o.config)}
	return nil
}

// protectedBuckets are the buckets the configuration names as evidence.
func protectedBuckets(cfg *config.Config, file string) map[string]string {
	if cfg == nil || cfg.Store.Bucket == "" {
		return nil
	}
	return map[string]string{cfg.Store.Bucket: "store.bucket in " + file}
}

// refuse turns the guard's verdicts into usage errors: exit 2.
func refuse(err error) error {
	if errors.Is(err, recovery.ErrEvidenceBucket) || errors.Is(err, recovery.ErrTargetBeforeOldest) {
		return cli.UsageError{Err: err}
	}
	return err
}

// recover plans a new job and applies it: one step per line.
func (s *session) recover(ctx context.Context) error {
	t, err := s.target()
	if err != nil {
		return err
	}
	if err := s.guard.Check(ctx, s.o.bucket); err != nil {
		return refuse(err)
	}
	if err := recovery.NewPreflight(s.api, nil, nil).CheckVersioning(ctx, s.o.bucket); err != nil {
		return err
	}
	if err := s.checkFreeze(ctx); err != nil {
		return err
	}
	var plan *recovery.Plan
	if s.o.actorMode() {
		plan, err = s.actorPlan(ctx, t)
	} else {
		var ev *recovery.Evidence
		if ev, err = s.evidence(ctx, t); err == nil {
			plan, err = s.plan(ctx, t, ev)
		}
	}
	if err != nil {
		return err
	}
	if plan, err = s.writeFiles(plan); err != nil {
		return err
	}
	if done, err := s.show(plan); done || err != nil {
		return err
	}
	if err := s.confirm(ctx, plan, ""); err != nil {
		return err
	}
	sum, err := s.start(ctx, plan)
	if err != nil {
		return err
	}
	if err := seal(ctx, s.g, s.cfg, plan, sum); err != nil {
		return err
	}
	return finish(s.p, result{Plan: plan, Summary: sum}, s.resumeHint(sum.Job))
}

// target is the T of --since, announced on stderr.
func (s *session) target() (time.Time, error) {
	t, err := recovery.ParseSince(s.o.since, s.g.now())
	if err != nil {
		return time.Time{}, cli.UsageError{Err: err}
	}
	if s.o.actorMode() {
		fmt.Fprintf(s.g.stderr, "undoing what %s wrote to s3://%s since %s\n", recovery.DescribeActor(s.o.accessKeys, s.o.principals), s.o.bucket, t.Format(time.RFC3339Nano))
	} else {
		fmt.Fprintf(s.g.stderr, "recovering s3://%s to its state at %s\n", s.o.bucket, t.Format(time.RFC3339Nano))
	}
	return t, nil
}

// plan makes the plan against T, guided by ev when custody preserved a
// version list, and checks T against it.
func (s *session) plan(ctx context.Context, t time.Time, ev *recovery.Evidence) (*recovery.Plan, error) {
	o := s.o
	po := recovery.PlanOptions{Prefix: o.prefix, RemoveNew: o.removeNew, ReplicaBucket: o.replicaBucket, Evidence: ev}
	if s.replica != nil {
		po.Replica = s.replica
	}
	plan, err := recovery.MakePlan(ctx, s.api, o.bucket, t, po)
	if err != nil {
		return nil, refuse(err)
	}
	if o.prefix != "" && plan.Keys == 0 {
		fmt.Fprintf(s.g.stderr, "warning: no key in s3://%s matches --prefix %q\n", o.bucket, o.prefix)
	}
	if err := recovery.CheckTarget(plan, o.force); err != nil {
		return nil, refuse(err)
	}
	return plan, nil
}

// writeFiles writes --plan-out and --batch-manifest; the plan left to
// apply loses the copies the batch manifest took.
func (s *session) writeFiles(plan *recovery.Plan) (*recovery.Plan, error) {
	if s.o.planOut != "" {
		b, _ := json.MarshalIndent(plan, "", "  ")
		if err := os.WriteFile(s.o.planOut, b, 0o600); err != nil {
			return nil, cli.Usagef("--plan-out %s: %w", s.o.planOut, err)
		}
	}
	if s.o.batchManifest != "" {
		return writeBatch(s.g, s.o.batchManifest, plan)
	}
	return plan, nil
}

// show prints the plan of a dry run, or of a plan with nothing to
// change, and says that the run is done.
func (s *session) show(plan *recovery.Plan) (bool, error) {
	changes := plan.Changes()
	if !s.o.dryRun && changes != 0 {
		return false, nil
	}
	if s.o.json {
		return true, s.p.Result(result{Plan: plan, DryRun: s.o.dryRun}, nil)
	}
	printPlan(s.g.stdout, plan)
	if changes == 0 {
		fmt.Fprintln(s.g.stdout, "nothing to change")
	}
	return true, nil
}

// start journals the plan as a new job and applies it.
func (s *session) start(ctx context.Context, plan *recovery.Plan) (*recovery.Summary, error) {
	ap, closeFn, err := s.openApplier(ctx)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	job := "recover-" + custody.NewRunID(s.g.now())
	ap.Journalled = func(job string) {
		fmt.Fprintf(s.g.stderr, "job %s (resume with: %s)\n", job, s.resumeHint(job))
	}
	return s.apply(job, plan.Changes(), func() (*recovery.Summary, error) { return ap.Start(ctx, job, plan) }, ap)
}

// openApplier opens the journal and returns an applier writing to it.
func (s *session) openApplier(ctx context.Context) (*recovery.Applier, func(), error) {
	l, err := ledger.Open(ctx, s.journal, ledger.WithClock(s.g.now))
	if err != nil {
		return nil, nil, cli.Usagef("open the journal %s: %w", s.journal, err)
	}
	ap := &recovery.Applier{API: s.api, Ledger: l, Concurrency: s.o.concurrency, ReplicaBucket: s.o.replicaBucket}
	if s.replica != nil {
		ap.Replica = s.replica
	}
	return ap, func() { l.Close() }, nil
}

// apply runs start with progress for total actions. The progress line
// ends before anything else is printed; an interrupt reports how far the
// job got and how to resume it.
func (s *session) apply(job string, total int, start func() (*recovery.Summary, error), ap *recovery.Applier) (*recovery.Summary, error) {
	prog := cli.NewProgress(s.g.stderr, "applied", total, s.g.now)
	ap.Progress = func(done, _ int) { prog.Set(done) }
	prog.Start()
	sum, err := start()
	prog.Finish()
	var ie *recovery.InterruptedError
	if errors.As(err, &ie) {
		return nil, &interrupted{msg: fmt.Sprintf("interrupted after %d of %d actions; resume with: %s", ie.Done, ie.Total, s.resumeHint(ie.Job)), err: err}
	}
	return sum, err
}

// resumeHint is the command that resumes job: always with the journal's
// absolute path, and the configuration if one was given.
func (s *session) resumeHint(job string) string {
	h := fmt.Sprintf("recover --resume %s --ledger %s", job, s.journal)
	if s.o.config != "" {
		h += " --config " + absPath(s.o.config)
	}
	return h
}

// checkFreeze warns when the bucket is not frozen (a writer, a job or a
// lifecycle rule can race the restore), and refuses to apply a plan under
// credentials a freeze would deny (a dry run only says so).
func (s *session) checkFreeze(ctx context.Context) error {
	partition, err := contain.Partition(ctx, s.stsAPI)
	if err != nil {
		// Without the caller's identity a freeze cannot be told from a
		// look-alike, nor the caller checked against it: a bucket that
		// may be frozen is not written to (its writes could be denied
		// half-way through the plan).
		may, perr := contain.HasFreezeStatement(ctx, s.api, s.o.bucket)
		switch {
		case perr != nil:
			fmt.Fprintf(s.g.stderr, "warning: cannot tell whether s3://%s is frozen: %v; %v\n", s.o.bucket, err, perr)
			return nil
		case !may:
			fmt.Fprintf(s.g.stderr, "warning: s3://%s is not frozen: a writer, a running job or a lifecycle rule can race the restore\n", s.o.bucket)
			return nil
		}
		err = fmt.Errorf("s3://%s has a %s statement (frozen?) and who runs recover cannot be told, so not whether the freeze allows it: %w", s.o.bucket, contain.FreezeSid, err)
		if s.o.dryRun {
			fmt.Fprintf(s.g.stderr, "warning: %v\n", err)
			return nil
		}
		return cli.UsageError{Err: err}
	}
	st, err := contain.ReadFreeze(ctx, s.api, partition, s.o.bucket)
	if err != nil {
		fmt.Fprintf(s.g.stderr, "warning: cannot tell whether s3://%s is frozen: %v\n", s.o.bucket, err)
		return nil
	}
	if !st.Frozen && st.LookAlike {
		fmt.Fprintf(s.g.stderr, "warning: s3://%s is not frozen: its policy has a statement named %s that is not custody's freeze (changed, or written by someone else): inspect the bucket policy; a writer, a running job or a lifecycle rule can race the restore\n", s.o.bucket, contain.FreezeSid)
		return nil
	}
	if !st.Frozen {
		fmt.Fprintf(s.g.stderr, "warning: s3://%s is not frozen: a writer, a running job or a lifecycle rule can race the restore (custody freeze --bucket %s --case ID --allow-role <this role> first)\n", s.o.bucket, s.o.bucket)
		return nil
	}
	who, err := contain.CheckCaller(ctx, st, s.stsAPI, s.o.bucket)
	if err != nil {
		if s.o.dryRun {
			fmt.Fprintf(s.g.stderr, "warning: %v\n", err)
			return nil
		}
		return cli.UsageError{Err: err}
	}
	fmt.Fprintf(s.g.stderr, "s3://%s is frozen; recover runs as %s, which the freeze allows\n", s.o.bucket, who)
	return nil
}
