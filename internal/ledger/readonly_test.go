package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/custody-ir/custody/internal/testaws"
)

// oldSchema writes a ledger at schema v (the first v migrations) with a
// cursor and a sealed artifact, as a custody of that schema left it.
func oldSchema(t *testing.T, path string, v int) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, m := range migrations[:v] {
		if _, err := db.ExecContext(ctx, m); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
	}
	for _, q := range []string{
		fmt.Sprintf("PRAGMA user_version = %d", v),
		`INSERT INTO cursors (collector, scope, value, updated_at) VALUES ('freeze', 'b', 'journal', 't')`,
		`INSERT INTO runs (run_id, stream, collector, started_at, status) VALUES ('r', 's', 'c', 't', 'sealed')`,
		`INSERT INTO manifests (stream, seq, bucket, key, version_id, envelope_sha256, event, signed_at) VALUES ('s', 1, 'ev', 'm', 'v', 'e', 'collect', 't')`,
		`INSERT INTO artifacts (bucket, key, version_id, run_id, sha256, size, kind, stored_at, manifest_stream, manifest_seq) VALUES ('ev', 'log.json.gz', 'v', 'r', 'aa', 1, 'cloudtrail-log', 't', 's', 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestOpenReadOnlyLeavesAnOldLedgerAsItIs: a dry run's ledger at schema 4
// reads its cursors and sealed artifacts, finds no search terms (the
// table comes with migration 5), writes nothing, and the file is the same
// bytes at the same schema afterwards; Open then migrates it as ever.
func TestOpenReadOnlyLeavesAnOldLedgerAsItIs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	oldSchema(t, path, migrationLogTerms-1)
	before := testaws.SQLiteContent(t, path)

	l, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := l.SchemaVersion(ctx); err != nil || v != migrationLogTerms-1 {
		t.Fatalf("schema %d, %v", v, err)
	}
	if v, err := l.Cursor(ctx, "freeze", "b"); err != nil || v != "journal" {
		t.Errorf("cursor: %q, %v", v, err)
	}
	if arts, err := l.SealedOfKind(ctx, "ev", "cloudtrail-log"); err != nil || len(arts) != 1 || arts[0].Key != "log.json.gz" {
		t.Errorf("sealed artifacts: %+v, %v", arts, err)
	}
	n := 0
	if err := l.EachLogTerms(ctx, "ev", func(string, string, string, []string) { n++ }); err != nil || n != 0 {
		t.Errorf("log terms of a ledger before migration %d: %d, %v; want none", migrationLogTerms, n, err)
	}
	if err := l.SetCursor(ctx, "freeze", "b", "changed"); err == nil {
		t.Error("a read-only ledger took a write")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if testaws.SQLiteContent(t, path) != before {
		t.Fatal("the read-only open changed the ledger file")
	}

	l, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if v, _ := l.SchemaVersion(ctx); v != len(migrations) {
		t.Fatalf("Open after the read-only open: schema %d, want %d", v, len(migrations))
	}
	if v, err := l.Cursor(ctx, "freeze", "b"); err != nil || v != "journal" {
		t.Errorf("cursor after migration: %q, %v", v, err)
	}
}

// TestOpenReadOnlyEdgeCases: no ledger is created where there is none; an
// empty file (schema 0) reads as an empty ledger and stays empty; a newer
// schema is refused as Open refuses it; what a writer has committed, not
// yet checkpointed, is read.
func TestOpenReadOnlyEdgeCases(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := OpenReadOnly(ctx, missing); err == nil {
		t.Error("a read-only open of no file succeeded")
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a read-only open created %s (%v)", missing, err)
	}

	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := OpenReadOnly(ctx, empty)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Cursor(ctx, "freeze", "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("cursor of an empty ledger: %v, want ErrNotFound", err)
	}
	if arts, err := l.SealedOfKind(ctx, "ev", "cloudtrail-log"); err != nil || len(arts) != 0 {
		t.Errorf("sealed artifacts of an empty ledger: %+v, %v", arts, err)
	}
	l.Close()
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Errorf("the empty ledger after a read-only open: %v, %v", fi, err)
	}

	newer := filepath.Join(dir, "newer.db")
	w, err := Open(ctx, newer)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetCursor(ctx, "freeze", "b", "in the WAL"); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReadOnly(ctx, newer)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := r.Cursor(ctx, "freeze", "b"); err != nil || v != "in the WAL" {
		t.Errorf("a writer's committed cursor: %q, %v", v, err)
	}
	r.Close()
	if _, err := w.DB().ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := OpenReadOnly(ctx, newer); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("a newer ledger: %v, want ErrNewerSchema", err)
	}
}
