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

// RecordLogTerms records one file's terms (again replaces them).
func (l *Ledger) RecordLogTerms(ctx context.Context, bucket, key, version, sha string, terms []string) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO log_terms (bucket, key, version_id, sha256, terms) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (bucket, key, version_id) DO UPDATE SET sha256 = excluded.sha256, terms = excluded.terms`, bucket, key, version, sha, strings.Join(terms, "\n"))
	if err != nil {
		return fmt.Errorf("ledger: record the terms of %s: %w", key, err)
	}
	return nil
}
