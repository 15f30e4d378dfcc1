package ledger

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/custody-ir/custody/internal/versionlist"
)

// migrations are applied in order; migration i brings the schema to
// version i+1 (kept in PRAGMA user_version). Never edit a released
// migration: append a new one.
//
// Every row here can be derived again from the evidence bucket, which is
// the source of truth (see docs/ledger.md): runs and artifacts from the
// manifests' subjects and predicates, manifests and chain heads from the
// manifest objects and checkpoints, cursors from the newest artifacts of
// each collector, and recovery jobs from their signed custody events.
var migrations = []string{
	// 1: the first schema.
	`
CREATE TABLE runs (
	run_id      TEXT PRIMARY KEY,            -- also the <run> segment of artifact keys
	stream      TEXT NOT NULL,               -- the agent stream that seals the run
	collector   TEXT NOT NULL,               -- cloudtrail, config, posture, versions, add, ...
	started_at  TEXT NOT NULL,
	finished_at TEXT,
	status      TEXT NOT NULL CHECK (status IN ('running', 'sealed', 'failed', 'abandoned')),
	error       TEXT
);
CREATE INDEX runs_by_status ON runs(status, started_at);

CREATE TABLE manifests (
	stream          TEXT NOT NULL,
	seq             INTEGER NOT NULL CHECK (seq >= 1),
	bucket          TEXT NOT NULL,
	key             TEXT NOT NULL,
	version_id      TEXT NOT NULL,
	envelope_sha256 TEXT NOT NULL,
	prev_sha256     TEXT,                    -- NULL only for seq 1
	event           TEXT NOT NULL,           -- collect, add, export, recover, reseal
	run_id          TEXT REFERENCES runs(run_id),
	signed_at       TEXT NOT NULL,
	PRIMARY KEY (stream, seq)
);

CREATE TABLE chain_heads (
	stream          TEXT PRIMARY KEY,
	seq             INTEGER NOT NULL,
	envelope_sha256 TEXT NOT NULL,
	updated_at      TEXT NOT NULL,
	FOREIGN KEY (stream, seq) REFERENCES manifests(stream, seq)
);

CREATE TABLE artifacts (
	bucket         TEXT NOT NULL,
	key            TEXT NOT NULL,
	version_id     TEXT NOT NULL,            -- '' while the upload is in flight (an intent)
	run_id         TEXT NOT NULL REFERENCES runs(run_id),
	sha256         TEXT NOT NULL,            -- hex, of the stored bytes ('' while in flight)
	size           INTEGER NOT NULL CHECK (size >= 0),
	kind           TEXT NOT NULL,            -- cloudtrail-digest, config-snapshot, posture, versions, file, ...
	account        TEXT NOT NULL DEFAULT '',
	region         TEXT NOT NULL DEFAULT '',
	source         TEXT NOT NULL DEFAULT '', -- where the bytes came from (s3://bucket/key, API call)
	source_version TEXT NOT NULL DEFAULT '', -- version id or ETag at the source
	case_id        TEXT NOT NULL DEFAULT '',
	part_size      INTEGER NOT NULL DEFAULT 0, -- multipart part size, 0 for a single PUT
	retain_until   TEXT NOT NULL DEFAULT '',
	legal_hold     INTEGER NOT NULL DEFAULT 0,
	stored_at      TEXT NOT NULL,
	manifest_stream TEXT,                    -- NULL until sealed
	manifest_seq    INTEGER,
	PRIMARY KEY (bucket, key, version_id),
	UNIQUE (bucket, key, run_id),
	FOREIGN KEY (manifest_stream, manifest_seq) REFERENCES manifests(stream, seq)
);
CREATE INDEX artifacts_unsealed ON artifacts(run_id) WHERE manifest_seq IS NULL;
CREATE INDEX artifacts_by_case ON artifacts(case_id) WHERE case_id <> '';

CREATE TABLE cursors (
	collector  TEXT NOT NULL,
	scope      TEXT NOT NULL,                -- account/region/trail, bucket, ...
	value      TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	PRIMARY KEY (collector, scope)
);

CREATE TABLE posture_changes (
	bucket     TEXT NOT NULL,
	at         TEXT NOT NULL,                -- when the snapshot that saw it was taken
	setting    TEXT NOT NULL,                -- policy, publicAccessBlock, acl, ...
	before     TEXT NOT NULL,                -- JSON of the setting before
	after      TEXT NOT NULL,                -- JSON of the setting after
	risk       TEXT NOT NULL DEFAULT '',
	run_id     TEXT NOT NULL REFERENCES runs(run_id),
	PRIMARY KEY (bucket, at, setting)
);

CREATE TABLE recovery_jobs (
	job_id     TEXT PRIMARY KEY,
	bucket     TEXT NOT NULL,
	prefix     TEXT NOT NULL DEFAULT '',
	target_at  TEXT NOT NULL,                -- the T of --since, UTC
	created_at TEXT NOT NULL,
	status     TEXT NOT NULL CHECK (status IN ('planned', 'applying', 'pending', 'done', 'failed')),
	options    TEXT NOT NULL DEFAULT '{}'    -- JSON of the flags the job was planned with
);

CREATE TABLE recovery_actions (
	job_id     TEXT NOT NULL REFERENCES recovery_jobs(job_id),
	seq        INTEGER NOT NULL,
	kind       TEXT NOT NULL,                -- remove-marker, copy, replica-copy, restore-archive, hide-new, unrecoverable
	key        TEXT NOT NULL,
	version_id TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT '{}',   -- JSON: expected ETag, size, checksum, source of the fact
	state      TEXT NOT NULL CHECK (state IN ('planned', 'running', 'done', 'failed', 'pending', 'skipped')),
	error      TEXT NOT NULL DEFAULT '',
	updated_at TEXT NOT NULL,
	PRIMARY KEY (job_id, seq)
);
CREATE INDEX recovery_actions_open ON recovery_actions(job_id, state) WHERE state <> 'done';
`,
	// 2: sealed artifacts by source, so collectors skip source objects an
	// earlier run (or a reseal after a crash) preserved already.
	`CREATE INDEX artifacts_sealed_by_source ON artifacts(source) WHERE manifest_seq IS NOT NULL AND source <> '';`,
	// 3: the bucket an artifact is about, so that recover finds a
	// bucket's preserved version list by kind and bucket, not by a
	// substring of its key (which took the list of "logs.versions.old"
	// for one of "logs"). Rows already there get it from fillSourceBuckets.
	`
ALTER TABLE artifacts ADD COLUMN source_bucket TEXT NOT NULL DEFAULT ''; -- the bucket the artifact lists or describes, where known
CREATE INDEX artifacts_by_source_bucket ON artifacts(kind, source_bucket, stored_at) WHERE version_id <> '' AND source_bucket <> '';
`,
	// 4: what changed between two sealed snapshots of an account's IAM
	// state or KMS keys (see statechanges.go); derivable again by
	// comparing the sealed snapshots in order.
	stateChangesSchema,
	// 5: the search terms of the sealed log files custody search has read
	// (see terms.go); derivable again from the sealed files.
	logTermsSchema,
}

// The migrations that add what a read-only ledger of an older schema may
// not have (OpenReadOnly, Ledger.lacks).
const (
	migrationFirst    = 1 // runs, artifacts, manifests, cursors, ...
	migrationLogTerms = 5 // log_terms
)

// migrationFills complete a migration with what SQL cannot derive: fill
// i runs in the same transaction, right after migration i.
var migrationFills = map[int]func(context.Context, *sql.Tx) error{
	3: fillSourceBuckets,
}

// sourceBucket is the bucket an artifact is about, where its kind says:
// a version list's is the bucket it lists, read back from its file name.
func sourceBucket(a Artifact) string {
	if a.SourceBucket != "" {
		return a.SourceBucket
	}
	if a.Kind == versionlist.Kind {
		if b, ok := versionlist.BucketOf(a.Key); ok {
			return b
		}
	}
	return ""
}

// fillSourceBuckets sets source_bucket on the rows written before
// migration 3, where the key names it.
func fillSourceBuckets(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT bucket, key, version_id FROM artifacts WHERE kind = ? AND source_bucket = ''`, versionlist.Kind)
	if err != nil {
		return err
	}
	type fill struct{ bucket, key, version, source string }
	var fills []fill
	for rows.Next() {
		var f fill
		if err := rows.Scan(&f.bucket, &f.key, &f.version); err != nil {
			rows.Close()
			return err
		}
		if f.source = sourceBucket(Artifact{Kind: versionlist.Kind, Key: f.key}); f.source != "" {
			fills = append(fills, f)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, f := range fills {
		if _, err := tx.ExecContext(ctx, `UPDATE artifacts SET source_bucket = ? WHERE bucket = ? AND key = ? AND version_id = ?`,
			f.source, f.bucket, f.key, f.version); err != nil {
			return fmt.Errorf("fill the source bucket of %s: %w", f.key, err)
		}
	}
	return nil
}
