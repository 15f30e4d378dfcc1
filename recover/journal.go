package recovery

import (
	"context"
	"time"

	"github.com/custody-ir/custody/internal/ledger"
)

// Journal is where a recovery job is recorded before any of it runs, and
// each action's progress as it does, so that a killed run resumes without
// doing anything twice. The custody ledger is the journal.
//
// What recover relies on:
//   - CreateRecoveryJob stores the job and every action (ActionPlanned)
//     at once, or nothing: a job the journal knows is a whole plan.
//   - RecoveryJob returns the actions in seq order, with their states.
//   - MarkRecoveryActionsDone marks all of seqs or none. A mark lost in a
//     crash only means the action is checked again before it is repeated.
//   - Path names the journal, for messages that tell how to resume.
type Journal interface {
	CreateRecoveryJob(ctx context.Context, jobID, bucket, prefix string, target time.Time, options string, actions []ledger.RecoveryAction) error
	RecoveryJob(ctx context.Context, jobID string) (bucket, prefix string, target time.Time, actions []ledger.RecoveryAction, err error)
	SetRecoveryAction(ctx context.Context, jobID string, seq int, state ledger.ActionState, errText string) error
	MarkRecoveryActionsDone(ctx context.Context, jobID string, seqs []int) error
	FinishRecoveryJob(ctx context.Context, jobID string, status ledger.JobStatus) error
	Path() string
}

var _ Journal = (*ledger.Ledger)(nil)
