// Package ledger is custody's local SQLite index and journal: collection
// runs, artifacts, manifests and chain heads, collector cursors, and
// recovery jobs with their actions.
//
// The evidence bucket stays the source of truth. Everything in the ledger
// can be rebuilt from the bucket's manifests and checkpoints, so a lost or
// damaged ledger costs time, never evidence (docs/ledger.md). The ledger
// uses WAL mode and a busy timeout, so the agent, verify and recover may
// open it at the same time from separate processes.
package ledger
