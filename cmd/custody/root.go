package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
)

// globals are the options and handles every sub-command shares.
type globals struct {
	configFile string
	json       bool
	stdout     io.Writer
	stderr     io.Writer
	now        func() time.Time
	aws        cli.AWSFlags
}

func (g *globals) printer() cli.Printer { return cli.Printer{Out: g.stdout, JSON: g.json} }

// loadConfig reads the configuration; bindings map config keys to the
// command's own flags that override them.
func (g *globals) loadConfig(cmd *cobra.Command, bindings map[string]string) (config.Config, error) {
	return cli.LoadConfig(cli.ConfigSource{File: g.configFile, Flags: cmd.Flags(), Bindings: bindings})
}

// deps are what a command's run takes from outside, so that it runs without
// cobra: where it prints, the clock, the environment and the configuration
// (loaded when the run needs it: verify --bundle needs none).
type deps struct {
	stdout, stderr io.Writer
	json           bool
	now            func() time.Time
	getenv         func(string) string
	config         func() (config.Config, error)
	// configGiven reports whether a configuration was named (--config or
	// $CUSTODY_CONFIG), not merely found by default.
	configGiven func() bool
}

func (d deps) printer() cli.Printer { return cli.Printer{Out: d.stdout, JSON: d.json} }

// deps are the command's: its flags, with bindings mapping config keys to
// the flags that override them.
func (g *globals) deps(cmd *cobra.Command, bindings map[string]string) deps {
	return deps{stdout: g.stdout, stderr: g.stderr, json: g.json, now: g.now, getenv: os.Getenv,
		config: func() (config.Config, error) { return g.loadConfig(cmd, bindings) },
		configGiven: func() bool {
			_, explicit := cli.ConfigSource{File: g.configFile}.ResolveFile()
			return explicit
		}}
}

// sourceAWS is the configuration for reading sources: the SDK's chain.
func sourceAWS(ctx context.Context) (awsclient.Config, error) {
	return awsclient.Load(ctx, awsclient.Options{})
}

func newRootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "custody",
		Short: "Preserve AWS incident evidence under a signed chain of custody",
		Long: `custody preserves the evidence an AWS incident response needs before anyone
knows it is needed: CloudTrail digests and logs, AWS Config history, bucket
security settings and object version lists, written to an S3 Object Lock
bucket and sealed by signed, hash-chained manifests.

Configuration comes from --config, else $CUSTODY_CONFIG, else ./custody.yaml;
CUSTODY_<KEY> environment variables (CUSTODY_STORE_BUCKET for store.bucket)
override the file, and flags override both. AWS access follows the SDK's
standard chain: profiles, AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3.

--json prints every result as one JSON document, keys in camelCase
(docs/json.md). Recovering a bucket is the separate recover binary.

` + cli.ExitCodesHelp,
		Version:       cli.Version(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("custody {{.Version}}\n")
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.UsageError{Err: err} })
	root.PersistentFlags().StringVarP(&g.configFile, "config", "c", "", "configuration file (default $CUSTODY_CONFIG, then ./custody.yaml)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print results as JSON")
	g.aws.AddFlags(root.PersistentFlags())
	root.PersistentPreRunE = g.aws.PreRun(g.stderr)
	root.AddCommand(
		newConfigCommand(g),
		newStoreCommand(g),
		newLedgerCommand(g),
		newKeygenCommand(g),
		newPubkeyCommand(g),
		newAddCommand(g),
		newVerifyCommand(g),
		newExportCommand(g),
		newCloudTrailCommand(g),
		newCollectCommand(g),
		newAgentCommand(g),
		newPostureCommand(g),
		newSearchCommand(g),
		newTimelineCommand(g),
		newAthenaCommand(g),
		newIAMCommand(g),
		newFreezeCommand(g),
		newUnfreezeCommand(g),
		newContainCommand(g),
		newVersionCommand(g),
		newRecoverHint(),
	)
	return root
}

// versionResult is version's --json output.
type versionResult struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
}

// versionOptions are version's flags: none.
type versionOptions struct{}

func newVersionCommand(g *globals) *cobra.Command {
	var o versionOptions
	return &cobra.Command{
		Use: "version",
		Example: `  custody version
  custody --json version`,
		Short: "Print the version and the revision it was built from (as --version)",
		Args:  cli.NoArgs(),
		RunE:  func(cmd *cobra.Command, _ []string) error { return runVersion(cmd.Context(), o, g.deps(cmd, nil)) },
	}
}

// runVersion prints the version and the VCS revision of the build.
func runVersion(_ context.Context, _ versionOptions, d deps) error {
	res := versionResult{Version: "(devel)", Revision: "unknown"}
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			res.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				res.Revision = s.Value
			}
		}
	}
	return d.printer().Result(res, func(w io.Writer) { fmt.Fprintf(w, "custody %s\n", cli.Version()) })
}

// recoverUsage is the usage line of the recover binary.
const recoverUsage = "recover --bucket B --since T [--dry-run | --yes] [--resume JOB]"

// newRecoverHint answers "custody recover ...": recovery is the separate
// recover binary, so that the tool that changes buckets is installed and
// permitted apart from the one that preserves evidence.
func newRecoverHint() *cobra.Command {
	return &cobra.Command{
		Use:                "recover",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return cli.Usagef("custody has no recover command: recovery is the separate recover binary, installed beside custody\nUsage:\n  %s\n(recover --help for every flag)", recoverUsage)
		},
	}
}
