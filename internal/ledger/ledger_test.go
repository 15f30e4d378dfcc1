package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func openTemp(t *testing.T) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestOpenMigratesAndSetsPragmas(t *testing.T) {
	ctx := context.Background()
	l := openTemp(t)
	v, err := l.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != len(migrations) {
		t.Fatalf("schema version = %d, want %d", v, len(migrations))
	}
	var mode string
	if err := l.DB().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var fk, busy int
	if err := l.DB().QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if err := l.DB().QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if fk != 1 || busy != int(busyTimeout.Milliseconds()) {
		t.Errorf("foreign_keys = %d, busy_timeout = %d", fk, busy)
	}
	for _, table := range []string{"runs", "artifacts", "manifests", "chain_heads", "cursors", "posture_changes", "recovery_jobs", "recovery_actions"} {
		var n int
		if err := l.DB().QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?`, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s missing (err %v)", table, err)
		}
	}
	// Foreign keys are enforced: an artifact of an unknown run is refused.
	_, err = l.DB().ExecContext(ctx, `INSERT INTO artifacts (bucket, key, version_id, run_id, sha256, size, kind, stored_at) VALUES ('b','k','v','no-such-run','00',1,'file','t')`)
	if err == nil {
		t.Error("artifact with unknown run accepted: foreign keys not enforced")
	}
}

func TestReopenIsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetCursor(ctx, "cloudtrail", "111122223333/us-east-1/main", "2026-11-01T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, err := l.Cursor(ctx, "cloudtrail", "111122223333/us-east-1/main")
	if err != nil || got != "2026-11-01T00:00:00Z" {
		t.Fatalf("cursor after reopen = %q, %v", got, err)
	}
}

func TestNewerSchemaIsRefusedAndUntouched(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	future := len(migrations) + 5
	if _, err := l.DB().ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", future)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	_, err = Open(ctx, path)
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open of a newer ledger: err = %v, want ErrNewerSchema", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("a newer ledger was modified by Open")
	}
}

func TestCursorMissing(t *testing.T) {
	l := openTemp(t)
	if _, err := l.Cursor(context.Background(), "x", "y"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestRuns(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	l, err := Open(ctx, filepath.Join(t.TempDir(), "l.db"), WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.StartRun(ctx, Run{ID: "r1", Stream: "s", Collector: "posture"}); err != nil {
		t.Fatal(err)
	}
	if err := l.StartRun(ctx, Run{ID: "r1", Stream: "s", Collector: "posture"}); err == nil {
		t.Error("duplicate run id accepted")
	}
	clock = clock.Add(time.Minute)
	if err := l.FinishRun(ctx, "r1", RunSealed, ""); err != nil {
		t.Fatal(err)
	}
	if err := l.FinishRun(ctx, "nope", RunSealed, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("finish unknown run: %v", err)
	}
	runs, err := l.Runs(ctx, RunSealed)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].ID != "r1" || !runs[0].FinishedAt.Equal(clock) || runs[0].Collector != "posture" {
		t.Fatalf("runs = %+v", runs)
	}
	if running, _ := l.Runs(ctx, RunRunning); len(running) != 0 {
		t.Errorf("running runs = %+v", running)
	}
}

// TestTwoProcesses opens one new ledger from two processes at once; both
// migrate-or-wait and write without a "database is locked" failure.
func TestTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	const procs, writes = 2, 100
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), "LEDGER_HELPER_PATH="+path, "LEDGER_HELPER_ID="+strconv.Itoa(i), "LEDGER_HELPER_WRITES="+strconv.Itoa(writes))
		cmd.Stderr = os.Stderr
		cmd.Stdout = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	l, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var n int
	if err := l.DB().QueryRow(`SELECT count(*) FROM cursors`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != procs*writes {
		t.Fatalf("cursors written = %d, want %d", n, procs*writes)
	}
}

func TestHelperProcess(t *testing.T) {
	path := os.Getenv("LEDGER_HELPER_PATH")
	if path == "" {
		return // not a helper run
	}
	id := os.Getenv("LEDGER_HELPER_ID")
	writes, _ := strconv.Atoi(os.Getenv("LEDGER_HELPER_WRITES"))
	ctx := context.Background()
	l, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("helper %s open: %v", id, err)
	}
	defer l.Close()
	for i := 0; i < writes; i++ {
		if err := l.SetCursor(ctx, "proc"+id, strconv.Itoa(i), "v"); err != nil {
			t.Fatalf("helper %s write %d: %v", id, i, err)
		}
	}
}

func TestFilesArePrivate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A write while open, so that SQLite has its -wal and -shm files.
	if err := l.SetCursor(ctx, "c", "s", "v"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, st.Mode().Perm())
		}
	}
}

func TestCorruptLedgerSaysWhatToDo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notDB := filepath.Join(dir, "text.db")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("not a database\n"), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(dir, "damaged.db")
	l, err := Open(ctx, damaged)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		if err := l.SetCursor(ctx, "c", fmt.Sprint("scope-", i), "some value to fill pages"); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	b, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	for i := 4096; i < len(b); i++ { // every page after the header page
		b[i] = 0xa5
	}
	if err := os.WriteFile(damaged, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{notDB, damaged} {
		l, err := Open(ctx, path)
		if err == nil {
			_, err = l.Stats(ctx)
			l.Close()
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: %v, want ErrCorrupt", path, err)
		}
		for _, want := range []string{path, "only an index", "rebuilt from the bucket", "custody verify --no-ledger"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error does not say %q: %v", path, want, err)
			}
		}
	}
}
