// Package ledger stands for an internal package: below the domain packages.
package ledger

import (
	"github.com/custody-ir/custody/collector" // want depguard
	"github.com/custody-ir/custody/custody"   // want depguard
	"github.com/custody-ir/custody/custody/finding"
	recovery "github.com/custody-ir/custody/recover" // want depguard
)

var (
	_ = collector.Injected
	_ = custody.Event{}
	_ = finding.Kind("")
	_ = recovery.Plan
)
