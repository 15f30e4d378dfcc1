package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	recovery "github.com/custody-ir/custody/recover"
)

// interrupted is an apply cut short by SIGINT or SIGTERM: exit 130, with
// how far it got and how to resume it.
type interrupted struct {
	msg string
	err error
}

func (e *interrupted) Error() string { return e.msg }
func (e *interrupted) Unwrap() error { return e.err }

// exitCode is cli.ExitCode, printing an interrupted apply's own message.
func exitCode(err error, stderr io.Writer) int {
	var ie *interrupted
	if errors.As(err, &ie) {
		fmt.Fprintln(stderr, ie.msg)
		return cli.ExitCanceled
	}
	return cli.ExitCode(err, stderr)
}

// confirm prints the plan's lines and asks before plan is applied: on a
// terminal it asks, repeating the counts per kind; without one it needs
// --yes, and refuses before printing a line of the plan otherwise.
func (s *session) confirm(ctx context.Context, plan *recovery.Plan, what string) error {
	g, o := s.g, s.o
	n := plan.Changes()
	if what == "" {
		what = "the plan"
	}
	if !o.yes && !g.interactive {
		return cli.Usagef("%s for s3://%s has %s; without a terminal to confirm on, pass --yes to apply it (or --dry-run to list it); nothing was changed",
			what, plan.Bucket, countsLine(plan))
	}
	if !o.json {
		printPlan(g.stdout, plan)
	}
	if o.yes {
		return nil
	}
	return cli.Confirm(ctx, g.stdin, g.stderr, fmt.Sprintf("%s for s3://%s has %s\napply %d action(s) to s3://%s?", what, plan.Bucket, countsLine(plan), n, plan.Bucket),
		"not confirmed; nothing was changed")
}

// countsLine is "3 action(s): 1 copy (4 B), 2 remove-markers (10 B)",
// counting only actions that change the bucket; reported ones follow.
func countsLine(p *recovery.Plan) string {
	counts := p.Counts()
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var change, report []string
	for _, k := range kinds {
		c := counts[k]
		if recovery.IsChange(k) {
			change = append(change, fmt.Sprintf("%d %s (%s)", c[0], k, humanize.IBytes(uint64(c[1]))))
		} else {
			report = append(report, fmt.Sprintf("%d %s", c[0], k))
		}
	}
	s := fmt.Sprintf("%d action(s)", p.Changes())
	if len(change) > 0 {
		s += ": " + strings.Join(change, ", ")
	}
	if len(report) > 0 {
		s += "; reported only: " + strings.Join(report, ", ")
	}
	return s
}

func finish(p cli.Printer, r result, resumeHint string) error {
	s := r.Summary
	if err := p.Result(r, func(w io.Writer) {
		fmt.Fprintf(w, "job %s: %d of %d action(s) applied: %d delete marker(s) removed, %d version(s) copied back, %d restored from the replica, %d new key(s) hidden, %d reported, %d done before, %d failed\n",
			s.Job, s.Applied, s.Total, s.MarkersRemoved, s.Copied, s.FromReplica, s.Hidden, s.Reported, s.Skipped, len(s.Failed))
		for _, f := range s.Failed {
			fmt.Fprintf(w, "FAILED %s %s: %s\n", f.Kind, f.Key, f.Error)
		}
		if len(s.Mismatched) == 0 && len(s.Failed) == 0 {
			fmt.Fprintln(w, "verified: every key is back at its state at the target time")
		}
		for _, k := range s.Mismatched {
			fmt.Fprintf(w, "MISMATCH %s is not at its target state\n", k)
		}
		if len(s.Pending) > 0 {
			fmt.Fprintf(w, "PENDING %d archived version(s) are being restored (%s); when S3 has restored them, run: %s --yes\n",
				len(s.Pending), strings.Join(s.Pending, ", "), resumeHint)
		}
		for _, a := range s.Unrecoverable {
			fmt.Fprintf(w, "UNRECOVERABLE %s version %s (ETag %s, %d bytes, %s): %s\n", a.Key, a.VersionID, a.ETag, a.Size, a.At.Format(time.RFC3339), a.Evidence)
		}
		for _, a := range s.Conflicts {
			fmt.Fprintf(w, "CONFLICT %s left alone: %s\n", a.Key, a.Evidence)
		}
		for _, a := range s.Uncovered {
			fmt.Fprintf(w, "UNCOVERED %s left alone: %s\n", a.Key, a.Evidence)
		}
	}); err != nil {
		return err
	}
	if len(s.Failed) > 0 || len(s.Mismatched) > 0 || len(s.Unrecoverable) > 0 || len(s.Pending) > 0 || len(s.Conflicts) > 0 || len(s.Uncovered) > 0 {
		return cli.ErrFindings
	}
	return nil
}

func printPlan(w io.Writer, p *recovery.Plan) {
	if p.Actor != "" {
		fmt.Fprintf(w, "plan undoing what %s wrote to s3://%s since %s: %d key(s) it wrote, %d unchanged\n", p.Actor, p.Bucket, p.Target.Format(time.RFC3339Nano), p.Keys, p.Unchanged)
	} else {
		fmt.Fprintf(w, "plan for s3://%s/%s at %s: %d key(s) examined, %d unchanged\n", p.Bucket, p.Prefix, p.Target.Format(time.RFC3339Nano), p.Keys, p.Unchanged)
	}
	counts := p.Counts()
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-15s %6d key(s) %10s\n", k, counts[k][0], humanize.IBytes(uint64(counts[k][1])))
	}
	for _, a := range p.Actions {
		switch a.Kind {
		case recovery.RemoveMarkers:
			fmt.Fprintf(w, "  remove %d delete marker(s) over %s (version %s)\n", len(a.Markers), a.Key, a.VersionID)
		case recovery.CopyBack:
			fmt.Fprintf(w, "  copy back %s version %s (%s, %s)\n", a.Key, a.VersionID, humanize.IBytes(uint64(a.Size)), a.At.Format(time.RFC3339))
		case recovery.Unrecoverable:
			fmt.Fprintf(w, "  UNRECOVERABLE %s: %s (ETag %s, %s)\n", a.Key, a.Evidence, a.ETag, humanize.IBytes(uint64(a.Size)))
		case recovery.ReplicaCopy:
			fmt.Fprintf(w, "  restore %s from the replica (version %s, %s): deleted for good at the source\n", a.Key, a.VersionID, humanize.IBytes(uint64(a.Size)))
		case recovery.HideNew:
			fmt.Fprintf(w, "  hide new key %s\n", a.Key)
		case recovery.ReportNew:
			fmt.Fprintf(w, "  new since the target (kept; --remove-new hides it): %s\n", a.Key)
		case recovery.Conflict:
			fmt.Fprintf(w, "  CONFLICT %s, left alone: written by %s\n", a.Key, strings.Join(a.Writers, ", then by "))
		case recovery.Uncovered:
			fmt.Fprintf(w, "  UNCOVERED %s, left alone: %s\n", a.Key, a.Evidence)
		}
		for _, e := range a.Events {
			fmt.Fprintf(w, "      %s %s by %s at %s (event %s, in %s)\n", e.Action, dashIfEmpty(e.VersionID), e.Principal, e.At.Format(time.RFC3339), e.EventID, e.Evidence)
		}
	}
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return "version " + s
}

// writeBatch writes the plan's copy actions as an S3 Batch Operations
// manifest and returns the plan without them.
func writeBatch(g *globals, path string, plan *recovery.Plan) (*recovery.Plan, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, cli.Usagef("--batch-manifest %s: %w", path, err)
	}
	n, err := recovery.WriteBatchManifest(f, plan)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(g.stderr, "%d copy action(s) written to %s for an S3 Batch Operations copy job; recover applies the rest\n", n, path)
	return plan.WithoutCopies(), nil
}

// seal records the recovery in the evidence store as a signed custody
// event: the plan and the summary as artifacts, sealed in this agent's
// chain. Without a configuration there is nothing to seal into.
func seal(ctx context.Context, g *globals, cfg *config.Config, plan *recovery.Plan, sum *recovery.Summary) error {
	if cfg == nil {
		return nil
	}
	ev, err := cli.OpenEvidence(ctx, *cfg, g.now, g.stderr)
	if err != nil {
		return fmt.Errorf("recovery %s done, but sealing it as a custody event failed: %w", sum.Job, err)
	}
	defer ev.Close()
	details := map[string]string{"job": sum.Job, "markersRemoved": fmt.Sprint(sum.MarkersRemoved), "copied": fmt.Sprint(sum.Copied),
		"fromReplica": fmt.Sprint(sum.FromReplica), "hidden": fmt.Sprint(sum.Hidden), "failed": fmt.Sprint(len(sum.Failed)), "mismatched": fmt.Sprint(len(sum.Mismatched))}
	records := []custody.Record{{Name: "summary.json", Kind: "recovery-record", JSON: sum}}
	desc := "recovery job " + sum.Job + " (resumed)"
	if plan != nil {
		records = append(records, custody.Record{Name: "plan.json", Kind: "recovery-record", JSON: plan})
		details["bucket"], details["target"] = plan.Bucket, plan.Target.Format(time.RFC3339Nano)
		desc = fmt.Sprintf("recovery of s3://%s/%s to its state at %s", plan.Bucket, plan.Prefix, plan.Target.Format(time.RFC3339Nano))
		if plan.Actor != "" {
			details["actor"], details["conflicts"], details["uncovered"] = plan.Actor, fmt.Sprint(len(sum.Conflicts)), fmt.Sprint(len(sum.Uncovered))
			desc = fmt.Sprintf("undoing what %s wrote to s3://%s since %s", plan.Actor, plan.Bucket, plan.Target.Format(time.RFC3339Nano))
		}
	}
	m, err := ev.Chain.Record(ctx, custody.Event{Type: custody.EventRecover, Description: desc, Details: details, Records: records})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "recovery sealed as manifest %d of stream %s\n", m.Seq, m.Stream)
	return nil
}
