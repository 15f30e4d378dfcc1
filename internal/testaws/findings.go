package testaws

import (
	"strings"
	"testing"

	"github.com/custody-ir/custody/custody/finding"
)

// Failures returns the findings of severity failure, in their order (nil
// when there are none).
func Failures(fs []finding.Finding) finding.Findings {
	var out finding.Findings
	for _, f := range fs {
		if f.Severity == finding.Failure {
			out = append(out, f)
		}
	}
	return out
}

// RequireFinding ends the test unless fs holds a failure of kind whose
// object contains object; the message lists every finding, one a line.
func RequireFinding(t testing.TB, fs []finding.Finding, kind finding.Kind, object string) {
	t.Helper()
	for _, f := range fs {
		if f.Severity == finding.Failure && f.Kind == kind && strings.Contains(f.Object, object) {
			return
		}
	}
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + "\n")
	}
	t.Fatalf("no %s finding naming %q; findings:\n%s", kind, object, b.String())
}
