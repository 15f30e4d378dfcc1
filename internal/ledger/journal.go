package ledger

// ActionKind is what recover does to one key, as a recovery job's journal
// records it. Package recovery names the kinds (recovery.CopyBack, ...)
// and documents each against its rule; the ledger stores them as given.
type ActionKind string

// ActionState is where a journalled recovery action stands.
type ActionState string

// The states of a journalled recovery action. CreateRecoveryJob journals
// every action as ActionPlanned; an action never marked ActionDone is
// checked before it is repeated on resume.
const (
	ActionPlanned ActionState = "planned" // journalled, not yet known to have run
	ActionDone    ActionState = "done"    // took effect (or, for a reported kind, was reported)
	ActionFailed  ActionState = "failed"  // ended with the error recorded beside it
	ActionPending ActionState = "pending" // an archived version being restored: resume copies it later
)

// JobStatus is where a recovery job stands.
type JobStatus string

// The statuses of a recovery job.
const (
	JobApplying JobStatus = "applying" // journalled, being applied (or interrupted: resume it)
	JobDone     JobStatus = "done"     // every action done and the bucket checked at its target state
	JobFailed   JobStatus = "failed"   // some action failed, or some key is not at its target state
	JobPending  JobStatus = "pending"  // archived versions are being restored: resume later
)
