package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/internal/config"
)

// collectorKindsHelp lists every collector kind, one line each.
func collectorKindsHelp() string {
	var b strings.Builder
	for _, k := range collector.Kinds {
		fmt.Fprintf(&b, "  %-11s %s\n", k.Kind, k.Preserves)
	}
	return b.String()
}

func newCollectCommand(g *globals) *cobra.Command {
	var once bool
	var name string
	cmd := &cobra.Command{
		Use:   "collect --once [--collector NAME|KIND]",
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

Exit codes: 0 all succeeded, 1 a collector failed, 2 usage or configuration error,
3 could not start (the store or its lock), 130 interrupted.`,
		Example: `  custody collect --once                              # every configured collector
  custody collect --once --collector versions         # the version lists of every monitored bucket
  custody collect --once --collector posture:my-data  # one bucket's security settings
  custody --json collect --once --collector cloudtrail`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !once {
				return cli.Usagef("collect runs once and needs --once; the always-on agent is `custody agent`")
			}
			ctx := cmd.Context()
			cfg, err := g.loadConfig(cmd, nil)
			if err != nil {
				return err
			}
			ev, all, err := openCollectors(ctx, g, cfg, name)
			if err != nil {
				return err
			}
			defer ev.Close()
			if len(collector.Select(all, name)) == 0 {
				return cli.Usagef("no collector named %q is configured", name)
			}
			cs := collector.Resolve(ctx, all, name)
			if len(cs) == 0 {
				return cli.Usagef("no collector named %q was found", name)
			}
			var results []collector.Result
			var errs []error
			for _, c := range cs {
				res, err := collector.RunOne(ctx, ev.Chain, c)
				results = append(results, res)
				if err != nil {
					errs = append(errs, err)
				}
			}
			if err := g.printer().Result(results, func(w io.Writer) {
				for _, r := range results {
					status := "ok"
					if r.Error != "" {
						status = "FAILED: " + r.Error
					}
					fmt.Fprintf(w, "%-40s run %s manifest %d, %d artifact(s), %d finding(s): %s\n", r.Collector, r.Run, r.Manifest, r.Artifacts, r.Findings, status)
				}
			}); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if len(errs) > 0 {
				fmt.Fprintln(g.stderr, "Error:", errors.Join(errs...))
				return cli.ErrFindings
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "run once and exit")
	cmd.Flags().StringVar(&name, "collector", "", "only this collector: a name (posture:<bucket>) or a kind (cloudtrail, config, posture, versions)")
	return cmd
}

// openCollectors opens the evidence store for writing and plans the
// configured collectors of the selected name or kind (all when empty),
// without discovering anything yet: a source that cannot be reached is
// that source's failure when it runs, not the command's.
func openCollectors(ctx context.Context, g *globals, cfg config.Config, only string) (*cli.Evidence, []collector.Collector, error) {
	ev, err := cli.OpenEvidence(ctx, cfg, g.now, g.stderr)
	if err != nil {
		return nil, nil, err
	}
	base, err := sourceAWS(ctx)
	if err != nil {
		ev.Close()
		return nil, nil, err
	}
	return ev, collector.Plan(ctx, base, cfg, ev.Ledger, g.now, only), nil
}
