package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody/ledger"
	recovery "github.com/custody-ir/custody/recover"
)

func newPostureCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "posture", Short: "Bucket security settings over time"}
	var bucket, since string
	diff := &cobra.Command{
		Use:   "diff --bucket B --since T",
		Short: "Print what changed in a bucket's security settings since T, and when",
		Args:  cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if bucket == "" || since == "" {
				return cli.Usagef("--bucket and --since are required")
			}
			t, err := recovery.ParseTime("--since", since, g.now())
			if err != nil {
				return cli.UsageError{Err: err}
			}
			cfg, err := g.loadConfig(cmd, nil)
			if err != nil {
				return err
			}
			l, err := ledger.Open(cmd.Context(), cfg.Ledger, ledger.WithClock(g.now))
			if err != nil {
				return err
			}
			defer l.Close()
			changes, err := l.PostureChanges(cmd.Context(), bucket, t)
			if err != nil {
				return err
			}
			if changes == nil {
				changes = []ledger.PostureChange{}
			}
			return g.printer().Result(changes, func(w io.Writer) {
				if len(changes) == 0 {
					fmt.Fprintf(w, "no changes to s3://%s since %s\n", bucket, t.Format(time.RFC3339))
				}
				for _, c := range changes {
					fmt.Fprintf(w, "%s  %-18s %s\n    before: %s\n    after:  %s\n", c.At.Format(time.RFC3339), c.Setting, c.Risk, c.Before, c.After)
				}
			})
		},
	}
	diff.Flags().StringVar(&bucket, "bucket", "", "monitored bucket")
	diff.Flags().StringVar(&since, "since", "", "RFC 3339 time or a duration back (7d)")
	cmd.AddCommand(diff)
	return cmd
}
