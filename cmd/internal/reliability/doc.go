// Package reliability holds custody's reliability suite: it runs the real
// custody and recover binaries against the local AWS stand-ins through
// injected network faults, kills them at seeded random points, and runs the
// agent for a bounded soak, checking after each scenario the invariants
// that make the evidence trustworthy:
//
//   - every artifact the ledger calls sealed is in the bucket with the
//     SHA-256 it was sealed with;
//   - the manifest chain verifies and no manifest names an artifact that
//     is not there;
//   - no artifact is left unsealed after the next run, and no source
//     object is sealed twice;
//   - nothing the sources hold in the collected window is missing;
//   - recover reaches exactly its target state, and applies no action
//     twice.
//
// The package has tests only. `go test` runs the short form; the long form
// (more crash trials, a 20-minute soak) is scripts/reliability, and
// docs/reliability.md reports its figures.
package reliability
