package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/ledger"
)

// ledgerInfoResult is ledger info's --json output.
type ledgerInfoResult struct {
	Path   string              `json:"path"`
	Schema int                 `json:"schema"`
	Tables []ledger.TableCount `json:"tables"`
}

// ledgerInfoOptions are ledger info's flags.
type ledgerInfoOptions struct{ path string }

func newLedgerCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Inspect the local ledger",
	}
	var o ledgerInfoOptions
	info := &cobra.Command{
		Use: "info [--ledger FILE]",
		Example: `  custody ledger info                              # the configured ledger
  custody ledger info --ledger /var/lib/custody/ledger.db   # any ledger file, no config needed`,
		Short: "Open (and migrate) the ledger and print its schema version and row counts",
		Long: `Open (and migrate) the ledger and print its schema version and row counts.
With --ledger no configuration is needed; without it the ledger is the
configuration's ledger: key.`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return runLedgerInfo(cmd.Context(), o, g.deps(cmd, nil)) },
	}
	info.Flags().StringVar(&o.path, "ledger", "", "ledger file (no configuration needed; overrides ledger:)")
	cmd.AddCommand(info)
	return cmd
}

// runLedgerInfo opens (and migrates) the ledger of --ledger, else the
// configured one, and prints its schema version and row counts.
func runLedgerInfo(ctx context.Context, o ledgerInfoOptions, d deps) error {
	path, err := o.ledgerPath(d)
	if err != nil {
		return err
	}
	l, err := ledger.Open(ctx, path, ledger.WithClock(d.now))
	if err != nil {
		return err
	}
	defer l.Close()
	st, err := l.Stats(ctx)
	if err != nil {
		return err
	}
	res := ledgerInfoResult{Path: l.Path(), Schema: st.Schema, Tables: st.Tables}
	return d.printer().Result(res, func(w io.Writer) {
		fmt.Fprintf(w, "ledger %s, schema %d\n", res.Path, res.Schema)
		for _, t := range res.Tables {
			fmt.Fprintf(w, "  %-18s %d\n", t.Name, t.Rows)
		}
	})
}

// ledgerPath is --ledger, else the configuration's ledger: (only then is
// a configuration needed).
func (o ledgerInfoOptions) ledgerPath(d deps) (string, error) {
	if o.path != "" {
		return o.path, nil
	}
	cfg, err := d.config()
	return cfg.Ledger, err
}
