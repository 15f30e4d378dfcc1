// Package finding is the vocabulary of what custody's checks find: a
// Finding (severity, kind, object, message, remedy), the Findings a checker
// collects, and one documented constant per Kind. It is a leaf: it imports
// nothing from this module, so a collector can report findings without
// depending on the evidence store.
//
// The kinds are a contract: they are the "kind" of every --json report, the
// kind label of the agent's custody_findings_total, and what docs/verify.md
// lists. A test keeps the constants, Kinds and that table identical.
package finding
