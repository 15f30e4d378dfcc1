// Package cli stands for the shared command code: CLI libraries yes, the clock no.
package cli

import (
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

var (
	_ = cobra.Command{}
	_ = pflag.FlagSet{}
	_ = viper.New
)

// Stamp is not in a main package, so it may not read the clock.
func Stamp() time.Time { return time.Now() } // want forbidigo
