package custody

import "fmt"

// Severity of a finding. Failures make verify exit 1; warnings do not.
type Severity string

// Severities.
const (
	SeverityFailure Severity = "failure"
	SeverityWarning Severity = "warning"
)

// Finding is one thing a check found: what kind of problem, the object it
// is about (bucket, key and version, manifest, setting), what is wrong and
// what to do about it. Checkers collect findings; they never stop at the
// first.
type Finding struct {
	Severity Severity `json:"severity"`
	Kind     string   `json:"kind"`
	Object   string   `json:"object"`
	Message  string   `json:"message"`
	Remedy   string   `json:"remedy,omitempty"`
}

func (f Finding) String() string {
	s := fmt.Sprintf("%s %s %s: %s", f.Severity, f.Kind, f.Object, f.Message)
	if f.Remedy != "" {
		s += " (" + f.Remedy + ")"
	}
	return s
}

// Findings is a collected list of findings.
type Findings []Finding

// Failures counts the findings of severity failure.
func (fs Findings) Failures() int {
	n := 0
	for _, f := range fs {
		if f.Severity == SeverityFailure {
			n++
		}
	}
	return n
}

func (fs *Findings) fail(kind, object, remedy, format string, args ...any) {
	*fs = append(*fs, Finding{Severity: SeverityFailure, Kind: kind, Object: object, Message: fmt.Sprintf(format, args...), Remedy: remedy})
}

func (fs *Findings) warn(kind, object, remedy, format string, args ...any) {
	*fs = append(*fs, Finding{Severity: SeverityWarning, Kind: kind, Object: object, Message: fmt.Sprintf(format, args...), Remedy: remedy})
}
