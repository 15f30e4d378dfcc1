package custody

import "github.com/custody-ir/custody/custody/finding"

// Severity, Kind, Finding and Findings are package finding's, under the names
// callers of custody have always used.
type (
	Severity = finding.Severity
	Kind     = finding.Kind
	Finding  = finding.Finding
	Findings = finding.Findings
)

// Severities.
const (
	SeverityFailure = finding.Failure
	SeverityWarning = finding.Warning
)
