package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Artifact is one object written to the evidence bucket. Its JSON (in
// custody add --json) is camelCase, as every --json output.
type Artifact struct {
	Bucket        string    `json:"bucket"`
	Key           string    `json:"key"`
	VersionID     string    `json:"versionId"` // "" while the upload is in flight
	RunID         string    `json:"runId"`
	SHA256        string    `json:"sha256"` // hex of the stored bytes
	Size          int64     `json:"size"`
	PartSize      int64     `json:"partSize"` // multipart part size; 0 for a single PUT
	Kind          string    `json:"kind"`
	Account       string    `json:"account"`
	Region        string    `json:"region"`
	Source        string    `json:"source"`
	SourceBucket  string    `json:"sourceBucket,omitempty"` // the bucket it lists or describes: a version list's (filled from its key when empty)
	SourceVersion string    `json:"sourceVersion"`
	Case          string    `json:"case"`
	RetainUntil   time.Time `json:"retainUntil"`
	LegalHold     bool      `json:"legalHold"`
	// Metadata is the source metadata kept with the artifact (not stored
	// in the ledger); its keys are the source's.
	Metadata map[string]string `json:"metadata,omitempty"`
	StoredAt time.Time         `json:"storedAt"`
	// Set once sealed.
	ManifestStream string `json:"manifestStream"`
	ManifestSeq    int64  `json:"manifestSeq"`
}

// AddIntent records, before an upload starts, that key is about to be
// written by run. After a crash, intents without a version tell the next
// run which keys to look for in the bucket. It returns once the intent is
// committed (with the others queued meanwhile: batch.go), or once ctx is
// done: the commit goes on without it.
func (l *Ledger) AddIntent(ctx context.Context, a Artifact) error {
	return l.write(ctx, l.intentWrite(a))
}

func (l *Ledger) intentWrite(a Artifact) pendingWrite {
	return pendingWrite{query: `
INSERT INTO artifacts (bucket, key, version_id, run_id, sha256, size, kind, account, region, source, source_version, source_bucket, case_id, stored_at)
VALUES (?, ?, '', ?, '', 0, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (bucket, key, run_id) DO NOTHING`,
		args:  []any{a.Bucket, a.Key, a.RunID, a.Kind, a.Account, a.Region, a.Source, a.SourceVersion, sourceBucket(a), a.Case, ts(l.now())},
		runID: a.RunID, what: "record intent for " + a.Key}
}

// AddIntents records the intents of several uploads about to start, in
// one commit, and returns once they are committed (or ctx is done, as
// AddIntent).
func (l *Ledger) AddIntents(ctx context.Context, as []Artifact) error {
	ws := make([]pendingWrite, len(as))
	for i, a := range as {
		ws[i] = l.intentWrite(a)
	}
	return l.write(ctx, ws...)
}

// StoreArtifact records a completed upload, filling in its intent row (or
// inserting one), and returns once it is committed (or ctx is done, as
// AddIntent).
func (l *Ledger) StoreArtifact(ctx context.Context, a Artifact) error {
	w, err := l.storeWrite(a)
	if err != nil {
		return err
	}
	return l.write(ctx, w)
}

// QueueArtifact records a completed upload as StoreArtifact does, in the
// next commit rather than one of its own: it returns at once, and Flush
// returns the error of a row that could not be written. The upload's
// intent must be committed (AddIntent): until the row is, a crash leaves
// the upload to be located in the bucket like one whose answer was lost.
func (l *Ledger) QueueArtifact(ctx context.Context, a Artifact) error {
	w, err := l.storeWrite(a)
	if err != nil {
		return err
	}
	return l.queueWrite(ctx, w)
}

func (l *Ledger) storeWrite(a Artifact) (pendingWrite, error) {
	if a.VersionID == "" || a.SHA256 == "" {
		return pendingWrite{}, fmt.Errorf("record artifact %s: version id and SHA-256 are required", a.Key)
	}
	retain := ""
	if !a.RetainUntil.IsZero() {
		retain = ts(a.RetainUntil)
	}
	stored := a.StoredAt
	if stored.IsZero() {
		stored = l.now()
	}
	return pendingWrite{query: `
INSERT INTO artifacts (bucket, key, version_id, run_id, sha256, size, part_size, kind, account, region, source, source_version, source_bucket, case_id, retain_until, legal_hold, stored_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (bucket, key, run_id) DO UPDATE SET
	version_id = excluded.version_id, sha256 = excluded.sha256, size = excluded.size, source_version = excluded.source_version,
	part_size = excluded.part_size, retain_until = excluded.retain_until,
	legal_hold = excluded.legal_hold, stored_at = excluded.stored_at`,
		args: []any{a.Bucket, a.Key, a.VersionID, a.RunID, a.SHA256, a.Size, a.PartSize, a.Kind, a.Account, a.Region,
			a.Source, a.SourceVersion, sourceBucket(a), a.Case, retain, a.LegalHold, ts(stored)},
		runID: a.RunID, what: "record artifact " + a.Key}, nil
}

// DropIntent removes an intent whose upload never reached the bucket.
func (l *Ledger) DropIntent(ctx context.Context, bucket, key, runID string) error {
	_, err := l.db.ExecContext(ctx, `DELETE FROM artifacts WHERE bucket = ? AND key = ? AND run_id = ? AND version_id = ''`, bucket, key, runID)
	return err
}

const artifactCols = `bucket, key, version_id, run_id, sha256, size, part_size, kind, account, region, source, source_version, source_bucket, case_id, retain_until, legal_hold, stored_at, COALESCE(manifest_stream, ''), COALESCE(manifest_seq, 0)`

func scanArtifacts(rows *sql.Rows) ([]Artifact, error) {
	defer rows.Close()
	var out []Artifact
	for rows.Next() {
		var a Artifact
		var retain, stored string
		if err := rows.Scan(&a.Bucket, &a.Key, &a.VersionID, &a.RunID, &a.SHA256, &a.Size, &a.PartSize, &a.Kind, &a.Account, &a.Region,
			&a.Source, &a.SourceVersion, &a.SourceBucket, &a.Case, &retain, &a.LegalHold, &stored, &a.ManifestStream, &a.ManifestSeq); err != nil {
			return nil, err
		}
		if retain != "" {
			a.RetainUntil, _ = parseTS(retain)
		}
		a.StoredAt, _ = parseTS(stored)
		out = append(out, a)
	}
	return out, rows.Err()
}

// UnsealedArtifacts lists the artifacts (and in-flight intents) of the
// given runs that no manifest seals yet, in key order.
func (l *Ledger) UnsealedArtifacts(ctx context.Context, runIDs []string) ([]Artifact, error) {
	if len(runIDs) == 0 {
		return nil, nil
	}
	args := make([]any, len(runIDs))
	for i, id := range runIDs {
		args[i] = id
	}
	q := `SELECT ` + artifactCols + ` FROM artifacts WHERE manifest_seq IS NULL AND run_id IN (?` + strings.Repeat(",?", len(runIDs)-1) + `) ORDER BY run_id, key`
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list unsealed artifacts: %w", err)
	}
	return scanArtifacts(rows)
}

// Manifest is one sealed manifest of a stream.
type Manifest struct {
	Stream         string
	Seq            int64
	Bucket         string
	Key            string
	VersionID      string
	EnvelopeSHA256 string
	PrevSHA256     string
	Event          string
	RunID          string
	SignedAt       time.Time
}

// Head returns the newest manifest of stream, or ErrNotFound.
func (l *Ledger) Head(ctx context.Context, stream string) (Manifest, error) {
	var m Manifest
	var prev, run sql.NullString
	var signed string
	err := l.db.QueryRowContext(ctx, `
SELECT m.stream, m.seq, m.bucket, m.key, m.version_id, m.envelope_sha256, m.prev_sha256, m.event, m.run_id, m.signed_at
FROM chain_heads h JOIN manifests m ON m.stream = h.stream AND m.seq = h.seq WHERE h.stream = ?`, stream).Scan(
		&m.Stream, &m.Seq, &m.Bucket, &m.Key, &m.VersionID, &m.EnvelopeSHA256, &prev, &m.Event, &run, &signed)
	if errors.Is(err, sql.ErrNoRows) {
		return Manifest{}, ErrNotFound
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("read chain head of %s: %w", stream, err)
	}
	m.PrevSHA256, m.RunID = prev.String, run.String
	m.SignedAt, _ = parseTS(signed)
	return m, nil
}

// Streams lists the streams of bucket the ledger holds a head of: the
// streams this host wrote or adopted, which verify expects to find.
func (l *Ledger) Streams(ctx context.Context, bucket string) ([]string, error) {
	rows, err := l.db.QueryContext(ctx, `
SELECT h.stream FROM chain_heads h JOIN manifests m ON m.stream = h.stream AND m.seq = h.seq WHERE m.bucket = ? ORDER BY h.stream`, bucket)
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("list streams: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ArtifactRef names one stored version.
type ArtifactRef struct{ Bucket, Key, VersionID string }

// RecordManifest records a manifest, marks the artifacts it seals and
// moves the stream's head, in one transaction. The manifest must extend
// the current head by one.
func (l *Ledger) RecordManifest(ctx context.Context, m Manifest, sealed []ArtifactRef) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var head sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT seq FROM chain_heads WHERE stream = ?`, m.Stream).Scan(&head); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read chain head of %s: %w", m.Stream, err)
	}
	if m.Seq != head.Int64+1 {
		return fmt.Errorf("record manifest %s/%d: the ledger's head is %d", m.Stream, m.Seq, head.Int64)
	}
	var prev, run any
	if m.PrevSHA256 != "" {
		prev = m.PrevSHA256
	}
	if m.RunID != "" {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE run_id = ?`, m.RunID).Scan(&n); err == nil && n > 0 {
			run = m.RunID
		}
	}
	if _, err := tx.ExecContext(ctx, `
INSERT INTO manifests (stream, seq, bucket, key, version_id, envelope_sha256, prev_sha256, event, run_id, signed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.Stream, m.Seq, m.Bucket, m.Key, m.VersionID, m.EnvelopeSHA256, prev, m.Event, run, ts(m.SignedAt)); err != nil {
		return fmt.Errorf("record manifest %s/%d: %w", m.Stream, m.Seq, err)
	}
	// Prepared once for the manifest's artifacts (thousands for a run of
	// access logs), not once for each.
	mark, err := tx.PrepareContext(ctx, `UPDATE artifacts SET manifest_stream = ?, manifest_seq = ? WHERE bucket = ? AND key = ? AND version_id = ?`)
	if err != nil {
		return fmt.Errorf("record manifest %s/%d: %w", m.Stream, m.Seq, err)
	}
	defer mark.Close()
	for _, a := range sealed {
		if _, err := mark.ExecContext(ctx, m.Stream, m.Seq, a.Bucket, a.Key, a.VersionID); err != nil {
			return fmt.Errorf("mark %s sealed: %w", a.Key, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `
INSERT INTO chain_heads (stream, seq, envelope_sha256, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, envelope_sha256 = excluded.envelope_sha256, updated_at = excluded.updated_at`,
		m.Stream, m.Seq, m.EnvelopeSHA256, ts(l.now())); err != nil {
		return fmt.Errorf("move chain head of %s: %w", m.Stream, err)
	}
	return tx.Commit()
}

// LatestBySourceBucket returns the artifacts of kind about sourceBucket
// (see Artifact.SourceBucket) from the newest run that stored one at or
// before t, in key order (nil when none did): for example every part of
// the version list of a bucket as it was at t.
func (l *Ledger) LatestBySourceBucket(ctx context.Context, kind, sourceBucket string, t time.Time) ([]Artifact, error) {
	if sourceBucket == "" {
		return nil, fmt.Errorf("find %s artifacts: no source bucket", kind)
	}
	var runID string
	err := l.db.QueryRowContext(ctx, `SELECT run_id FROM artifacts WHERE kind = ? AND source_bucket = ? AND version_id <> '' AND stored_at <= ?
ORDER BY stored_at DESC LIMIT 1`, kind, sourceBucket, ts(t)).Scan(&runID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find %s artifacts of %s: %w", kind, sourceBucket, err)
	}
	rows, err := l.db.QueryContext(ctx, `SELECT `+artifactCols+` FROM artifacts WHERE run_id = ? AND kind = ? AND source_bucket = ? AND version_id <> '' ORDER BY key`,
		runID, kind, sourceBucket)
	if err != nil {
		return nil, fmt.Errorf("find %s artifacts of %s: %w", kind, sourceBucket, err)
	}
	return scanArtifacts(rows)
}

// SourceSealed reports whether an artifact copied from source (an
// s3://bucket/key) is sealed already, by any run of any stream.
func (l *Ledger) SourceSealed(ctx context.Context, source string) (bool, error) {
	var one int
	st, err := l.stmt(ctx, `SELECT 1 FROM artifacts WHERE source = ? AND manifest_seq IS NOT NULL AND source <> '' LIMIT 1`)
	if err == nil {
		err = st.QueryRowContext(ctx, source).Scan(&one)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("ledger: look up %s: %w", source, err)
	}
	return true, nil
}

// SealedSources reports which of sources (s3://bucket/key) are sealed
// already, as SourceSealed does for one, in one query for each few
// hundred: a collector asks for a listing page at once.
func (l *Ledger) SealedSources(ctx context.Context, sources []string) (map[string]bool, error) {
	out := map[string]bool{}
	const chunk = 500
	for len(sources) > 0 {
		part := sources[:min(chunk, len(sources))]
		sources = sources[len(part):]
		args := make([]any, len(part))
		for i, s := range part {
			args[i] = s
		}
		rows, err := l.db.QueryContext(ctx, `SELECT DISTINCT source FROM artifacts
WHERE manifest_seq IS NOT NULL AND source <> '' AND source IN (?`+strings.Repeat(",?", len(part)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("ledger: look up %d sources: %w", len(part), err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, fmt.Errorf("ledger: look up %d sources: %w", len(part), err)
			}
			out[s] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("ledger: look up %d sources: %w", len(part), err)
		}
	}
	return out, nil
}
