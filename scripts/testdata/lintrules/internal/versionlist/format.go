// Package versionlist stands for a leaf package: it imports nothing of the module.
package versionlist

import "github.com/custody-ir/custody/internal/config" // want depguard

var _ = config.Config{}
