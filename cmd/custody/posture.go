package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	recovery "github.com/custody-ir/custody/recover"
)

// postureDiffResult is posture diff's --json output.
type postureDiffResult struct {
	Bucket  string          `json:"bucket"`
	Since   time.Time       `json:"since"`
	Changes []postureChange `json:"changes"`
}

// postureChange is one change, with the setting's values before and
// after as the JSON the collector read (null where it was absent).
type postureChange struct {
	At      time.Time       `json:"at"`
	Setting string          `json:"setting"`
	Risk    string          `json:"risk,omitempty"`
	Before  json.RawMessage `json:"before"`
	After   json.RawMessage `json:"after"`
	RunID   string          `json:"runId"`
}

// postureDiffOptions are posture diff's flags.
type postureDiffOptions struct{ bucket, since string }

func newPostureCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "posture", Short: "Bucket security settings over time"}
	var o postureDiffOptions
	diff := &cobra.Command{
		Use: "diff --bucket B --since T",
		Example: `  custody posture diff --bucket customer-data --since 7d
  custody --json posture diff --bucket customer-data --since 2026-11-20T00:00:00Z`,
		Short: "Print what changed in a bucket's security settings since T, and when",
		Long: `Print what changed in a monitored bucket's security settings since T, and
when, from the snapshots the posture collector recorded in the ledger.

A bucket the ledger holds no snapshot of (not monitored, or not collected
yet) is an error, exit 3 (nothing concluded), rather than "no changes".`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return runPostureDiff(cmd.Context(), o, g.deps(cmd, nil)) },
	}
	diff.Flags().StringVar(&o.bucket, "bucket", "", "monitored bucket")
	diff.Flags().StringVar(&o.since, "since", "", "RFC 3339 time or a duration back (7d)")
	cmd.AddCommand(diff)
	return cmd
}

// runPostureDiff prints the changes to a monitored bucket's security
// settings since --since, from the ledger's posture snapshots.
func runPostureDiff(ctx context.Context, o postureDiffOptions, d deps) error {
	if o.bucket == "" || o.since == "" {
		return cli.Usagef("--bucket and --since are required")
	}
	t, err := recovery.ParseTime("--since", o.since, d.now())
	if err != nil {
		return cli.UsageError{Err: err}
	}
	cfg, err := d.config()
	if err != nil {
		return err
	}
	l, err := ledger.Open(ctx, cfg.Ledger, ledger.WithClock(d.now))
	if err != nil {
		return err
	}
	defer l.Close()
	// The posture collector keeps each bucket's newest snapshot as its
	// cursor: without one there is nothing to compare against.
	if _, err := l.Cursor(ctx, "posture", o.bucket); errors.Is(err, ledger.ErrNotFound) {
		return noSnapshots(o.bucket, l.Path(), cfg)
	} else if err != nil {
		return err
	}
	changes, err := l.PostureChanges(ctx, o.bucket, t)
	if err != nil {
		return err
	}
	res := postureDiffResult{Bucket: o.bucket, Since: t.UTC(), Changes: []postureChange{}}
	for _, c := range changes {
		res.Changes = append(res.Changes, postureChange{At: c.At, Setting: c.Setting, Risk: c.Risk,
			Before: rawJSON(c.Before), After: rawJSON(c.After), RunID: c.RunID})
	}
	return d.printer().Result(res, func(w io.Writer) {
		if len(changes) == 0 {
			fmt.Fprintf(w, "no changes to s3://%s since %s\n", o.bucket, t.Format(time.RFC3339))
		}
		for _, c := range changes {
			fmt.Fprintf(w, "%s  %-18s %s\n    before: %s\n    after:  %s\n", c.At.Format(time.RFC3339), c.Setting, c.Risk, c.Before, c.After)
		}
	})
}

// noSnapshots explains why a bucket has no posture history: it is not
// monitored, or the posture collector has not run for it yet.
func noSnapshots(bucket, ledgerPath string, cfg config.Config) error {
	var monitored []string
	for _, a := range cfg.Sources.Accounts {
		monitored = append(monitored, a.Buckets...)
	}
	for _, b := range monitored {
		if b == bucket {
			return fmt.Errorf("s3://%s is monitored but the ledger %s holds no posture snapshot of it yet: run custody collect --once --collector posture", bucket, ledgerPath)
		}
	}
	list := "none are configured (sources.accounts[].buckets)"
	if len(monitored) > 0 {
		list = "the monitored buckets are " + strings.Join(monitored, ", ")
	}
	return fmt.Errorf("s3://%s is not monitored and the ledger %s holds no posture snapshot of it: %s", bucket, ledgerPath, list)
}

// rawJSON passes a recorded value through as JSON; a value that is not
// JSON (none should be) becomes a JSON string, and an empty one null.
func rawJSON(s string) json.RawMessage {
	switch {
	case s == "":
		return json.RawMessage("null")
	case json.Valid([]byte(s)):
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}
