package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned by lookups that find no row.
var ErrNotFound = errors.New("not found in ledger")

// Cursor returns a collector's cursor for scope, or ErrNotFound.
func (l *Ledger) Cursor(ctx context.Context, collector, scope string) (string, error) {
	if l.lacks(migrationFirst) {
		return "", ErrNotFound
	}
	var v string
	err := l.db.QueryRowContext(ctx,
		`SELECT value FROM cursors WHERE collector = ? AND scope = ?`, collector, scope).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read cursor %s/%s: %w", collector, scope, err)
	}
	return v, nil
}

// SetCursor records a collector's progress for scope.
func (l *Ledger) SetCursor(ctx context.Context, collector, scope, value string) error {
	_, err := l.db.ExecContext(ctx, `
INSERT INTO cursors (collector, scope, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (collector, scope) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		collector, scope, value, ts(l.now()))
	if err != nil {
		return fmt.Errorf("write cursor %s/%s: %w", collector, scope, err)
	}
	return nil
}

// Run is one collection run (or other custody event) of a stream.
type Run struct {
	ID         string
	Stream     string
	Collector  string
	StartedAt  time.Time
	FinishedAt time.Time // zero while running
	Status     string
	Error      string
}

// Run statuses.
const (
	RunRunning   = "running"
	RunSealed    = "sealed"
	RunFailed    = "failed"
	RunAbandoned = "abandoned"
)

// StartRun records that a run began.
func (l *Ledger) StartRun(ctx context.Context, r Run) error {
	if r.StartedAt.IsZero() {
		r.StartedAt = l.now()
	}
	_, err := l.db.ExecContext(ctx,
		`INSERT INTO runs (run_id, stream, collector, started_at, status) VALUES (?, ?, ?, ?, ?)`,
		r.ID, r.Stream, r.Collector, ts(r.StartedAt), RunRunning)
	if err != nil {
		return fmt.Errorf("record run %s: %w", r.ID, err)
	}
	return nil
}

// FinishRun sets a run's final status.
func (l *Ledger) FinishRun(ctx context.Context, id, status, errText string) error {
	res, err := l.db.ExecContext(ctx,
		`UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE run_id = ?`,
		status, errText, ts(l.now()), id)
	if err != nil {
		return fmt.Errorf("finish run %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("finish run %s: %w", id, ErrNotFound)
	}
	return nil
}

// Runs lists runs with the given status (all when status is empty),
// oldest first.
func (l *Ledger) Runs(ctx context.Context, status string) ([]Run, error) {
	rows, err := l.db.QueryContext(ctx, `
SELECT run_id, stream, collector, started_at, COALESCE(finished_at, ''), status, COALESCE(error, '')
FROM runs WHERE ? = '' OR status = ? ORDER BY started_at, run_id`, status, status)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started, finished string
		if err := rows.Scan(&r.ID, &r.Stream, &r.Collector, &started, &finished, &r.Status, &r.Error); err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		if r.StartedAt, err = parseTS(started); err != nil {
			return nil, fmt.Errorf("list runs: run %s: bad started_at %q: %w", r.ID, started, err)
		}
		if finished != "" {
			if r.FinishedAt, err = parseTS(finished); err != nil {
				return nil, fmt.Errorf("list runs: run %s: bad finished_at %q: %w", r.ID, finished, err)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Stats are the ledger's schema version and row counts per table.
type Stats struct {
	Schema int          `json:"schema"`
	Tables []TableCount `json:"tables"`
}

// TableCount is one table's row count.
type TableCount struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
}

var statTables = []string{"runs", "artifacts", "manifests", "chain_heads", "cursors", "posture_changes", "state_changes", "log_terms", "recovery_jobs", "recovery_actions"}

// Stats counts the rows of every table.
func (l *Ledger) Stats(ctx context.Context) (Stats, error) {
	v, err := l.SchemaVersion(ctx)
	if err != nil {
		return Stats{}, l.wrap("read ledger", err)
	}
	st := Stats{Schema: v}
	for _, t := range statTables {
		var n int64
		// Table names come from the fixed list above, never from input.
		if err := l.db.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return Stats{}, l.wrap("count "+t+" in", err)
		}
		st.Tables = append(st.Tables, TableCount{Name: t, Rows: n})
	}
	return st, nil
}

// PostureChange is a change of a bucket's security setting between two
// snapshots.
type PostureChange struct {
	Bucket  string    `json:"bucket"`
	At      time.Time `json:"at"`
	Setting string    `json:"setting"`
	Before  string    `json:"before"`
	After   string    `json:"after"`
	Risk    string    `json:"risk,omitempty"`
	RunID   string    `json:"runId"`
}

// RecordPostureChange records one change (again is a no-op).
func (l *Ledger) RecordPostureChange(ctx context.Context, c PostureChange) error {
	_, err := l.db.ExecContext(ctx, `
INSERT INTO posture_changes (bucket, at, setting, before, after, risk, run_id) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (bucket, at, setting) DO NOTHING`, c.Bucket, ts(c.At), c.Setting, c.Before, c.After, c.Risk, c.RunID)
	if err != nil {
		return fmt.Errorf("record posture change of %s: %w", c.Bucket, err)
	}
	return nil
}

// PostureChanges lists the changes of bucket at or after since, oldest first.
func (l *Ledger) PostureChanges(ctx context.Context, bucket string, since time.Time) ([]PostureChange, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT bucket, at, setting, before, after, risk, run_id FROM posture_changes
WHERE bucket = ? AND at >= ? ORDER BY at, setting`, bucket, ts(since))
	if err != nil {
		return nil, fmt.Errorf("list posture changes of %s: %w", bucket, err)
	}
	defer rows.Close()
	var out []PostureChange
	for rows.Next() {
		var c PostureChange
		var at string
		if err := rows.Scan(&c.Bucket, &at, &c.Setting, &c.Before, &c.After, &c.Risk, &c.RunID); err != nil {
			return nil, err
		}
		c.At, _ = parseTS(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// RecoveryAction is one journalled action of a recovery job; Detail is
// the action as JSON.
type RecoveryAction struct {
	Seq    int
	Kind   ActionKind
	Key    string
	Detail string
	State  ActionState
	Error  string
}

// CreateRecoveryJob journals a job (status JobApplying) and all its
// actions (state ActionPlanned) before any runs.
func (l *Ledger) CreateRecoveryJob(ctx context.Context, jobID, bucket, prefix string, target time.Time, options string, actions []RecoveryAction) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := ts(l.now())
	if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_jobs (job_id, bucket, prefix, target_at, created_at, status, options) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		jobID, bucket, prefix, ts(target), now, JobApplying, options); err != nil {
		return fmt.Errorf("journal recovery job %s: %w", jobID, err)
	}
	for _, a := range actions {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_actions (job_id, seq, kind, key, detail, state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			jobID, a.Seq, a.Kind, a.Key, a.Detail, ActionPlanned, now); err != nil {
			return fmt.Errorf("journal recovery action %d: %w", a.Seq, err)
		}
	}
	return tx.Commit()
}

// SetRecoveryAction records an action's progress.
func (l *Ledger) SetRecoveryAction(ctx context.Context, jobID string, seq int, state ActionState, errText string) error {
	_, err := l.db.ExecContext(ctx, `UPDATE recovery_actions SET state = ?, error = ?, updated_at = ? WHERE job_id = ? AND seq = ?`,
		state, errText, ts(l.now()), jobID, seq)
	return err
}

// FinishRecoveryJob sets a job's final status.
func (l *Ledger) FinishRecoveryJob(ctx context.Context, jobID string, status JobStatus) error {
	_, err := l.db.ExecContext(ctx, `UPDATE recovery_jobs SET status = ? WHERE job_id = ?`, status, jobID)
	return err
}

// RecoveryJob loads a journalled job: bucket, prefix, target and actions.
func (l *Ledger) RecoveryJob(ctx context.Context, jobID string) (bucket, prefix string, target time.Time, actions []RecoveryAction, err error) {
	var t string
	if err = l.db.QueryRowContext(ctx, `SELECT bucket, prefix, target_at FROM recovery_jobs WHERE job_id = ?`, jobID).Scan(&bucket, &prefix, &t); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			err = fmt.Errorf("recovery job %s: %w", jobID, ErrNotFound)
		}
		return
	}
	target, _ = parseTS(t)
	rows, err := l.db.QueryContext(ctx, `SELECT seq, kind, key, detail, state, error FROM recovery_actions WHERE job_id = ? ORDER BY seq`, jobID)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var a RecoveryAction
		if err = rows.Scan(&a.Seq, &a.Kind, &a.Key, &a.Detail, &a.State, &a.Error); err != nil {
			return
		}
		actions = append(actions, a)
	}
	err = rows.Err()
	return
}

// MarkRecoveryActionsDone marks many actions done in one transaction.
func (l *Ledger) MarkRecoveryActionsDone(ctx context.Context, jobID string, seqs []int) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := ts(l.now())
	for _, s := range seqs {
		if _, err := tx.ExecContext(ctx, `UPDATE recovery_actions SET state = ?, error = '', updated_at = ? WHERE job_id = ? AND seq = ?`, ActionDone, now, jobID, s); err != nil {
			return err
		}
	}
	return tx.Commit()
}
