// Package finding stands for a leaf package: it imports nothing of the module.
package finding

import "github.com/custody-ir/custody/internal/config" // want depguard

// Kind is a finding's kind.
type Kind string

var _ = config.Config{}
