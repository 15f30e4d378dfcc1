package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
)

var storeBindings = map[string]string{"store.bucket": "bucket", "store.region": "region", "store.endpoint": "endpoint"}

func newStoreCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Set up and check the Object Lock evidence bucket",
	}
	cmd.PersistentFlags().String("bucket", "", "evidence bucket (overrides store.bucket)")
	cmd.PersistentFlags().String("region", "", "evidence bucket region (overrides store.region)")
	cmd.PersistentFlags().String("endpoint", "", "S3 endpoint URL (overrides store.endpoint)")
	cmd.AddCommand(newStoreInitCommand(g), newStoreCheckCommand(g))
	return cmd
}

// storeInitOptions are store init's flags (the store flags are
// configuration overrides).
type storeInitOptions struct{ yes bool }

func newStoreInitCommand(g *globals) *cobra.Command {
	var o storeInitOptions
	cmd := &cobra.Command{
		Use: "init",
		Example: `  custody store init                 # COMPLIANCE retention: asks first on a terminal
  custody store init --yes           # the same, without a terminal (automation)
  custody store init --bucket evidence-123 --region eu-west-1`,
		Short: "Create the evidence bucket with Object Lock, or adopt an existing one",
		Long: `Create the evidence bucket with Object Lock enabled, set its default
retention to store.retention (unless the bucket's own default is already at
least as strict: retention is never weakened) and block public access.
An existing bucket without Object Lock is refused.

With COMPLIANCE retention, every object written to the bucket can be
deleted by no one, the account's root user included, until its retention
ends: init says so and asks for confirmation on a terminal; elsewhere it
needs --yes. GOVERNANCE retention needs no confirmation.`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStoreInit(cmd.Context(), o, g.deps(cmd, storeBindings))
		},
	}
	cmd.Flags().BoolVar(&o.yes, "yes", false, "do not ask for confirmation of COMPLIANCE retention")
	return cmd
}

// runStoreInit creates or adopts the evidence bucket, after confirming a
// COMPLIANCE retention.
func runStoreInit(ctx context.Context, o storeInitOptions, d deps) error {
	cfg, err := d.config()
	if err != nil {
		return err
	}
	if err := confirmRetention(ctx, d.stderr, cfg.Store, o.yes); err != nil {
		return err
	}
	ac, err := cli.StoreAWS(ctx, cfg)
	if err != nil {
		return err
	}
	res, err := custody.InitBucket(ctx, ac.S3(), cfg.Store)
	if err != nil {
		return err
	}
	return d.printer().Result(res, func(w io.Writer) { printStoreInit(w, cfg.Store, res) })
}

func printStoreInit(w io.Writer, st config.Store, res custody.InitResult) {
	verb := "adopted"
	if res.Created {
		verb = "created"
	}
	fmt.Fprintf(w, "evidence bucket s3://%s %s with Object Lock\n", st.Bucket, verb)
	if res.RetentionSet {
		fmt.Fprintf(w, "default retention set to %s %d days\n", st.Retention.Mode, st.Retention.Days)
	} else {
		fmt.Fprintf(w, "default retention kept: %s\n", res.RetentionKept)
	}
	if res.PublicAccessNote != "" {
		fmt.Fprintf(w, "note: %s\n", res.PublicAccessNote)
	}
}

// confirmRetention says, before anything is created, what a COMPLIANCE
// retention means, and asks for confirmation on a terminal unless yes.
// Without a terminal and without yes it is a usage error.
func confirmRetention(ctx context.Context, stderr io.Writer, st config.Store, yes bool) error {
	warning := custody.RetentionWarning(st)
	if warning == "" {
		return nil
	}
	fmt.Fprintln(stderr, "warning:", warning)
	if yes {
		return nil
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return cli.Usagef("COMPLIANCE retention cannot be undone; without a terminal to confirm on, pass --yes (nothing was created)")
	}
	return cli.Confirm(ctx, os.Stdin, stderr, fmt.Sprintf("create or adopt s3://%s with this retention?", st.Bucket), "not confirmed; nothing was created")
}

type storeCheckResult struct {
	Bucket   string           `json:"bucket"`
	OK       bool             `json:"ok"`
	Findings custody.Findings `json:"findings"`
}

// storeCheckOptions are store check's flags: none of its own (the store
// flags are configuration overrides).
type storeCheckOptions struct{}

func newStoreCheckCommand(g *globals) *cobra.Command {
	var o storeCheckOptions
	return &cobra.Command{
		Use: "check",
		Example: `  custody store check
  custody --json store check`,
		Short: "Check that the evidence bucket keeps evidence as configured",
		Long: `Check versioning, Object Lock, default retention (at least as strict as
store.retention) and the public access block of the evidence bucket. A
setting that cannot be read (wrong keys, access denied, no network) is
"could not check: <operation>: <cause>", never a finding about the bucket.
Exit codes: 0 all holds, 1 failures found, 2 configuration error, 3 the
bucket could not be checked.`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStoreCheck(cmd.Context(), o, g.deps(cmd, storeBindings))
		},
	}
}

// runStoreCheck checks the evidence bucket's settings, as findings.
func runStoreCheck(ctx context.Context, _ storeCheckOptions, d deps) error {
	cfg, err := d.config()
	if err != nil {
		return err
	}
	ac, err := cli.StoreAWS(ctx, cfg)
	if err != nil {
		return err
	}
	fs, err := custody.CheckBucket(ctx, ac.S3(), cfg.Store)
	if err != nil {
		return err
	}
	res := storeCheckResult{Bucket: cfg.Store.Bucket, OK: fs.Failures() == 0, Findings: fs}
	if res.Findings == nil {
		res.Findings = custody.Findings{}
	}
	if err := d.printer().Result(res, func(w io.Writer) { printStoreCheck(w, res) }); err != nil {
		return err
	}
	if !res.OK {
		return cli.ErrFindings
	}
	return nil
}

func printStoreCheck(w io.Writer, res storeCheckResult) {
	for _, f := range res.Findings {
		fmt.Fprintln(w, f)
	}
	if res.OK {
		fmt.Fprintf(w, "s3://%s keeps evidence as configured\n", res.Bucket)
	}
}
