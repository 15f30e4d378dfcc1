package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/custody/config"
)

func newCollectCommand(g *globals) *cobra.Command {
	var once bool
	var name string
	cmd := &cobra.Command{
		Use:   "collect --once [--collector NAME]",
		Short: "Run every configured collector (or one) once, and exit",
		Long: `Run the configured collectors once, each as its own sealed run: bucket security
settings (posture:<bucket>) and object version lists (versions:<bucket>) of every
monitored bucket. --collector takes a collector's name or a kind (posture,
versions). A collector that fails does not stop the others; what it stored is
sealed with the failure recorded.

Exit codes: 0 all succeeded, 1 a collector failed, 2 usage or configuration error.`,
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
			ev, all, err := openCollectors(ctx, g, cfg)
			if err != nil {
				return err
			}
			defer ev.Close()
			cs := collector.Select(all, name)
			if len(cs) == 0 {
				return cli.Usagef("no collector named %q is configured", name)
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
			if len(errs) > 0 {
				fmt.Fprintln(g.stderr, "Error:", errors.Join(errs...))
				return cli.ErrFindings
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "run once and exit")
	cmd.Flags().StringVar(&name, "collector", "", "only this collector (name or kind)")
	return cmd
}

// openCollectors opens the evidence store for writing and builds every
// configured collector.
func openCollectors(ctx context.Context, g *globals, cfg config.Config) (*cli.Evidence, []collector.Collector, error) {
	ev, err := cli.OpenEvidence(ctx, cfg, g.now, g.stderr)
	if err != nil {
		return nil, nil, err
	}
	base, err := sourceAWS(ctx)
	if err == nil {
		var cs []collector.Collector
		if cs, err = collector.Build(ctx, base, cfg, ev.Ledger, g.now); err == nil {
			return ev, cs, nil
		}
	}
	ev.Close()
	return nil, nil, err
}
