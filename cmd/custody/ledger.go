package main

import (
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

func newLedgerCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Inspect the local ledger",
	}
	var path string
	info := &cobra.Command{
		Use: "info [--ledger FILE]",
		Example: `  custody ledger info                              # the configured ledger
  custody ledger info --ledger /var/lib/custody/ledger.db   # any ledger file, no config needed`,
		Short: "Open (and migrate) the ledger and print its schema version and row counts",
		Long: `Open (and migrate) the ledger and print its schema version and row counts.
With --ledger no configuration is needed; without it the ledger is the
configuration's ledger: key.`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				cfg, err := g.loadConfig(cmd, nil)
				if err != nil {
					return err
				}
				path = cfg.Ledger
			}
			l, err := ledger.Open(cmd.Context(), path, ledger.WithClock(g.now))
			if err != nil {
				return err
			}
			defer l.Close()
			st, err := l.Stats(cmd.Context())
			if err != nil {
				return err
			}
			res := ledgerInfoResult{Path: l.Path(), Schema: st.Schema, Tables: st.Tables}
			return g.printer().Result(res, func(w io.Writer) {
				fmt.Fprintf(w, "ledger %s, schema %d\n", res.Path, res.Schema)
				for _, t := range res.Tables {
					fmt.Fprintf(w, "  %-18s %d\n", t.Name, t.Rows)
				}
			})
		},
	}
	info.Flags().StringVar(&path, "ledger", "", "ledger file (no configuration needed; overrides ledger:)")
	cmd.AddCommand(info)
	return cmd
}
