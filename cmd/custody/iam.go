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

// iamDiffResult is iam diff's --json output.
type iamDiffResult struct {
	Account string      `json:"account"`
	Since   *time.Time  `json:"since"` // null: since the first snapshot
	Changes []iamChange `json:"changes"`
}

// iamChange is one item that changed between two sealed snapshots, with
// its values before and after as the collector recorded them (null where
// absent) and the manifest that sealed the snapshot that saw it.
type iamChange struct {
	At       time.Time       `json:"at"`
	What     string          `json:"what"` // user, accessKey, group, role, trust, policy
	Item     string          `json:"item"`
	Change   string          `json:"change"` // added, removed, changed
	Risk     string          `json:"risk,omitempty"`
	Before   json.RawMessage `json:"before"`
	After    json.RawMessage `json:"after"`
	RunID    string          `json:"runId"`
	Manifest *manifestRef    `json:"manifest"` // null while the run is not sealed
}

// manifestRef names a manifest by stream and sequence number.
type manifestRef struct {
	Stream string `json:"stream"`
	Seq    int64  `json:"seq"`
}

// iamDiffOptions are iam diff's flags.
type iamDiffOptions struct{ account, since string }

func newIAMCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "iam", Short: "An account's IAM state over time"}
	var o iamDiffOptions
	diff := &cobra.Command{
		Use: "diff --account A [--since T]",
		Example: `  custody iam diff --account 111122223333
  custody --json iam diff --account 111122223333 --since 7d`,
		Short: "Print what changed in an account's IAM state between its sealed snapshots, and when",
		Long: `Print what changed in a monitored account's IAM state between the snapshots
the iam collector sealed (users, access keys, groups, roles and the
principals their trust policies name, managed and inline policies and
their attachments): each change with when the snapshot that saw it was
taken and the manifest that sealed it. Without --since, every change since
the first snapshot.

An account the ledger holds no IAM snapshot of (not monitored, or not
collected yet) is an error, exit 3 (nothing concluded), rather than "no
changes".`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return runIAMDiff(cmd.Context(), o, g.deps(cmd, nil)) },
	}
	diff.Flags().StringVar(&o.account, "account", "", "monitored account id")
	diff.Flags().StringVar(&o.since, "since", "", "RFC 3339 time or a duration back (7d); default: since the first snapshot")
	cmd.AddCommand(diff)
	return cmd
}

// runIAMDiff prints the changes to an account's IAM state since --since,
// from the ledger's rows of the iam collector.
func runIAMDiff(ctx context.Context, o iamDiffOptions, d deps) error {
	if o.account == "" {
		return cli.Usagef("--account is required")
	}
	var since time.Time
	if o.since != "" {
		t, err := recovery.ParseTime("--since", o.since, d.now())
		if err != nil {
			return cli.UsageError{Err: err}
		}
		since = t.UTC()
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
	// The iam collector keeps the newest sealed snapshot's items as its
	// cursor: without one there is nothing compared yet.
	if _, err := l.Cursor(ctx, "iam", o.account); errors.Is(err, ledger.ErrNotFound) {
		return noIAMSnapshots(o.account, l.Path(), cfg)
	} else if err != nil {
		return err
	}
	changes, err := l.StateChanges(ctx, "iam", o.account, since)
	if err != nil {
		return err
	}
	res := iamDiffResult{Account: o.account, Changes: []iamChange{}}
	if !since.IsZero() {
		res.Since = &since
	}
	for _, c := range changes {
		ch := iamChange{At: c.At, What: iamWhat(c.Item), Item: c.Item, Change: c.Change, Risk: c.Risk,
			Before: rawJSON(c.Before), After: rawJSON(c.After), RunID: c.RunID}
		if c.Seq != 0 {
			ch.Manifest = &manifestRef{Stream: c.Stream, Seq: c.Seq}
		}
		res.Changes = append(res.Changes, ch)
	}
	return d.printer().Result(res, func(w io.Writer) {
		if len(res.Changes) == 0 {
			if since.IsZero() {
				fmt.Fprintf(w, "no changes to the IAM state of account %s since its first snapshot\n", o.account)
			} else {
				fmt.Fprintf(w, "no changes to the IAM state of account %s since %s\n", o.account, since.Format(time.RFC3339))
			}
		}
		for _, c := range res.Changes {
			sealed := "not sealed yet"
			if c.Manifest != nil {
				sealed = fmt.Sprintf("manifest %s #%d", c.Manifest.Stream, c.Manifest.Seq)
			}
			fmt.Fprintf(w, "%s  %-7s %-9s %s  (%s)\n", c.At.Format(time.RFC3339), c.Change, c.What, c.Item, sealed)
			if c.Risk != "" {
				fmt.Fprintf(w, "    risk:   %s\n", c.Risk)
			}
			if c.Change != "added" {
				fmt.Fprintf(w, "    before: %s\n", c.Before)
			}
			if c.Change != "removed" {
				fmt.Fprintf(w, "    after:  %s\n", c.After)
			}
		}
	})
}

// iamWhat is what an item of the IAM state is about: "user/alice" a
// user, "accessKey/alice/AKIA..." an access key, "role/r/principal/..."
// and "role/r/trust" trust, attachments and inline or managed policies
// a policy.
func iamWhat(item string) string {
	parts := strings.SplitN(item, "/", 4)
	switch {
	case parts[0] == "accessKey" || parts[0] == "policy":
		return parts[0]
	case len(parts) == 2:
		return parts[0]
	case len(parts) >= 3 && (parts[2] == "trust" || parts[2] == "principal"):
		return "trust"
	case len(parts) >= 3 && parts[2] == "groups":
		return parts[0]
	}
	return "policy"
}

// noIAMSnapshots explains why an account has no IAM history: it is not
// monitored, or the iam collector has not run for it yet.
func noIAMSnapshots(account, ledgerPath string, cfg config.Config) error {
	var monitored []string
	for _, a := range cfg.Sources.Accounts {
		monitored = append(monitored, a.ID)
		if a.ID == account {
			return fmt.Errorf("account %s is monitored but the ledger %s holds no IAM snapshot of it yet: run custody collect --once --collector iam", account, ledgerPath)
		}
	}
	list := "none are configured (sources.accounts)"
	if len(monitored) > 0 {
		list = "the monitored accounts are " + strings.Join(monitored, ", ")
	}
	return fmt.Errorf("account %s is not monitored and the ledger %s holds no IAM snapshot of it: %s", account, ledgerPath, list)
}
