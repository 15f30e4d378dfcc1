package cloudtrail

import "github.com/custody-ir/custody/custody"

// FindingKinds are the kinds of finding Validate reports, with their
// severity: what a monitoring system can count before the first one.
var FindingKinds = map[string]custody.Severity{
	"digest-unreadable":        custody.SeverityFailure,
	"digest-malformed":         custody.SeverityFailure,
	"digest-misplaced":         custody.SeverityFailure,
	"digest-signature-invalid": custody.SeverityFailure,
	"digest-signature-missing": custody.SeverityFailure,
	"digest-key-unknown":       custody.SeverityFailure,
	"digest-missing":           custody.SeverityFailure,
	"digest-chain-broken":      custody.SeverityFailure,
	"digest-chain-restart":     custody.SeverityWarning,
	"log-malformed":            custody.SeverityFailure,
	"log-missing":              custody.SeverityFailure,
	"log-unreadable":           custody.SeverityFailure,
	"log-hash-mismatch":        custody.SeverityFailure,
}
