package cli

import "github.com/spf13/cobra"

// MaxArgs is cobra.MaximumNArgs returning a UsageError.
func MaxArgs(n int) cobra.PositionalArgs { return usageArgs(cobra.MaximumNArgs(n)) }

// NoArgs is cobra.NoArgs returning a UsageError.
func NoArgs() cobra.PositionalArgs { return usageArgs(cobra.NoArgs) }

// MinArgs is cobra.MinimumNArgs returning a UsageError.
func MinArgs(n int) cobra.PositionalArgs { return usageArgs(cobra.MinimumNArgs(n)) }

func usageArgs(f cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := f(cmd, args); err != nil {
			return UsageError{Err: err}
		}
		return nil
	}
}
