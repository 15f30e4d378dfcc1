package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody/ledger"
)

func newLedgerCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Inspect the local ledger",
	}
	info := &cobra.Command{
		Use:   "info",
		Short: "Open (and migrate) the ledger and print its schema version and row counts",
		Args:  cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(cmd, map[string]string{"ledger": "ledger"})
			if err != nil {
				return err
			}
			l, err := ledger.Open(cmd.Context(), cfg.Ledger, ledger.WithClock(g.now))
			if err != nil {
				return err
			}
			defer l.Close()
			st, err := l.Stats(cmd.Context())
			if err != nil {
				return err
			}
			return g.printer().Result(st, func(w io.Writer) {
				fmt.Fprintf(w, "ledger %s, schema %d\n", l.Path(), st.Schema)
				for _, t := range st.Tables {
					fmt.Fprintf(w, "  %-18s %d\n", t.Name, t.Rows)
				}
			})
		},
	}
	info.Flags().String("ledger", "", "ledger path (overrides ledger:)")
	cmd.AddCommand(info)
	return cmd
}
