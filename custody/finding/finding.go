package finding

import "fmt"

// Severity of a finding. Failures make verify exit 1; warnings do not.
type Severity string

// Severities.
const (
	Failure Severity = "failure"
	Warning Severity = "warning"
)

// Kind names a kind of finding, in the JSON reports and the metrics. The
// constants in kinds.go are the only kinds there are.
type Kind string

// Finding is one thing a check found: what kind of problem, the object it
// is about (bucket, key and version, manifest, setting), what is wrong and
// what to do about it. Checkers collect findings; they never stop at the
// first.
type Finding struct {
	Severity Severity `json:"severity"`
	Kind     Kind     `json:"kind"`
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
		if f.Severity == Failure {
			n++
		}
	}
	return n
}

// Fail adds a failure of the kind about object, with a remedy (may be
// empty) and a message made from format and args.
func (fs *Findings) Fail(kind Kind, object, remedy, format string, args ...any) {
	*fs = append(*fs, Finding{Severity: Failure, Kind: kind, Object: object, Message: fmt.Sprintf(format, args...), Remedy: remedy})
}

// Warn adds a warning, as Fail adds a failure.
func (fs *Findings) Warn(kind Kind, object, remedy, format string, args ...any) {
	*fs = append(*fs, Finding{Severity: Warning, Kind: kind, Object: object, Message: fmt.Sprintf(format, args...), Remedy: remedy})
}
