package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// versionListKey is where the collector puts a version list named name.
func versionListKey(run, name string) string {
	return "custody/collect/111122223333/us-east-1/versions/2026/11/20/" + run + "/" + name
}

// storedKeys is the keys of arts.
func storedKeys(arts []Artifact) []string {
	var out []string
	for _, a := range arts {
		out = append(out, a.Key)
	}
	return out
}

// A ledger written before migration 3 is migrated in place: its version
// lists get the bucket they list from their key, other artifacts none,
// and the lookup by bucket finds each bucket's own list, never that of a
// bucket whose name holds the first one's (which the old key-substring
// lookup returned for "logs").
func TestMigrationFillsSourceBucket(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range migrations[:2] {
		if _, err := db.ExecContext(ctx, m); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
	}
	if _, err := db.ExecContext(ctx, "PRAGMA user_version = 2"); err != nil {
		t.Fatal(err)
	}
	at := func(h int) string { return time.Date(2026, 11, 20, h, 0, 0, 0, time.UTC).Format(time.RFC3339Nano) }
	rows := []struct{ run, key, kind, stored string }{
		{"r1", versionListKey("r1", "logs.versions.root.ndjson.gz"), "versions", at(1)},
		{"r1", versionListKey("r1", "logs.versions.00001.ndjson.gz"), "versions", at(1)},
		{"r1", versionListKey("r1", "other.versions.ndjson.gz"), "versions", at(1)},
		{"r2", versionListKey("r2", "logs.versions.old.versions.ndjson.gz"), "versions", at(2)},
		{"r2", "custody/collect/111122223333/us-east-1/posture/2026/11/20/r2/logs.json", "posture", at(2)},
	}
	for _, r := range rows {
		if _, err := db.ExecContext(ctx, `INSERT OR IGNORE INTO runs (run_id, stream, collector, started_at, status) VALUES (?, 's', 'c', ?, 'sealed')`, r.run, r.stored); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO artifacts (bucket, key, version_id, run_id, sha256, size, kind, stored_at) VALUES ('ev', ?, 'v', ?, 'aa', 1, ?, ?)`,
			r.key, r.run, r.kind, r.stored); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	l, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if v, _ := l.SchemaVersion(ctx); v != len(migrations) {
		t.Fatalf("schema %d, want %d", v, len(migrations))
	}
	got := map[string]string{}
	q, err := l.DB().QueryContext(ctx, `SELECT key, source_bucket FROM artifacts`)
	if err != nil {
		t.Fatal(err)
	}
	for q.Next() {
		var k, b string
		if err := q.Scan(&k, &b); err != nil {
			t.Fatal(err)
		}
		got[filepath.Base(k)] = b
	}
	q.Close()
	want := map[string]string{"logs.versions.root.ndjson.gz": "logs", "logs.versions.00001.ndjson.gz": "logs", "other.versions.ndjson.gz": "other",
		"logs.versions.old.versions.ndjson.gz": "logs.versions.old", "logs.json": ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("source buckets after migration:\n got %v\nwant %v", got, want)
	}
	arts, err := l.LatestBySourceBucket(ctx, "versions", "logs", time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if k := storedKeys(arts); len(k) != 2 || filepath.Base(k[0]) != "logs.versions.00001.ndjson.gz" || filepath.Base(k[1]) != "logs.versions.root.ndjson.gz" || arts[0].SourceBucket != "logs" {
		t.Fatalf("the version list of logs: %v", k)
	}
	arts, err = l.LatestBySourceBucket(ctx, "versions", "logs.versions.old", time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC))
	if err != nil || len(arts) != 1 {
		t.Fatalf("the version list of logs.versions.old: %v, %v", storedKeys(arts), err)
	}
	if arts, err := l.LatestBySourceBucket(ctx, "versions", "logs", time.Date(2026, 11, 20, 0, 30, 0, 0, time.UTC)); err != nil || arts != nil {
		t.Fatalf("nothing was preserved before 00:30, got %v, %v", storedKeys(arts), err)
	}
}

// New artifacts get their source bucket as they are recorded: a version
// list from its key, unless the caller names it; the lookup takes the
// newest run at or before t.
func TestStoreArtifactRecordsSourceBucket(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	l, err := Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i, run := range []string{"r1", "r2"} {
		if err := l.StartRun(ctx, Run{ID: run, Stream: "s", Collector: "versions"}); err != nil {
			t.Fatal(err)
		}
		stored := now.Add(time.Duration(i+1) * time.Hour)
		for _, a := range []Artifact{
			{Key: versionListKey(run, "logs.versions.ndjson.gz")},
			{Key: versionListKey(run, "logs.versions.old.versions.ndjson.gz")},
			{Key: versionListKey(run, "renamed.json"), SourceBucket: "logs"},
		} {
			a.Bucket, a.RunID, a.Kind, a.VersionID, a.SHA256, a.StoredAt = "ev", run, "versions", "v", "aa", stored
			if err := l.AddIntent(ctx, a); err != nil {
				t.Fatal(err)
			}
			if err := l.StoreArtifact(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
	}
	arts, err := l.LatestBySourceBucket(ctx, "versions", "logs", now.Add(90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if k := storedKeys(arts); len(k) != 2 || k[0] != versionListKey("r1", "logs.versions.ndjson.gz") || k[1] != versionListKey("r1", "renamed.json") {
		t.Fatalf("the list of logs at 01:30: %v", k)
	}
	arts, err = l.LatestBySourceBucket(ctx, "versions", "logs.versions.old", now.Add(3*time.Hour))
	if k := storedKeys(arts); err != nil || len(k) != 1 || k[0] != versionListKey("r2", "logs.versions.old.versions.ndjson.gz") {
		t.Fatalf("the list of logs.versions.old at 03:00: %v, %v", k, err)
	}
}
