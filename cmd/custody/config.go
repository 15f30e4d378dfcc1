package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/config"
)

func newConfigCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the configuration",
	}
	cmd.AddCommand(newConfigCheckCommand(g))
	return cmd
}

func newConfigCheckCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "check [FILE]",
		Example: `  custody config check                       # the file custody would use ($CUSTODY_CONFIG, ./custody.yaml)
  custody config check /etc/custody/custody.yaml
  CUSTODY_STORE_RETENTION_DAYS=30 custody config check custody.yaml   # with an override, as the agent would see it`,
		Short: "Validate a configuration file and print every problem",
		Long: `Validate a configuration file (FILE, else --config, $CUSTODY_CONFIG or
./custody.yaml) together with CUSTODY_* environment overrides. Every problem
is printed with the field's path and what is expected there; unknown keys
are errors, so a typo cannot silently disable a collector.

Exit codes: 0 valid, 2 invalid or unreadable.`,
		Args: cli.MaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfigCheck(cmd.Context(), newConfigCheckOptions(g.configFile, args), g.deps(cmd, nil))
		},
	}
}

// configCheckOptions are config check's: the file to check and where its
// name came from.
type configCheckOptions struct{ src cli.ConfigSource }

// newConfigCheckOptions checks the FILE argument, else --config (then
// $CUSTODY_CONFIG, ./custody.yaml).
func newConfigCheckOptions(configFile string, args []string) configCheckOptions {
	if len(args) == 1 {
		return configCheckOptions{cli.ConfigSource{File: args[0], FileFrom: "the argument"}}
	}
	return configCheckOptions{cli.ConfigSource{File: configFile}}
}

type configCheckResult struct {
	File     string           `json:"file"`
	OK       bool             `json:"ok"`
	Problems []config.Problem `json:"problems"`
}

// runConfigCheck validates the configuration and prints every problem.
func runConfigCheck(_ context.Context, o configCheckOptions, d deps) error {
	file, _ := o.src.ResolveFile()
	res := configCheckResult{File: file, Problems: []config.Problem{}}
	_, err := cli.LoadConfig(o.src)
	var problems config.Problems
	switch {
	case err == nil:
		res.OK = true
	case errors.As(err, &problems):
		res.Problems = problems
	default:
		res.Problems = []config.Problem{{Path: file, Message: err.Error()}}
	}
	if perr := d.printer().Result(res, func(w io.Writer) {
		if res.OK {
			fmt.Fprintf(w, "%s: valid\n", file)
			return
		}
		fmt.Fprintf(w, "%s: %d problem(s)\n", file, len(res.Problems))
		for _, pr := range res.Problems {
			if pr.Source == file {
				pr.Source = "" // the line above names the file
			}
			fmt.Fprintf(w, "  %s\n", pr)
		}
	}); perr != nil {
		return perr
	}
	if !res.OK {
		return cli.UsageError{Err: fmt.Errorf("%s is not a valid configuration", file)}
	}
	return nil
}
