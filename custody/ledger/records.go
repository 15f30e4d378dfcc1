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

var statTables = []string{"runs", "artifacts", "manifests", "chain_heads", "cursors", "posture_changes", "recovery_jobs", "recovery_actions"}

// Stats counts the rows of every table.
func (l *Ledger) Stats(ctx context.Context) (Stats, error) {
	v, err := l.SchemaVersion(ctx)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Schema: v}
	for _, t := range statTables {
		var n int64
		// Table names come from the fixed list above, never from input.
		if err := l.db.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return Stats{}, fmt.Errorf("count %s: %w", t, err)
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
