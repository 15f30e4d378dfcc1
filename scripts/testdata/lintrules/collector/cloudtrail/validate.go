// Package cloudtrail stands for collector/cloudtrail: custody/finding only.
package cloudtrail

import (
	"github.com/custody-ir/custody/custody" // want depguard
	"github.com/custody-ir/custody/custody/finding"
)

var (
	_ = custody.Event{}
	_ = finding.Kind("")
)
