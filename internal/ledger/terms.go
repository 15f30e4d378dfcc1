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

// FileTerms are the search terms of one sealed file.
type FileTerms struct {
	SHA256 string
	Terms  map[string]bool
}

// LogTerms returns the terms recorded for the files of bucket, by key and
// version id ("<key>\x00<version>").
func (l *Ledger) LogTerms(ctx context.Context, bucket string) (map[string]FileTerms, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT key, version_id, sha256, terms FROM log_terms WHERE bucket = ?`, bucket)
	if err != nil {
		return nil, fmt.Errorf("ledger: read log terms: %w", err)
	}
	defer rows.Close()
	out := map[string]FileTerms{}
	for rows.Next() {
		var key, version, sha, terms string
		if err := rows.Scan(&key, &version, &sha, &terms); err != nil {
			return nil, fmt.Errorf("ledger: read log terms: %w", err)
		}
		set := map[string]bool{}
		for _, t := range strings.Split(terms, "\n") {
			if t != "" {
				set[t] = true
			}
		}
		out[key+"\x00"+version] = FileTerms{SHA256: sha, Terms: set}
	}
	return out, rows.Err()
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
