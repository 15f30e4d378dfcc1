package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/ledger"
	recovery "github.com/custody-ir/custody/recover"
)

// resume continues a journalled job. With --dry-run it prints the actions
// left and writes nothing: not the journal, not the bucket, not a sealed
// event. Applying asks for confirmation as a new job does.
func (s *session) resume(ctx context.Context) error {
	g, o := s.g, s.o
	if _, err := os.Stat(s.journal); errors.Is(err, fs.ErrNotExist) {
		// Opening it would create it: a dry run must not.
		return fmt.Errorf("%w: there is no journal at %s, so job %s was never started with it; check --ledger", ledger.ErrNotFound, s.journal, o.resume)
	}
	l, err := ledger.Open(ctx, s.journal, ledger.WithClock(g.now))
	if err != nil {
		return cli.Usagef("open the journal %s: %w", s.journal, err)
	}
	defer l.Close()
	job, err := recovery.LoadJob(ctx, l, o.resume)
	if errors.Is(err, ledger.ErrNotFound) {
		// A job id the journal does not know is the caller's typo, like
		// an unknown --case.
		return cli.UsageError{Err: err}
	}
	if err != nil {
		return err
	}
	if err := s.agrees(job); err != nil {
		return err
	}
	plan := job.Plan
	if err := s.guard.Check(ctx, plan.Bucket); err != nil {
		return refuse(err)
	}
	rest := job.Remaining()
	changes := rest.Changes()
	fmt.Fprintf(g.stderr, "job %s: s3://%s/%s to its state at %s; %d of %d action(s) done before, %d left\n",
		job.ID, plan.Bucket, plan.Prefix, plan.Target.Format(time.RFC3339Nano), len(plan.Actions)-len(rest.Actions), len(plan.Actions), changes)
	if o.dryRun {
		if o.json {
			return s.p.Result(result{Plan: rest, DryRun: true}, nil)
		}
		printPlan(g.stdout, rest)
		if changes == 0 {
			fmt.Fprintln(g.stdout, "nothing left to change")
		}
		return nil
	}
	if changes > 0 {
		if err := s.confirm(ctx, rest, "the rest of job "+job.ID); err != nil {
			return err
		}
	}
	ap := &recovery.Applier{API: s.api, Ledger: l, Concurrency: o.concurrency, ReplicaBucket: o.replicaBucket}
	if s.replica != nil {
		ap.Replica = s.replica
	}
	sum, err := s.apply(job.ID, changes, func() (*recovery.Summary, error) { return ap.Resume(ctx, job.ID) }, ap)
	if err != nil {
		return err
	}
	if err := seal(ctx, g, s.cfg, nil, sum); err != nil {
		return err
	}
	return finish(s.p, result{Summary: sum}, s.resumeHint(sum.Job))
}

// agrees checks the flags given with --resume against the journalled job:
// a different bucket, time or prefix is a usage error, never ignored.
func (s *session) agrees(job *recovery.Job) error {
	o, p := s.o, job.Plan
	var bad []string
	if o.bucket != "" && o.bucket != p.Bucket {
		bad = append(bad, "--bucket "+o.bucket)
	}
	if o.since != "" {
		t, err := recovery.ParseSince(o.since, s.g.now())
		if err != nil {
			return cli.UsageError{Err: err}
		}
		if !t.Equal(p.Target) {
			bad = append(bad, "--since "+o.since)
		}
	}
	if o.prefix != "" && o.prefix != p.Prefix {
		bad = append(bad, "--prefix "+o.prefix)
	}
	if o.removeNew {
		for _, a := range p.Actions {
			if a.Kind == recovery.ReportNew {
				bad = append(bad, "--remove-new (the job reports new keys, it does not hide them)")
				break
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return cli.Usagef("job %s recovers s3://%s/%s to its state at %s, which %s do not match: leave them out with --resume, or start a new recovery without it",
		job.ID, p.Bucket, p.Prefix, p.Target.Format(time.RFC3339Nano), strings.Join(bad, ", "))
}
