package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/internal/config"
	recovery "github.com/custody-ir/custody/recover"
)

// collectorKindsHelp lists every collector kind, one line each.
func collectorKindsHelp() string {
	var b strings.Builder
	for _, k := range collector.Kinds {
		fmt.Fprintf(&b, "  %-11s %s\n", k.Kind, k.Preserves)
	}
	return b.String()
}

// collectOptions are collect's flags.
type collectOptions struct {
	once  bool
	name  string // --collector
	since string // --since: reopen the window of collectors that keep one (cloudtrail)
}

func newCollectCommand(g *globals) *cobra.Command {
	var o collectOptions
	cmd := &cobra.Command{
		Use:   "collect --once [--collector NAME|KIND] [--since T]",
		Short: "Run every configured collector (or one) once, and exit",
		Long: `Run the configured collectors once, each as its own sealed run. The kinds:

` + collectorKindsHelp() + `
A collector's name is its kind and its scope: cloudtrail:<account>/<region>/<trail>,
config:<account>/<region>, posture:<bucket>, versions:<bucket>. --collector takes a
name or a kind, and only what it selects is discovered and run: trails not listed
in the configuration are found by DescribeTrails only when cloudtrail is selected.
A kind without a schedule (schedules: in the config) is not collected. A collector
that fails (a failed discovery included) does not stop the others; what it stored
is sealed with the failure recorded.

A trail's first run reaches back 90 days (or its lookback: in the config); later
runs start at its cursor. --since T (an RFC 3339 time, or a duration back such as
36h or 90d) reopens the CloudTrail window from T when T is before the cursor:
every digest and log file in it is collected, what earlier runs sealed is skipped.
It never starts after the cursor, so nothing since the last run is missed. Other
collectors ignore it; selecting none that keeps a window is a usage error.

Exit codes: 0 all succeeded, 1 a collector failed, 2 usage or configuration error,
3 could not start (the store or its lock), 130 interrupted.`,
		Example: `  custody collect --once                              # every configured collector
  custody collect --once --collector versions         # the version lists of every monitored bucket
  custody collect --once --collector posture:my-data  # one bucket's security settings
  custody --json collect --once --collector cloudtrail
  custody collect --once --collector cloudtrail --since 90d   # backfill 90 days of every trail`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return runCollect(cmd.Context(), o, g.deps(cmd, nil)) },
	}
	cmd.Flags().BoolVar(&o.once, "once", false, "run once and exit")
	cmd.Flags().StringVar(&o.name, "collector", "", "only this collector: a name (posture:<bucket>) or a kind (cloudtrail, config, posture, versions)")
	cmd.Flags().StringVar(&o.since, "since", "", "reopen the CloudTrail window from `T` (RFC 3339, or a duration back such as 90d); sealed files are skipped")
	return cmd
}

// runCollect runs the selected collectors once, each as its own sealed
// run; one that fails does not stop the others.
func runCollect(ctx context.Context, o collectOptions, d deps) error {
	if !o.once {
		return cli.Usagef("collect runs once and needs --once; the always-on agent is `custody agent`")
	}
	var since time.Time
	if o.since != "" {
		var err error
		if since, err = recovery.ParseSince(o.since, d.now()); err != nil {
			return cli.UsageError{Err: err}
		}
	}
	cfg, err := d.config()
	if err != nil {
		return err
	}
	ev, all, err := openCollectors(ctx, d, cfg, o.name)
	if err != nil {
		return err
	}
	defer ev.Close()
	cs, err := resolveCollectors(ctx, all, o.name)
	if err != nil {
		return err
	}
	if !since.IsZero() && collector.BackfillFrom(cs, since) == 0 {
		return cli.Usagef("--since reopens the window of cloudtrail collectors, and none is selected")
	}
	ix, stopIndex := startCollectIndex(ctx, ev, nil) // custody search's index (searchindex.go)
	results, errs := runCollectors(ctx, ev, cs, collector.IndexLogs(ix))
	stopIndex()
	if err := d.printer().Result(results, func(w io.Writer) { printCollect(w, results) }); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(errs) > 0 {
		fmt.Fprintln(d.stderr, "Error:", errors.Join(errs...))
		return cli.ErrFindings
	}
	return nil
}

// resolveCollectors are the planned collectors of the name or kind, their
// sources discovered; a name that selects nothing is a usage error.
func resolveCollectors(ctx context.Context, all []collector.Collector, name string) ([]collector.Collector, error) {
	if len(collector.Select(all, name)) == 0 {
		return nil, cli.Usagef("no collector named %q is configured", name)
	}
	cs := collector.Resolve(ctx, all, name)
	if len(cs) == 0 {
		return nil, cli.Usagef("no collector named %q was found", name)
	}
	return cs, nil
}

// runCollectors runs each collector once, collecting every failure.
func runCollectors(ctx context.Context, ev *cli.Evidence, cs []collector.Collector, opts ...collector.RunOption) ([]collector.Result, []error) {
	var results []collector.Result
	var errs []error
	for _, c := range cs {
		res, err := collector.RunOne(ctx, ev.Chain, c, opts...)
		results = append(results, res)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return results, errs
}

func printCollect(w io.Writer, results []collector.Result) {
	for _, r := range results {
		status := "ok"
		if r.Error != "" {
			status = "FAILED: " + r.Error
		}
		fmt.Fprintf(w, "%-40s run %s manifest %d, %d artifact(s), %d finding(s): %s\n", r.Collector, r.Run, r.Manifest, r.Artifacts, r.Findings, status)
	}
}

// openCollectors opens the evidence store for writing and plans the
// configured collectors of the selected name or kind (all when empty),
// without discovering anything yet: a source that cannot be reached is
// that source's failure when it runs, not the command's.
func openCollectors(ctx context.Context, d deps, cfg config.Config, only string) (*cli.Evidence, []collector.Collector, error) {
	ev, err := cli.OpenEvidence(ctx, cfg, d.now, d.stderr)
	if err != nil {
		return nil, nil, err
	}
	base, err := sourceAWS(ctx)
	if err != nil {
		ev.Close()
		return nil, nil, err
	}
	return ev, collector.Plan(ctx, base, cfg, ev.Ledger, d.now, only), nil
}
