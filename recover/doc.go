// Package recovery puts a versioned S3 bucket back as it was at a point in
// time: it plans, per key, the state at T against the state now (delete
// markers to remove, versions to copy back, versions to fetch from a
// replica), journals every action in the ledger, applies them with bounded
// concurrency and checks the result.
//
// The folder is recover/, as the command is; the package is named recovery
// so that importing it never shadows the builtin recover().
package recovery
