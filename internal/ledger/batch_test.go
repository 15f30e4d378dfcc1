package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

func startRun(t *testing.T, l *Ledger, id string) {
	t.Helper()
	if err := l.StartRun(context.Background(), Run{ID: id, Stream: "s", Collector: "c", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func versions(t *testing.T, l *Ledger, run string) map[string]string {
	t.Helper()
	rows, err := l.UnsealedArtifacts(context.Background(), []string{run})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range rows {
		out[a.Key] = a.VersionID
	}
	return out
}

// A queued version is committed by Flush at the latest; until then the
// ledger holds its intent, as after an upload whose answer was lost.
func TestQueuedArtifactCommittedByFlush(t *testing.T) {
	ctx := context.Background()
	l := openTemp(t)
	startRun(t, l, "run-1")
	a := Artifact{Bucket: "evidence", Key: "k1", RunID: "run-1", Kind: "log", Source: "s3://src/k1"}
	if err := l.AddIntent(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.VersionID, a.SHA256, a.Size = "v1", "00ff", 3
	if err := l.QueueArtifact(ctx, a); err != nil {
		t.Fatal(err)
	}
	if v := versions(t, l, "run-1"); v["k1"] != "" {
		t.Fatalf("before Flush: version %q, want the intent alone", v["k1"])
	}
	if err := l.Flush(ctx, "run-1"); err != nil {
		t.Fatal(err)
	}
	rows, err := l.UnsealedArtifacts(ctx, []string{"run-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].VersionID != "v1" || rows[0].SHA256 != "00ff" || rows[0].Size != 3 || rows[0].Source != "s3://src/k1" {
		t.Fatalf("after Flush: %+v", rows)
	}
	// A version without its SHA-256 is refused at once, not at Flush.
	if err := l.QueueArtifact(ctx, Artifact{Bucket: "evidence", Key: "k2", RunID: "run-1", VersionID: "v"}); err == nil {
		t.Fatal("a version without SHA-256 was queued")
	}
}

// Concurrent uploads' writes share commits, and each caller of AddIntent
// returns with its intent committed.
func TestConcurrentWritesShareCommits(t *testing.T) {
	ctx := context.Background()
	l := openTemp(t)
	startRun(t, l, "run-1")
	const n = 400
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := Artifact{Bucket: "evidence", Key: fmt.Sprintf("k%03d", i), RunID: "run-1", Kind: "log"}
			if err := l.AddIntent(ctx, a); err != nil {
				errs <- err
				return
			}
			var one int
			if err := l.DB().QueryRowContext(ctx, `SELECT count(*) FROM artifacts WHERE key = ? AND run_id = ?`, a.Key, a.RunID).Scan(&one); err != nil || one != 1 {
				errs <- fmt.Errorf("intent of %s not committed when AddIntent returned (%d rows, %v)", a.Key, one, err)
				return
			}
			a.VersionID, a.SHA256 = "v"+a.Key, "aa"
			errs <- l.QueueArtifact(ctx, a)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(ctx, "run-1"); err != nil {
		t.Fatal(err)
	}
	v := versions(t, l, "run-1")
	if len(v) != n {
		t.Fatalf("%d rows, want %d", len(v), n)
	}
	for k, ver := range v {
		if ver != "v"+k {
			t.Fatalf("%s: version %q", k, ver)
		}
	}
	l.writes.mu.Lock()
	commits := l.writes.commits
	l.writes.mu.Unlock()
	if commits >= 2*n {
		t.Fatalf("%d commits for %d writes: none shared", commits, 2*n)
	}
	t.Logf("%d writes in %d commits", 2*n, commits)
}

// The queue is bounded: at maxQueued rows it commits without a Flush.
func TestQueueIsBounded(t *testing.T) {
	ctx := context.Background()
	l := openTemp(t)
	startRun(t, l, "run-1")
	for i := 0; i < maxQueued; i++ {
		a := Artifact{Bucket: "evidence", Key: fmt.Sprintf("k%03d", i), RunID: "run-1", VersionID: "v", SHA256: "aa"}
		if err := l.QueueArtifact(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if v := versions(t, l, "run-1"); len(v) != maxQueued {
		t.Fatalf("%d rows committed after %d queued, want all", len(v), maxQueued)
	}
	l.writes.mu.Lock()
	left := len(l.writes.queue)
	l.writes.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d rows still queued", left)
	}
}

// A row that cannot be written fails alone: the rows committed with it
// are kept, a waiting caller gets its own error, and the error of a
// queued row is returned by its run's Flush only.
func TestFailedRowFailsAlone(t *testing.T) {
	ctx := context.Background()
	l := openTemp(t)
	startRun(t, l, "run-1")
	var wg sync.WaitGroup
	var intentErr error
	l.writes.mu.Lock() // hold the queue so that all of these share one commit
	l.writes.start()
	l.writes.mu.Unlock()
	for i := 0; i < 3; i++ {
		if err := l.QueueArtifact(ctx, Artifact{Bucket: "evidence", Key: fmt.Sprintf("good%d", i), RunID: "run-1", VersionID: "v", SHA256: "aa"}); err != nil {
			t.Fatal(err)
		}
	}
	// A run the ledger does not know: the foreign key refuses both rows.
	if err := l.QueueArtifact(ctx, Artifact{Bucket: "evidence", Key: "orphan", RunID: "run-unknown", VersionID: "v", SHA256: "aa"}); err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		intentErr = l.AddIntent(ctx, Artifact{Bucket: "evidence", Key: "orphan-intent", RunID: "run-unknown"})
	}()
	for {
		l.writes.mu.Lock()
		n := len(l.writes.queue)
		l.writes.mu.Unlock()
		if n == 5 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	before := attempts(l)
	l.drain(ctx) // release the queue: one commit, which fails, then each alone
	wg.Wait()
	if intentErr == nil || !strings.Contains(intentErr.Error(), "orphan-intent") || !hasCode(intentErr, sqlite3.SQLITE_CONSTRAINT) {
		t.Fatalf("AddIntent of an unknown run: %v", intentErr)
	}
	if got := attempts(l) - before; got != 1+5 {
		t.Fatalf("%d transactions, want the batch's and one for each of its 5 rows", got)
	}
	if err := l.Flush(ctx, "run-1"); err != nil {
		t.Fatalf("Flush of run-1: %v", err)
	}
	if v := versions(t, l, "run-1"); len(v) != 3 || v["good0"] != "v" {
		t.Fatalf("run-1 rows: %v", v)
	}
	err := l.Flush(ctx, "run-unknown")
	if err == nil || !strings.Contains(err.Error(), "record artifact orphan") {
		t.Fatalf("Flush of the unknown run: %v", err)
	}
	if err := l.Flush(ctx, "run-unknown"); err != nil {
		t.Fatalf("the error was returned twice: %v", err)
	}
}

// openBusy opens a ledger whose writers wait busy for another process's
// write.
func openBusy(t *testing.T, busy time.Duration) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), withBusyTimeout(busy))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// lockLedger holds the write lock of l's file on a connection of its own,
// as another process's write would, until release is called.
func lockLedger(t *testing.T, l *Ledger) (release func()) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", l.Path())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Error(err)
			}
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

func attempts(l *Ledger) int {
	l.writes.mu.Lock()
	defer l.writes.mu.Unlock()
	return l.writes.attempts
}

func hasCode(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == code
}

// A commit refused because another process holds the ledger (busy after
// the busy timeout) fails all its rows at once: tried one by one, each
// would wait the busy timeout again.
func TestBusyCommitFailsEveryRowAtOnce(t *testing.T) {
	ctx := context.Background()
	l := openBusy(t, 50*time.Millisecond)
	startRun(t, l, "run-1")
	release := lockLedger(t, l)
	const n = 4
	var as []Artifact
	for i := 0; i < n; i++ {
		as = append(as, Artifact{Bucket: "evidence", Key: fmt.Sprintf("k%d", i), RunID: "run-1", Kind: "log"})
	}
	before := attempts(l)
	err := l.AddIntents(ctx, as)
	if !hasCode(err, sqlite3.SQLITE_BUSY) {
		t.Fatalf("AddIntents while the ledger is locked: %v, want SQLITE_BUSY", err)
	}
	for _, a := range as {
		if !strings.Contains(err.Error(), "record intent for "+a.Key+":") {
			t.Fatalf("the error does not name %s: %v", a.Key, err)
		}
	}
	if got := attempts(l) - before; got != 1 {
		t.Fatalf("%d transactions for a commit of %d rows refused as busy, want 1", got, n)
	}

	// Queued rows: their commit, by Flush, fails once too.
	for _, a := range as {
		a.VersionID, a.SHA256 = "v", "aa"
		if err := l.QueueArtifact(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	before = attempts(l)
	err = l.Flush(ctx, "run-1")
	if !hasCode(err, sqlite3.SQLITE_BUSY) || !strings.Contains(err.Error(), "record artifact k3:") {
		t.Fatalf("Flush while the ledger is locked: %v, want SQLITE_BUSY for each row", err)
	}
	if got := attempts(l) - before; got != 1 {
		t.Fatalf("Flush: %d transactions for %d queued rows refused as busy, want 1", got, n)
	}

	release()
	if v := versions(t, l, "run-1"); len(v) != 0 {
		t.Fatalf("rows written while the ledger was locked: %v", v)
	}
	if err := l.AddIntents(ctx, as); err != nil {
		t.Fatalf("once the lock is released: %v", err)
	}
	if v := versions(t, l, "run-1"); len(v) != n {
		t.Fatalf("%d rows after the lock was released, want %d", len(v), n)
	}
}

// A caller whose context is cancelled while its commit waits for another
// process's lock returns at once; its rows stay in the commit, which goes
// on: each is committed, or its error is returned by its run's Flush.
func TestCancelledWaiterLeavesItsRowsToTheCommit(t *testing.T) {
	ctx := context.Background()
	// Longer than the test waits: the commit stays blocked until the
	// lock is released.
	l := openBusy(t, time.Minute)
	startRun(t, l, "run-1")
	release := lockLedger(t, l)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		got <- l.AddIntents(cctx, []Artifact{
			{Bucket: "evidence", Key: "kept", RunID: "run-1", Kind: "log"},
			{Bucket: "evidence", Key: "orphan", RunID: "run-unknown", Kind: "log"}, // refused by the foreign key
		})
	}()
	for attempts(l) == 0 { // the commit has begun, and waits for the lock
		time.Sleep(time.Millisecond)
	}
	cancel()
	var err error
	select {
	case err = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("AddIntents still waits for a commit after its context was cancelled")
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "record intent for kept") {
		t.Fatalf("AddIntents with its context cancelled: %v, want context.Canceled naming the row", err)
	}
	// A Flush whose context is done does not wait either.
	fctx, fcancel := context.WithCancel(ctx)
	fcancel()
	if err := l.Flush(fctx, "run-1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush with its context cancelled: %v", err)
	}
	l.writes.mu.Lock()
	running := l.writes.idle != nil
	l.writes.mu.Unlock()
	if !running || attempts(l) != 1 {
		t.Fatalf("the commit ended (running %v, %d transactions) before the lock was released", running, attempts(l))
	}

	release()
	if err := l.Flush(ctx, "run-1"); err != nil {
		t.Fatalf("Flush of run-1: %v", err)
	}
	if v, ok := versions(t, l, "run-1")["kept"]; !ok || v != "" {
		t.Fatalf("the intent of the cancelled caller was not committed (%q, %v)", v, ok)
	}
	err = l.Flush(ctx, "run-unknown")
	if !hasCode(err, sqlite3.SQLITE_CONSTRAINT) || !strings.Contains(err.Error(), "record intent for orphan") {
		t.Fatalf("Flush of the unknown run: %v, want the refused row of the cancelled caller", err)
	}
	l.writes.mu.Lock()
	defer l.writes.mu.Unlock()
	if l.writes.idle != nil || len(l.writes.queue) != 0 || len(l.writes.gone) != 0 {
		t.Fatalf("after Flush: running %v, %d queued, %d given up still tracked", l.writes.idle != nil, len(l.writes.queue), len(l.writes.gone))
	}
}

// SealedSources answers for many sources what SourceSealed answers for
// each: sealed rows only, not intents or unsealed versions.
func TestSealedSources(t *testing.T) {
	ctx := context.Background()
	l := openTemp(t)
	startRun(t, l, "run-1")
	var all []string
	var sealed []ArtifactRef
	for i := 0; i < 1200; i++ {
		src := fmt.Sprintf("s3://logs/k%04d", i)
		all = append(all, src)
		a := Artifact{Bucket: "evidence", Key: fmt.Sprintf("e/%04d", i), RunID: "run-1", Kind: "log", Source: src}
		if i%3 == 2 {
			if err := l.AddIntent(ctx, a); err != nil { // an intent only
				t.Fatal(err)
			}
			continue
		}
		a.VersionID, a.SHA256 = "v", "aa"
		if err := l.StoreArtifact(ctx, a); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			sealed = append(sealed, ArtifactRef{Bucket: a.Bucket, Key: a.Key, VersionID: a.VersionID})
		}
	}
	if err := l.RecordManifest(ctx, Manifest{Stream: "s", Seq: 1, Bucket: "evidence", Key: "m/1", VersionID: "mv", EnvelopeSHA256: "ee", Event: "collect", RunID: "run-1", SignedAt: time.Now()}, sealed); err != nil {
		t.Fatal(err)
	}
	got, err := l.SealedSources(ctx, append(all, "s3://logs/never"))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range append(all, "s3://logs/never") {
		one, err := l.SourceSealed(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		if got[src] != one {
			t.Fatalf("%s: SealedSources %v, SourceSealed %v", src, got[src], one)
		}
	}
	if len(got) != 400 {
		t.Fatalf("%d sealed, want 400", len(got))
	}
}

// A write asked for with its context already done (Ctrl-C before an
// upload) writes nothing and says so: no intent is left for a run to
// look for in the bucket.
func TestWriteAfterCancelWritesNothing(t *testing.T) {
	l := openTemp(t)
	startRun(t, l, "run-1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := l.AddIntent(ctx, Artifact{Bucket: "evidence", Key: "k1", RunID: "run-1", Kind: "log"})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "k1") {
		t.Fatalf("AddIntent with its context cancelled: %v, want context.Canceled naming the row", err)
	}
	if err := l.Flush(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if v := versions(t, l, "run-1"); len(v) != 0 {
		t.Fatalf("rows written after the cancel: %v", v)
	}
}
