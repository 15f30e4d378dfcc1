package collector

import (
	"sort"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/custody"
)

// FindingKind is a kind of finding a collector puts in its manifests,
// with its severity.
type FindingKind struct {
	Kind     string
	Severity custody.Severity
}

// FindingKinds lists, for each collector kind, the findings its runs can
// report: the agent's custody_findings_total starts at zero for each of
// them and each source, so that an alert sees the first one.
func FindingKinds(kind string) []FindingKind {
	warn := func(k string) FindingKind { return FindingKind{k, custody.SeverityWarning} }
	fail := func(k string) FindingKind { return FindingKind{k, custody.SeverityFailure} }
	switch kind {
	case "posture":
		// A change is a failure when it opens the bucket.
		return []FindingKind{warn("posture-change"), fail("posture-change"), warn("posture-access-denied"), warn("posture-unreadable")}
	case "versions":
		return []FindingKind{warn("inventory-unsorted")}
	case "config":
		return []FindingKind{warn("config-deliver-failed"), warn("config-unreadable"), warn("config-history-unreadable")}
	case "cloudtrail":
		out := []FindingKind{fail("cloudtrail-log-missing"), warn("cloudtrail-keys-unavailable"), warn("cloudtrail-unvalidated")}
		var validation []FindingKind
		for k, s := range cloudtrail.FindingKinds {
			validation = append(validation, FindingKind{"cloudtrail-" + k, s})
		}
		sort.Slice(validation, func(i, j int) bool { return validation[i].Kind < validation[j].Kind })
		return append(out, validation...)
	}
	return nil
}
