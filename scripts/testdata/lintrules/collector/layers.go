// Package collector stands for any domain package: it may not import the CLI
// libraries or the stand-ins, nor read the clock.
package collector

import (
	"time"
	clock "time"

	"github.com/spf13/cobra" // want depguard
	"github.com/spf13/pflag" // want depguard
	"github.com/spf13/viper" // want depguard

	"github.com/custody-ir/custody/internal/testaws" // want depguard
)

var (
	_ = cobra.Command{}
	_ = pflag.FlagSet{}
	_ = viper.New
	_ = testaws.Marker
)

// Clock reads the time in every way the rule forbids.
func Clock(start time.Time) (time.Time, time.Duration, time.Duration, time.Time) {
	now := time.Now                       // want forbidigo
	took := time.Since(start)             // want forbidigo
	left := time.Until(start)             // want forbidigo
	return now(), took, left, clock.Now() // want forbidigo
}

// Injected is the rule kept: the clock is passed in.
func Injected(now func() time.Time, start time.Time) time.Duration { return now().Sub(start) }
