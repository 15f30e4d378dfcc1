package main

import (
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/custody-ir/custody/cmd/internal/cli"
)

type globals struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
	// interactive is whether stdin is a terminal to confirm on.
	interactive bool
	aws         cli.AWSFlags
}

// recoverOptions are the command's flags.
type recoverOptions struct {
	bucket, since, prefix                 string
	dryRun, yes, removeNew, json, force   bool
	replicaBucket, replicaRegion, replica string
	concurrency                           int
	resume, planOut, batchManifest        string
	ledger, config                        string
	ledgerSet                             bool
	// recover --actor: undo one principal's writes since T.
	accessKeys, principals []string
	until                  string
}

func (o *recoverOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.bucket, "bucket", "", "bucket to recover (required)")
	fs.StringVar(&o.since, "since", "", "the time T to restore to: RFC 3339 with offset (2026-11-20T14:00:00Z) or a duration back from now (36h, 7d)")
	fs.StringVar(&o.prefix, "prefix", "", "only keys under this prefix")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the plan and change nothing")
	fs.BoolVar(&o.yes, "yes", false, "apply without asking (required without a terminal)")
	fs.StringVar(&o.replicaBucket, "replica-bucket", "", "Cross-Region-Replication replica to take permanently deleted versions from")
	fs.StringVar(&o.replicaRegion, "replica-region", "", "region of the replica bucket (also signs requests to --replica-endpoint)")
	fs.StringVar(&o.replica, "replica-endpoint", "", "S3 endpoint URL of the replica bucket")
	fs.BoolVar(&o.removeNew, "remove-new", false, "hide keys created after T behind a delete marker (reversible)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "S3 calls in flight at once")
	fs.StringVar(&o.resume, "resume", "", "resume the journalled job with this id (asks, or needs --yes, as a new job does; with --dry-run lists what is left)")
	fs.StringVar(&o.planOut, "plan-out", "", "write the plan as JSON to this file")
	fs.StringVar(&o.batchManifest, "batch-manifest", "", "write the copy actions as an S3 Batch Operations CSV manifest")
	fs.BoolVar(&o.json, "json", false, "print the plan and summary as JSON")
	fs.StringVar(&o.ledger, "ledger", "", "SQLite journal of recovery jobs (resume needs the same one); default $XDG_STATE_HOME/custody/recover-journal.db (~/.local/state/custody/), or with --config the custody ledger")
	fs.BoolVar(&o.force, "force", false, "plan even with --since before the oldest version in the bucket (never lets recover change an evidence bucket)")
	fs.StringVarP(&o.config, "config", "c", "", "custody configuration: the recovery is sealed as a signed custody event in the evidence store")
	fs.StringArrayVar(&o.accessKeys, "access-key", nil, "undo only what this access key wrote since T, from the sealed CloudTrail data events (needs --config)")
	fs.StringArrayVar(&o.principals, "principal", nil, "undo only what this principal (ARN, role, role session or user name) wrote since T (needs --config)")
	fs.StringVar(&o.until, "until", "", "with --access-key or --principal: undo only writes up to this time (default now)")
}

func (o *recoverOptions) validate() error {
	if o.resume == "" {
		switch {
		case o.bucket == "" && o.since == "":
			return cli.Usagef("required flags not set: --bucket, --since (or --resume JOB)")
		case o.bucket == "":
			return cli.Usagef("--bucket is required")
		case o.since == "":
			return cli.Usagef("--since is required")
		}
	}
	if (o.replicaRegion != "" || o.replica != "") && o.replicaBucket == "" {
		return cli.Usagef("--replica-region and --replica-endpoint need --replica-bucket")
	}
	if o.resume != "" && (o.planOut != "" || o.batchManifest != "") {
		return cli.Usagef("--plan-out and --batch-manifest make a new plan; --resume %s applies the journalled one", o.resume)
	}
	if o.actorMode() && o.resume == "" {
		switch {
		case o.config == "":
			return cli.Usagef("--access-key and --principal read the actor's writes from the sealed evidence: give --config")
		case o.replicaBucket != "" || o.removeNew:
			return cli.Usagef("--access-key and --principal undo the actor's writes only: --replica-bucket and --remove-new do not apply")
		case o.batchManifest != "":
			return cli.Usagef("--batch-manifest: an S3 Batch Operations copy cannot check that the actor's version is still current, so recover --access-key/--principal applies every action itself")
		}
	}
	if o.actorMode() && o.resume != "" {
		return cli.Usagef("--resume %s applies the journalled plan as it was made: --access-key and --principal do not apply", o.resume)
	}
	if o.until != "" && !o.actorMode() {
		return cli.Usagef("--until goes with --access-key or --principal")
	}
	if o.concurrency < 1 || o.concurrency > 1024 {
		return cli.Usagef("--concurrency must be between 1 and 1024, got %d", o.concurrency)
	}
	return nil
}

func newRootCommand(g *globals) *cobra.Command {
	var o recoverOptions
	cmd := &cobra.Command{
		Use: "recover --bucket B --since T",
		Example: `  # the plan, changing nothing
  recover --bucket customer-data --since 36h --dry-run

  # apply it (asks on a terminal; --yes without one), hiding keys created after T
  recover --bucket customer-data --since 2026-11-20T14:00:00Z --remove-new --yes

  # take versions deleted for good from the Cross-Region-Replication replica, guided by the evidence
  recover --bucket customer-data --since 36h --replica-bucket customer-data-dr --replica-region us-west-2 --config custody.yaml --yes

  # undo what one access key wrote since T, and nothing else, from the sealed CloudTrail data events
  recover --bucket customer-data --since 36h --access-key AKIAIOSFODNN7EXAMPLE --config custody.yaml --dry-run

  # continue an interrupted job
  recover --resume recover-20261120T140312Z-1a2b3c4d --yes`,
		Short: "Put a versioned S3 bucket back as it was at time T",
		Long: `recover puts a versioned bucket back as it was at T: it removes delete
markers placed after T, copies back the versions current at T, and takes
permanently deleted versions from a Cross-Region-Replication replica.

With --access-key or --principal (and --config), recover undoes what that
actor wrote since T, and nothing else: its delete markers are removed, a
version it wrote that is still current is superseded by a copy of the one
before, a key someone else wrote after it is left alone and reported as a
conflict, and a change the evidence does not cover is reported, never
guessed. The actor's versions are never deleted: they are evidence.

--dry-run never changes anything, with or without --resume. Applying, new or
resumed, asks on a terminal and otherwise needs --yes. A bucket that holds a
custody evidence store (or is store.bucket in --config) is refused, always.

AWS access follows the SDK's standard chain: profiles, AWS_REGION,
AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 (with path-style addressing).

` + cli.ExitCodesHelp,
		Version:       cli.Version(),
		Args:          cli.NoArgs(),
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			o.ledgerSet = cmd.Flags().Changed("ledger")
			return runRecover(cmd.Context(), g, &o)
		},
	}
	cmd.SetVersionTemplate("recover {{.Version}}\n")
	cmd.SetOut(g.stdout)
	cmd.SetErr(g.stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.UsageError{Err: err} })
	o.addFlags(cmd.Flags())
	g.aws.AddFlags(cmd.Flags())
	cmd.PreRunE = g.aws.PreRun(g.stderr)
	return cmd
}
