package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/search"
)

// timelineOptions are timeline's flags.
type timelineOptions struct {
	bucket, since, until string
	html                 bool
}

// timelineResult is timeline's --json output.
type timelineResult struct {
	Bucket   string           `json:"bucket"`
	Since    time.Time        `json:"since"`
	Until    time.Time        `json:"until"`
	Entries  []search.Entry   `json:"entries"`
	Stats    search.Stats     `json:"stats"`
	Problems []search.Problem `json:"problems"`
}

func newTimelineCommand(g *globals) *cobra.Command {
	var o timelineOptions
	cmd := &cobra.Command{
		Use: "timeline --bucket B --since T",
		Example: `  custody timeline --bucket customer-data --since 7d
  custody timeline --bucket customer-data --since 2026-11-20T00:00:00Z --html > timeline.html
  custody --json timeline --bucket customer-data --since 48h`,
		Short: "One ordered account of an incident on a bucket, from the sealed evidence",
		Long: `Print, in time order, everything the evidence holds about a bucket since T:
the calls on it that CloudTrail recorded (management events: policy, ACL,
public access block, lifecycle, replication, versioning, Object Lock; data
events: object reads and writes), the changes the posture collector saw in
its security settings, and the IAM and KMS changes of its account. Each
posture change is joined to the recorded call that caused it: who, from
where, with which access key.

Events come from the sealed CloudTrail logs, read as custody search reads
them (each file hashed against its manifest); changes from the ledger.
--html writes one self-contained page (no script, no outside resource) with
the entries and a histogram of activity per principal, to attach to a
report. A file that cannot be believed is reported and exits 1.`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return runTimeline(cmd.Context(), o, g.deps(cmd, nil)) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.bucket, "bucket", "", "the bucket (required)")
	fs.StringVar(&o.since, "since", "", "RFC 3339 time or a duration back (7d); required")
	fs.StringVar(&o.until, "until", "", "RFC 3339 time or a duration back (default now)")
	fs.BoolVar(&o.html, "html", false, "write the timeline as one self-contained HTML page")
	return cmd
}

func runTimeline(ctx context.Context, o timelineOptions, d deps) error {
	if o.bucket == "" || o.since == "" {
		return cli.Usagef("--bucket and --since are required")
	}
	if o.html && d.json {
		return cli.Usagef("--json and --html are alternatives: give one")
	}
	now := d.now()
	since, until, err := parseWindow(o.since, o.until, now)
	if err != nil {
		return err
	}
	cfg, err := d.config()
	if err != nil {
		return err
	}
	src, err := openSearchSource(ctx, d, cfg, false, false)
	if err != nil {
		return err
	}
	defer src.close()
	files, _, err := search.Select(ctx, src.catalog, since, until, time.Hour)
	if err != nil {
		return err
	}
	var recs []search.Record
	f := search.Filter{Buckets: []string{o.bucket}, Since: since, Until: until}
	sr, err := src.searcher(ctx, f)
	if err != nil {
		return err
	}
	st, problems, err := sr.Run(ctx, files, f, func(r search.Record) error { recs = append(recs, r); return nil })
	if err != nil {
		return err
	}
	if src.manifests != nil {
		problems = append(problems, src.manifests.Problems()...)
	}
	in := search.TimelineInput{Bucket: o.bucket, Records: recs}
	if src.ledger != nil {
		accounts, regions := bucketAccounts(cfg, o.bucket)
		if in.Posture, in.State, err = search.LedgerChanges(ctx, src.ledger, o.bucket, accounts, regions, since); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(d.stderr, "no ledger (%s): the timeline has the recorded calls only, not the posture, IAM and KMS changes\n", cfg.Ledger)
	}
	events, eventProblems := custodyEvents(ctx, d, cfg, src, since, until)
	in.Events = events
	problems = append(problems, eventProblems...)
	es := search.Timeline(in)
	res := timelineResult{Bucket: o.bucket, Since: since.UTC(), Until: until.UTC(), Entries: es, Stats: st, Problems: append([]search.Problem{}, problems...)}
	if res.Entries == nil {
		res.Entries = []search.Entry{}
	}
	if o.html {
		if err := search.WriteHTML(d.stdout, o.bucket, since, until, es, cli.Version(), now); err != nil {
			return err
		}
	} else if err := d.printer().Result(res, func(w io.Writer) { printTimeline(w, res) }); err != nil {
		return err
	}
	for _, p := range res.Problems {
		fmt.Fprintf(d.stderr, "custody timeline: %s: %s\n", p.Object, p.Message)
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%w: %d file(s) could not be believed or read, so the timeline is incomplete", cli.ErrFindings, len(res.Problems))
	}
	return nil
}

// bucketAccounts are the accounts configured with the bucket (all of them
// when none is), and their regions: whose IAM and KMS changes belong in
// its timeline.
func bucketAccounts(cfg config.Config, bucket string) (accounts, regions []string) {
	for pass := 0; pass < 2 && len(accounts) == 0; pass++ {
		for _, a := range cfg.Sources.Accounts {
			has := pass == 1
			for _, b := range a.Buckets {
				has = has || b == bucket
			}
			if has {
				accounts = append(accounts, a.ID)
				regions = append(regions, a.Regions...)
			}
		}
	}
	return accounts, regions
}

func printTimeline(w io.Writer, r timelineResult) {
	fmt.Fprintf(w, "timeline of s3://%s from %s to %s: %d entries\n", r.Bucket, r.Since.Format(time.RFC3339), r.Until.Format(time.RFC3339), len(r.Entries))
	for _, e := range r.Entries {
		fmt.Fprintf(w, "%s  %-16s %s\n", e.Time.UTC().Format(time.RFC3339), e.Kind, e.Summary)
	}
}

// custodyEvents are custody's own events (freezes, containments,
// recoveries) sealed between since and until, from the manifests that
// verify; a manifest that does not is a problem, and its event is left
// out.
func custodyEvents(ctx context.Context, d deps, cfg config.Config, src *searchSource, since, until time.Time) ([]custody.SealedEvent, []search.Problem) {
	v, problem, err := eventsVerifier(ctx, d, cfg, src)
	if err != nil {
		fmt.Fprintf(d.stderr, "custody timeline: custody's own events (freeze, contain, recover) are left out: %v\n", err)
		return nil, nil
	}
	if problem != nil {
		return nil, []search.Problem{*problem}
	}
	all, findings, err := v.Events(ctx)
	var problems []search.Problem
	if err != nil {
		problems = append(problems, search.Problem{Object: "s3://" + cfg.Store.Bucket, Message: "custody's own events: " + err.Error()})
	}
	for _, f := range findings {
		if f.Severity == custody.SeverityFailure {
			problems = append(problems, search.Problem{Object: f.Object, Message: string(f.Kind) + ": " + f.Message})
		}
	}
	var out []custody.SealedEvent
	for _, e := range all {
		if !e.SealedAt.Before(since) && !e.SealedAt.After(until) {
			out = append(out, e)
		}
	}
	return out, problems
}

// eventsVerifier is the verifier of custody's own events: the one that
// already verified the manifests to list the sealed logs, when the search
// had no ledger (so the store is verified once), else a new one. err
// means no trust is configured; problem, that the store cannot be read.
func eventsVerifier(ctx context.Context, d deps, cfg config.Config, src *searchSource) (*custody.Verifier, *search.Problem, error) {
	if src.manifests != nil {
		return src.manifests.Verifier, nil, nil
	}
	trust, err := custody.ConfiguredTrust(ctx, cfg, d.getenv)
	if err != nil {
		return nil, nil, err
	}
	ac, err := cli.StoreAWS(ctx, cfg)
	if err != nil {
		return nil, &search.Problem{Object: "s3://" + cfg.Store.Bucket, Message: err.Error()}, nil
	}
	v, err := cli.Verifier(ac, cfg, trust, src.ledger, d.now)
	if err != nil {
		return nil, &search.Problem{Object: "s3://" + cfg.Store.Bucket, Message: err.Error()}, nil
	}
	return v, nil, nil
}
