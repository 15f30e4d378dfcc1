package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/dustin/go-humanize"
	"golang.org/x/term"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/awsclient"
	"github.com/custody-ir/custody/custody/config"
	"github.com/custody-ir/custody/custody/ledger"
	recovery "github.com/custody-ir/custody/recover"
)

type result struct {
	Plan    *recovery.Plan    `json:"plan,omitempty"`
	Summary *recovery.Summary `json:"summary,omitempty"`
	DryRun  bool              `json:"dryRun"`
}

func runRecover(ctx context.Context, g *globals, o *recoverOptions) error {
	var cfg *config.Config
	if o.config != "" {
		c, err := cli.LoadConfig(cli.ConfigSource{File: o.config})
		if err != nil {
			return err
		}
		cfg = &c
		if !o.ledgerSet {
			o.ledger = c.Ledger
		}
	}
	ac, err := awsclient.Load(ctx, awsclient.Options{})
	if err != nil {
		return err
	}
	api := ac.S3()
	var replica *s3.Client
	if o.replicaBucket != "" {
		rc, err := awsclient.Load(ctx, awsclient.Options{Region: o.replicaRegion, S3Endpoint: o.replica})
		if err != nil {
			return err
		}
		replica = rc.S3()
	}
	p := cli.Printer{Out: g.stdout, JSON: o.json}
	openApplier := func() (*recovery.Applier, func(), error) {
		l, err := ledger.Open(ctx, o.ledger, ledger.WithClock(g.now))
		if err != nil {
			return nil, nil, err
		}
		ap := &recovery.Applier{API: api, Ledger: l, Concurrency: o.concurrency, ReplicaBucket: o.replicaBucket, Progress: progress(g.stderr)}
		if replica != nil {
			ap.Replica = replica
		}
		return ap, func() { l.Close() }, nil
	}
	if o.resume != "" {
		ap, closeFn, err := openApplier()
		if err != nil {
			return err
		}
		defer closeFn()
		sum, err := ap.Resume(ctx, o.resume)
		if err != nil {
			return err
		}
		if err := seal(ctx, g, cfg, nil, sum); err != nil {
			return err
		}
		return finish(p, result{Summary: sum})
	}

	t, err := recovery.ParseSince(o.since, g.now())
	if err != nil {
		return cli.UsageError{Err: err}
	}
	fmt.Fprintf(g.stderr, "recovering s3://%s to its state at %s\n", o.bucket, t.Format(time.RFC3339Nano))
	ver, err := api.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(o.bucket)})
	if err != nil {
		return fmt.Errorf("read versioning of s3://%s: %w", o.bucket, err)
	}
	if ver.Status != types.BucketVersioningStatusEnabled && ver.Status != types.BucketVersioningStatusSuspended {
		return fmt.Errorf("s3://%s has never had versioning enabled: there are no earlier versions to recover; only a replica or a backup can help", o.bucket)
	}
	po := recovery.PlanOptions{Prefix: o.prefix, RemoveNew: o.removeNew, ReplicaBucket: o.replicaBucket}
	if replica != nil {
		po.Replica = replica
	}
	if cfg != nil {
		if po.Evidence, err = preservedList(ctx, *cfg, o.bucket, t); err != nil {
			return err
		}
		if po.Evidence == nil {
			fmt.Fprintf(g.stderr, "no version list of s3://%s preserved at or before %s: planning from the live listing alone\n", o.bucket, t.Format(time.RFC3339))
		} else {
			fmt.Fprintf(g.stderr, "guided by %s\n", po.Evidence.Name)
		}
	}
	plan, err := recovery.MakePlan(ctx, api, o.bucket, t, po)
	if err != nil {
		return err
	}
	if o.planOut != "" {
		b, _ := json.MarshalIndent(plan, "", "  ")
		if err := os.WriteFile(o.planOut, b, 0o600); err != nil {
			return err
		}
	}
	if !o.json {
		printPlan(g.stdout, plan)
	}
	if o.batchManifest != "" {
		f, err := os.OpenFile(o.batchManifest, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		n, err := recovery.WriteBatchManifest(f, plan)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stderr, "%d copy action(s) written to %s for an S3 Batch Operations copy job; recover applies the rest\n", n, o.batchManifest)
		plan = plan.WithoutCopies()
	}
	changes := 0
	for _, a := range plan.Actions {
		if a.Kind != recovery.ReportNew {
			changes++
		}
	}
	if o.dryRun || changes == 0 {
		if o.json {
			return p.Result(result{Plan: plan, DryRun: o.dryRun}, nil)
		}
		if changes == 0 {
			fmt.Fprintln(g.stdout, "nothing to change")
		}
		return nil
	}
	if !o.yes {
		f, ok := g.stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return cli.Usagef("%d change(s) planned; without a terminal to confirm on, pass --yes to apply them", changes)
		}
		fmt.Fprintf(g.stderr, "apply %d change(s) to s3://%s? [y/N] ", changes, o.bucket)
		answer, _ := bufio.NewReader(f).ReadString('\n')
		if strings.TrimSpace(strings.ToLower(answer)) != "y" {
			return cli.Usagef("not confirmed; nothing was changed")
		}
	}
	ap, closeFn, err := openApplier()
	if err != nil {
		return err
	}
	defer closeFn()
	job := "recover-" + custody.NewRunID(g.now())
	ap.Journalled = func(job string) {
		fmt.Fprintf(g.stderr, "job %s (resume with --resume %s --ledger %s)\n", job, job, o.ledger)
	}
	sum, err := ap.Start(ctx, job, plan)
	if err != nil {
		return err
	}
	if err := seal(ctx, g, cfg, plan, sum); err != nil {
		return err
	}
	return finish(p, result{Plan: plan, Summary: sum})
}

func finish(p cli.Printer, r result) error {
	s := r.Summary
	if err := p.Result(r, func(w io.Writer) {
		fmt.Fprintf(w, "job %s: %d delete marker(s) removed, %d version(s) copied back, %d restored from the replica, %d new key(s) hidden, %d reported, %d done before, %d failed\n",
			s.Job, s.MarkersRemoved, s.Copied, s.FromReplica, s.Hidden, s.Reported, s.Skipped, len(s.Failed))
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
			fmt.Fprintf(w, "PENDING %d archived version(s) are being restored (%s); run recover --resume %s when S3 has restored them\n",
				len(s.Pending), strings.Join(s.Pending, ", "), s.Job)
		}
		for _, a := range s.Unrecoverable {
			fmt.Fprintf(w, "UNRECOVERABLE %s version %s (ETag %s, %d bytes, %s): %s\n", a.Key, a.VersionID, a.ETag, a.Size, a.At.Format(time.RFC3339), a.Evidence)
		}
	}); err != nil {
		return err
	}
	if len(s.Failed) > 0 || len(s.Mismatched) > 0 || len(s.Unrecoverable) > 0 || len(s.Pending) > 0 {
		return cli.ErrFindings
	}
	return nil
}

// preservedList finds the newest version list of bucket that custody
// sealed at or before t, and opens its parts from the evidence store,
// each checked against its sealed SHA-256 as it is read.
func preservedList(ctx context.Context, cfg config.Config, bucket string, t time.Time) (*recovery.Evidence, error) {
	l, err := ledger.Open(ctx, cfg.Ledger)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	arts, err := l.LatestRunArtifacts(ctx, "versions", "/"+bucket+".versions.", t)
	if err != nil || len(arts) == 0 {
		return nil, err
	}
	ac, err := cli.StoreAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	store := ac.S3()
	ev := &recovery.Evidence{At: arts[0].StoredAt, Name: fmt.Sprintf("the version list preserved at %s (run %s)", arts[0].StoredAt.Format(time.RFC3339), arts[0].RunID)}
	for _, a := range arts {
		ev.Parts = append(ev.Parts, func(ctx context.Context) (io.ReadCloser, error) {
			out, err := store.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key), VersionId: aws.String(a.VersionID)})
			if err != nil {
				return nil, fmt.Errorf("read s3://%s/%s: %w", a.Bucket, a.Key, err)
			}
			return custody.VerifyingReader(out.Body, a.SHA256, "s3://"+a.Bucket+"/"+a.Key), nil
		})
	}
	return ev, nil
}

func printPlan(w io.Writer, p *recovery.Plan) {
	fmt.Fprintf(w, "plan for s3://%s/%s at %s: %d key(s) examined, %d unchanged\n", p.Bucket, p.Prefix, p.Target.Format(time.RFC3339Nano), p.Keys, p.Unchanged)
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
		}
	}
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
	run, err := ev.Chain.StartRun(ctx, "recover")
	if err != nil {
		return err
	}
	details := map[string]string{"job": sum.Job, "markersRemoved": fmt.Sprint(sum.MarkersRemoved), "copied": fmt.Sprint(sum.Copied),
		"fromReplica": fmt.Sprint(sum.FromReplica), "hidden": fmt.Sprint(sum.Hidden), "failed": fmt.Sprint(len(sum.Failed)), "mismatched": fmt.Sprint(len(sum.Mismatched))}
	records := map[string]any{"summary.json": sum}
	desc := "recovery job " + sum.Job + " (resumed)"
	if plan != nil {
		records["plan.json"] = plan
		details["bucket"], details["target"] = plan.Bucket, plan.Target.Format(time.RFC3339Nano)
		desc = fmt.Sprintf("recovery of s3://%s/%s to its state at %s", plan.Bucket, plan.Prefix, plan.Target.Format(time.RFC3339Nano))
	}
	for name, v := range records {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		key := custody.EventKey(cfg.Store.Prefix, ev.Chain.Stream(), g.now(), run.ID, name)
		if _, err := run.Put(ctx, key, bytes.NewReader(b), custody.PutOptions{Kind: "recovery-record", ContentType: "application/json"}); err != nil {
			return err
		}
	}
	m, err := run.Seal(ctx, custody.SealRequest{Event: custody.EventRecover, Description: desc, Details: details}, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "recovery sealed as manifest %d of stream %s\n", m.Seq, m.Stream)
	return nil
}

// progress prints "n/total actions" on a terminal, at most ten times a
// second; elsewhere it is silent.
func progress(w io.Writer) func(done, total int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	var mu sync.Mutex
	last := time.Time{}
	return func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(last) > 100*time.Millisecond || done == total {
			last = now
			fmt.Fprintf(w, "\rapplied %d/%d actions", done, total)
			if done == total {
				fmt.Fprintln(w)
			}
		}
	}
}
