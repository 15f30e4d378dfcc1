package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody/awsclient"
	recovery "github.com/custody-ir/custody/recover"
)

type globals struct {
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
}

// recoverOptions are the command's flags.
type recoverOptions struct {
	bucket, since, prefix                 string
	dryRun, yes, removeNew, json          bool
	replicaBucket, replicaRegion, replica string
	concurrency                           int
	resume, planOut, batchManifest        string
	config                                string
}

func (o *recoverOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.bucket, "bucket", "", "bucket to recover (required)")
	fs.StringVar(&o.since, "since", "", "the time T to restore to: RFC 3339 with offset (2026-11-20T14:00:00Z) or a duration back from now (36h, 7d)")
	fs.StringVar(&o.prefix, "prefix", "", "only keys under this prefix")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the plan and change nothing")
	fs.BoolVar(&o.yes, "yes", false, "apply without asking (required without a terminal)")
	fs.StringVar(&o.replicaBucket, "replica-bucket", "", "Cross-Region-Replication replica to take permanently deleted versions from")
	fs.StringVar(&o.replicaRegion, "replica-region", "", "region of the replica bucket")
	fs.StringVar(&o.replica, "replica-endpoint", "", "S3 endpoint URL of the replica bucket")
	fs.BoolVar(&o.removeNew, "remove-new", false, "hide keys created after T behind a delete marker (reversible)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "S3 calls in flight at once")
	fs.StringVar(&o.resume, "resume", "", "resume the journalled job with this id")
	fs.StringVar(&o.planOut, "plan-out", "", "write the plan as JSON to this file")
	fs.StringVar(&o.batchManifest, "batch-manifest", "", "write the copy actions as an S3 Batch Operations CSV manifest")
	fs.BoolVar(&o.json, "json", false, "print the plan and summary as JSON")
	fs.StringVarP(&o.config, "config", "c", "", "custody configuration, for evidence-guided recovery and the ledger")
}

func (o *recoverOptions) validate() error {
	if o.resume == "" {
		if o.bucket == "" {
			return cli.Usagef("--bucket is required")
		}
		if o.since == "" {
			return cli.Usagef("--since is required")
		}
	}
	if o.replicaRegion != "" && o.replica != "" {
		return cli.Usagef("--replica-region and --replica-endpoint are alternatives; give one")
	}
	if (o.replicaRegion != "" || o.replica != "") && o.replicaBucket == "" {
		return cli.Usagef("--replica-region and --replica-endpoint need --replica-bucket")
	}
	if o.concurrency < 1 || o.concurrency > 1024 {
		return cli.Usagef("--concurrency must be between 1 and 1024, got %d", o.concurrency)
	}
	return nil
}

// errNotAvailable is returned once the arguments and the bucket check out:
// planning and applying are not part of this build yet.
var errNotAvailable = errors.New("planning and applying a recovery are not available in this build; nothing was changed")

func newRootCommand(g *globals) *cobra.Command {
	var o recoverOptions
	cmd := &cobra.Command{
		Use:   "recover --bucket B --since T",
		Short: "Put a versioned S3 bucket back as it was at time T",
		Long: `recover puts a versioned bucket back as it was at T: it removes delete
markers placed after T, copies back the versions current at T, and takes
permanently deleted versions from a Cross-Region-Replication replica.

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
			t, err := recovery.ParseSince(o.since, g.now())
			if err != nil {
				return cli.UsageError{Err: err}
			}
			fmt.Fprintf(g.stderr, "recovering s3://%s to its state at %s\n", o.bucket, t.Format(time.RFC3339Nano))
			ac, err := awsclient.Load(cmd.Context(), awsclient.Options{})
			if err != nil {
				return err
			}
			ver, err := ac.S3().GetBucketVersioning(cmd.Context(), &s3.GetBucketVersioningInput{Bucket: aws.String(o.bucket)})
			if err != nil {
				return fmt.Errorf("read versioning of s3://%s: %w", o.bucket, err)
			}
			if ver.Status != types.BucketVersioningStatusEnabled && ver.Status != types.BucketVersioningStatusSuspended {
				return fmt.Errorf("s3://%s has never had versioning enabled: there are no earlier versions to recover; only a replica or a backup can help", o.bucket)
			}
			return errNotAvailable
		},
	}
	cmd.SetVersionTemplate("recover {{.Version}}\n")
	cmd.SetOut(g.stdout)
	cmd.SetErr(g.stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.UsageError{Err: err} })
	o.addFlags(cmd.Flags())
	return cmd
}
