// Package custody stands for the domain package below collector and recover.
package custody

import (
	"github.com/custody-ir/custody/collector" // want depguard
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	recovery "github.com/custody-ir/custody/recover" // want depguard
)

var (
	_ = collector.Injected
	_ = finding.Kind("")
	_ = config.Config{}
	_ = recovery.Plan
)

// Event is something to import.
type Event struct{}
