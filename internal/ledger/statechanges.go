package ledger

import (
	"context"
	"fmt"
	"time"
)

// stateChangesSchema is migration 4: the changes the IAM and KMS
// collectors saw between an account's sealed snapshots, one row per item
// (a user, an access key, a role's trusted principal, a key's policy).
const stateChangesSchema = `
CREATE TABLE state_changes (
	collector  TEXT NOT NULL,                -- iam, kms
	scope      TEXT NOT NULL,                -- the account (iam), account/region (kms)
	at         TEXT NOT NULL,                -- when the snapshot that saw it was taken
	item       TEXT NOT NULL,                -- user/alice, accessKey/alice/AKIA..., role/r/principal/AWS:...
	change     TEXT NOT NULL CHECK (change IN ('added', 'removed', 'changed')),
	before     TEXT NOT NULL DEFAULT '',     -- JSON of the item before ('' when added)
	after      TEXT NOT NULL DEFAULT '',     -- JSON of the item after ('' when removed)
	risk       TEXT NOT NULL DEFAULT '',
	run_id     TEXT NOT NULL REFERENCES runs(run_id),
	PRIMARY KEY (collector, scope, at, item)
);
`

// StateChange is one item of an IAM or KMS snapshot that differs from
// the previous snapshot of the same scope.
type StateChange struct {
	Collector string    `json:"collector"`
	Scope     string    `json:"scope"`
	At        time.Time `json:"at"`
	Item      string    `json:"item"`
	Change    string    `json:"change"` // added, removed, changed
	Before    string    `json:"before,omitempty"`
	After     string    `json:"after,omitempty"`
	Risk      string    `json:"risk,omitempty"`
	RunID     string    `json:"runId"`
	// Stream and Seq name the manifest that sealed the run (empty while
	// it is not sealed).
	Stream string `json:"stream,omitempty"`
	Seq    int64  `json:"seq,omitempty"`
}

// RecordStateChanges records the changes one snapshot saw, in one
// transaction (again is a no-op).
func (l *Ledger) RecordStateChanges(ctx context.Context, changes []StateChange) error {
	if len(changes) == 0 {
		return nil
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, `
INSERT INTO state_changes (collector, scope, at, item, change, before, after, risk, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (collector, scope, at, item) DO NOTHING`, c.Collector, c.Scope, ts(c.At), c.Item, c.Change, c.Before, c.After, c.Risk, c.RunID); err != nil {
			return fmt.Errorf("record the %s change of %s %s: %w", c.Collector, c.Scope, c.Item, err)
		}
	}
	return tx.Commit()
}

// StateChanges lists a scope's changes at or after since, oldest first,
// each with the manifest that sealed its snapshot.
func (l *Ledger) StateChanges(ctx context.Context, collector, scope string, since time.Time) ([]StateChange, error) {
	rows, err := l.db.QueryContext(ctx, `
SELECT c.collector, c.scope, c.at, c.item, c.change, c.before, c.after, c.risk, c.run_id, COALESCE(m.stream, ''), COALESCE(m.seq, 0)
FROM state_changes c LEFT JOIN (SELECT run_id, stream, MIN(seq) AS seq FROM manifests WHERE run_id IS NOT NULL GROUP BY run_id) m ON m.run_id = c.run_id
WHERE c.collector = ? AND c.scope = ? AND c.at >= ? ORDER BY c.at, c.item`, collector, scope, ts(since))
	if err != nil {
		return nil, fmt.Errorf("list the %s changes of %s: %w", collector, scope, err)
	}
	defer rows.Close()
	var out []StateChange
	for rows.Next() {
		var c StateChange
		var at string
		if err := rows.Scan(&c.Collector, &c.Scope, &at, &c.Item, &c.Change, &c.Before, &c.After, &c.Risk, &c.RunID, &c.Stream, &c.Seq); err != nil {
			return nil, err
		}
		if c.At, err = parseTS(at); err != nil {
			return nil, fmt.Errorf("list the %s changes of %s: bad time %q: %w", collector, scope, at, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
