package ledger

import (
	"context"
	"fmt"
)

// SealedOfKind returns the sealed artifacts of one kind in bucket, with
// the manifest sealing each: what custody search reads.
func (l *Ledger) SealedOfKind(ctx context.Context, bucket, kind string) ([]Artifact, error) {
	if l.lacks(migrationFirst) {
		return nil, nil
	}
	rows, err := l.db.QueryContext(ctx, `
SELECT bucket, key, version_id, sha256, size, kind, account, region, source, manifest_stream, manifest_seq
FROM artifacts WHERE bucket = ? AND kind = ? AND manifest_seq IS NOT NULL ORDER BY key`, bucket, kind)
	if err != nil {
		return nil, fmt.Errorf("ledger: sealed %s artifacts: %w", kind, err)
	}
	defer rows.Close()
	var out []Artifact
	for rows.Next() {
		var a Artifact
		if err := rows.Scan(&a.Bucket, &a.Key, &a.VersionID, &a.SHA256, &a.Size, &a.Kind, &a.Account, &a.Region, &a.Source, &a.ManifestStream, &a.ManifestSeq); err != nil {
			return nil, fmt.Errorf("ledger: sealed %s artifacts: %w", kind, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
