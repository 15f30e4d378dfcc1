package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/internal/awsclient"
	recovery "github.com/custody-ir/custody/recover"
)

func newCloudTrailCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "cloudtrail", Short: "Work with CloudTrail's own evidence",
		Example: "  custody cloudtrail validate --bucket B --account 111122223333 --region us-east-1 --trail T --start 7d"}
	cmd.AddCommand(newCloudTrailValidateCommand(g))
	return cmd
}

type ctValidateOptions struct {
	bucket, prefix, orgID, account, region, trail string
	start, end, publicKeys, sourceBucket          string
	concurrency                                   int
}

func (o *ctValidateOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.bucket, "bucket", "", "bucket holding the trail's files at their original keys (required)")
	fs.StringVar(&o.sourceBucket, "source-bucket", "", "the trail's own bucket, which digests name, when --bucket holds a copy")
	fs.StringVar(&o.prefix, "prefix", "", "the trail's S3 key prefix")
	fs.StringVar(&o.orgID, "org-id", "", "organization id, for organization trails")
	fs.StringVar(&o.account, "account", "", "account id (required)")
	fs.StringVar(&o.region, "region", "", "region whose digests to validate (required)")
	fs.StringVar(&o.trail, "trail", "", "trail name (required)")
	fs.StringVar(&o.start, "start", "", "start of the period (RFC 3339, or a duration back such as 7d) (required)")
	fs.StringVar(&o.end, "end", "", "end of the period (default now)")
	fs.StringVar(&o.publicKeys, "public-keys", "", "`FILE` of public keys saved from 'aws cloudtrail list-public-keys --output json' (default: call ListPublicKeys)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "objects read at once")
}

func newCloudTrailValidateCommand(g *globals) *cobra.Command {
	var o ctValidateOptions
	cmd := &cobra.Command{
		Use:   "validate --bucket B --account A --region R --trail T --start T1 [--end T2]",
		Short: "Validate a trail's digest chain and log files, like aws cloudtrail validate-logs, over any copy",
		Long: `Validate CloudTrail's signed digests and the log files they list, exactly as
CloudTrail defines them: each digest's location, its RSA signature (SHA256withRSA,
key chosen by fingerprint and valid at the digest's end time), the hourly chain
(every missing hour is reported on its own), and the SHA-256 of every log file's
uncompressed bytes. Works on the trail's own bucket or any bucket holding the
files at their original keys, and offline with --public-keys.

Exit codes: 0 valid, 1 findings, 2 usage error, 3 could not validate.`,
		Example: `  # validate a week of a trail's digests and logs in its own bucket
  custody cloudtrail validate --bucket org-trail-logs --account 111122223333 \
    --region us-east-1 --trail management --start 7d

  # offline, over a copy, with the public keys saved beforehand
  aws cloudtrail list-public-keys --output json > keys.json
  custody cloudtrail validate --bucket evidence-copy --source-bucket org-trail-logs \
    --account 111122223333 --region us-east-1 --trail management \
    --start 2026-11-01T00:00:00Z --end 2026-11-08T00:00:00Z --public-keys keys.json`,
		Args: cli.NoArgs(),
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return cli.RequireFlags(cmd.Flags(), "bucket", "account", "region", "trail", "start")
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCloudTrailValidate(cmd.Context(), o, g.deps(cmd, nil))
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// runCloudTrailValidate validates a trail's digests and log files in a
// bucket, with the public keys of --public-keys or from CloudTrail.
func runCloudTrailValidate(ctx context.Context, o ctValidateOptions, d deps) error {
	opts, err := o.options(d.now())
	if err != nil {
		return err
	}
	ac, err := awsclient.Load(ctx, awsclient.Options{Region: o.region})
	if err != nil {
		return err
	}
	if opts.Keys, err = o.keys(ctx, ac, opts); err != nil {
		return err
	}
	res, err := cloudtrail.Validate(ctx, cloudtrail.BucketSource{API: ac.S3(), Bucket: o.bucket}, opts)
	if err != nil {
		return err
	}
	if err := d.printer().Result(res, func(w io.Writer) { printValidation(w, opts, res) }); err != nil {
		return err
	}
	if !res.OK {
		return cli.ErrFindings
	}
	return nil
}

// keys are CloudTrail's public keys: from the --public-keys file (offline),
// else from ListPublicKeys for the period.
func (o *ctValidateOptions) keys(ctx context.Context, ac awsclient.Config, opts cloudtrail.Options) ([]cloudtrail.PublicKey, error) {
	if o.publicKeys == "" {
		return cloudtrail.FetchPublicKeys(ctx, ct.NewFromConfig(ac.AWS), opts.Start, opts.End)
	}
	b, err := os.ReadFile(o.publicKeys)
	if err != nil {
		return nil, cli.UsageError{Err: err}
	}
	keys, err := cloudtrail.ParsePublicKeys(b)
	if err != nil {
		return nil, cli.UsageError{Err: fmt.Errorf("%s: %w", o.publicKeys, err)}
	}
	return keys, nil
}

func (o *ctValidateOptions) options(now time.Time) (cloudtrail.Options, error) {
	start, err := recovery.ParseTime("--start", o.start, now)
	if err != nil {
		return cloudtrail.Options{}, cli.UsageError{Err: err}
	}
	end := now.UTC()
	if o.end != "" {
		if end, err = recovery.ParseTime("--end", o.end, now); err != nil {
			return cloudtrail.Options{}, cli.UsageError{Err: err}
		}
	}
	if !end.After(start) {
		return cloudtrail.Options{}, cli.Usagef("--end is not after --start")
	}
	bucket := o.bucket
	if o.sourceBucket != "" {
		bucket = o.sourceBucket
	}
	return cloudtrail.Options{Bucket: bucket, Prefix: o.prefix, OrgID: o.orgID, Account: o.account, Region: o.region, Trail: o.trail,
		Start: start, End: end, Concurrency: o.concurrency, Now: func() time.Time { return now }}, nil
}

func printValidation(w io.Writer, o cloudtrail.Options, r *cloudtrail.Result) {
	fmt.Fprintf(w, "trail %s, account %s, region %s, %s to %s\n", o.Trail, o.Account, o.Region, o.Start.Format(time.RFC3339), o.End.Format(time.RFC3339))
	fmt.Fprintf(w, "validated %d digest(s) in %d chain(s) and %d log file(s) (%d bytes uncompressed)\n", r.Checked.Digests, r.Checked.Chains, r.Checked.LogFiles, r.Checked.Bytes)
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%-7s %s %s\n        %s\n", strings.ToUpper(string(f.Severity)), f.Kind, f.Object, f.Message)
	}
	if r.OK {
		fmt.Fprintln(w, "OK: every digest and log file is as CloudTrail signed it")
	} else {
		fmt.Fprintf(w, "FAILED: %d failure(s)\n", r.Findings.Failures())
	}
}
