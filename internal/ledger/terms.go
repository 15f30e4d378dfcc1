package ledger

import (
	"context"
	"fmt"
	"strings"
)

// logTermsSchema is migration 5: for each sealed log file custody search
// has read, the values a search filters on that occur in it (access keys,
// principals, addresses, buckets, event names), so that a later search
// for a value skips the files without it unread. Derivable again from the
// sealed files; a row holds the SHA-256 of the bytes it was made from.
const logTermsSchema = `
CREATE TABLE log_terms (
	bucket     TEXT NOT NULL,
	key        TEXT NOT NULL,
	version_id TEXT NOT NULL,
	sha256     TEXT NOT NULL,                -- of the sealed bytes the terms were read from
	terms      TEXT NOT NULL,                -- newline-separated <field>:<value>
	PRIMARY KEY (bucket, key, version_id)
);
`

// EachLogTerms calls fn with the terms recorded for each file of bucket,
// one row at a time (a year of logs is tens of thousands of rows: they
// are not all held at once).
func (l *Ledger) EachLogTerms(ctx context.Context, bucket string, fn func(key, version, sha string, terms []string)) error {
	if l.lacks(migrationLogTerms) {
		return nil
	}
	rows, err := l.db.QueryContext(ctx, `SELECT key, version_id, sha256, terms FROM log_terms WHERE bucket = ?`, bucket)
	if err != nil {
		return fmt.Errorf("ledger: read log terms: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, version, sha, terms string
		if err := rows.Scan(&key, &version, &sha, &terms); err != nil {
			return fmt.Errorf("ledger: read log terms: %w", err)
		}
		fn(key, version, sha, strings.Split(terms, "\n"))
	}
	return rows.Err()
}

// LogTerms are one sealed file's terms, for RecordSealedLogTerms.
type LogTerms struct {
	Bucket, Key, VersionID, SHA256 string
	Terms                          []string
}

// RecordSealedLogTerms records the terms of files in one transaction, each
// only if the ledger holds its artifact sealed with that SHA-256: terms
// of a file no manifest seals (a run that never sealed) or of other bytes
// are not recorded. It returns how many were. A crash leaves the batch
// recorded whole or not at all.
func (l *Ledger) RecordSealedLogTerms(ctx context.Context, files []LogTerms) (int, error) {
	if len(files) == 0 {
		return 0, nil
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("ledger: record log terms: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO log_terms (bucket, key, version_id, sha256, terms)
SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (
	SELECT 1 FROM artifacts WHERE bucket = ?1 AND key = ?2 AND version_id = ?3 AND sha256 = ?4 AND manifest_seq IS NOT NULL)
ON CONFLICT (bucket, key, version_id) DO UPDATE SET sha256 = excluded.sha256, terms = excluded.terms`)
	if err != nil {
		return 0, fmt.Errorf("ledger: record log terms: %w", err)
	}
	defer st.Close()
	n := 0
	for _, f := range files {
		res, err := st.ExecContext(ctx, f.Bucket, f.Key, f.VersionID, f.SHA256, strings.Join(f.Terms, "\n"))
		if err != nil {
			return 0, fmt.Errorf("ledger: record the terms of %s: %w", f.Key, err)
		}
		if k, _ := res.RowsAffected(); k > 0 {
			n++
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("ledger: record log terms: %w", err)
	}
	return n, nil
}

// ForgetLogTerms removes the recorded terms of the given files of bucket
// (custody search --reindex: the next read records them again).
func (l *Ledger) ForgetLogTerms(ctx context.Context, bucket string, keys []ArtifactRef) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: forget log terms: %w", err)
	}
	defer tx.Rollback()
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `DELETE FROM log_terms WHERE bucket = ? AND key = ? AND version_id = ?`, bucket, k.Key, k.VersionID); err != nil {
			return fmt.Errorf("ledger: forget the terms of %s: %w", k.Key, err)
		}
	}
	return tx.Commit()
}
