// Package recovery puts a versioned S3 bucket back as it was at a point in
// time: it plans, per key, the state at T against the state now (delete
// markers to remove, versions to copy back, versions to fetch from a
// replica), journals every action in the ledger, applies them with bounded
// concurrency and checks the result.
//
// Planning merges the bucket's listing, its replica's and the preserved
// version list by key (keys.go) and decides each key by the rule table of
// docs/recover.md (rules.go, a function per row). Applying records the job
// in a Journal (journal.go; the custody ledger) and checks the bucket
// afterwards (check.go).
//
// The folder is recover/, as the command is; the package is named recovery
// so that importing it never shadows the builtin recover().
package recovery
