package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/custody-ir/custody/internal/awsclient"
)

// AWSFlags are the AWS CLI's global flags, which both commands take: they
// fill in what the configuration leaves unset for every AWS client the
// command loads.
type AWSFlags struct {
	Profile     string
	Region      string
	EndpointURL string
	Debug       bool
}

// AddFlags registers --profile, --region, --endpoint-url and --debug.
func (f *AWSFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Profile, "profile", "", "AWS profile from ~/.aws/config and ~/.aws/credentials (default $AWS_PROFILE)")
	fs.StringVar(&f.Region, "region", "", "AWS region (default $AWS_REGION, then the profile's); the evidence store keeps store.region")
	fs.StringVar(&f.EndpointURL, "endpoint-url", "", "send AWS calls to this URL (a VPC endpoint, a proxy, a stand-in) instead of the default; store.endpoint still wins for the store")
	fs.BoolVar(&f.Debug, "debug", false, "print AWS errors in full (request ids, the SDK's whole chain) and every retry")
}

// Apply checks the flags and returns ctx carrying them, and a retry
// printer for stderr (see RetryPrinter), for every awsclient.Load made
// with it. --debug sets CUSTODY_DEBUG=1 for the rest of the process, so
// that ExitCode prints errors in full. Call it once, before any client is
// loaded (a root command's PersistentPreRunE, then cmd.SetContext).
func (f *AWSFlags) Apply(ctx context.Context, stderr io.Writer) (context.Context, error) {
	if f.EndpointURL != "" {
		u, err := url.Parse(f.EndpointURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return ctx, Usagef("--endpoint-url %q: want an http:// or https:// URL with a host", f.EndpointURL)
		}
	}
	if f.Debug {
		if err := os.Setenv("CUSTODY_DEBUG", "1"); err != nil {
			return ctx, fmt.Errorf("--debug: %w", err)
		}
	}
	return awsclient.WithDefaults(ctx, awsclient.Options{
		Profile:  f.Profile,
		Region:   f.Region,
		Endpoint: f.EndpointURL,
		// The SDK prefers AWS_ENDPOINT_URL_S3 to any endpoint given for all
		// services; the flag, as in the AWS CLI, comes first.
		S3Endpoint: f.EndpointURL,
		OnRetry:    RetryPrinter(stderr),
	}), nil
}

// PreRun is Apply as a cobra hook: the root command's PersistentPreRunE,
// which puts the flags in the context every sub-command's RunE receives.
//
//	root.PersistentPreRunE = g.aws.PreRun(g.stderr)
func (f *AWSFlags) PreRun(stderr io.Writer) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, err := f.Apply(ctx, stderr)
		if err != nil {
			return err
		}
		cmd.SetContext(ctx)
		return nil
	}
}

// RetryPrinter returns a function that prints each retry of an AWS call
// to w as one line,
//
//	GetBucketVersioning: retry 3 of 10 after connection refused (127.0.0.1:9)
//
// when w is a terminal or CUSTODY_DEBUG is set; otherwise nil: off a
// terminal only the final error is printed, and it counts the attempts.
func RetryPrinter(w io.Writer) awsclient.RetryFunc {
	if !isTerminal(w) && !Debug() {
		return nil
	}
	var mu sync.Mutex
	return func(op string, attempt, attempts int, err error) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s: retry %d of %d after %s\n", op, attempt, attempts, awsclient.Short(err))
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
