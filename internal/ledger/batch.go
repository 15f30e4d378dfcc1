package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The writes of every stored artifact (its intent before the upload, its
// version after) are many and small, from many uploads at once: each in
// its own SQLite transaction, they cost a collection more than the copy
// they record. They go through one queue instead, and each commit takes
// everything queued (group commit):
//
//   - AddIntent and StoreArtifact return once their row is committed, as
//     before; the rows that arrived while a commit ran share the next.
//     A caller whose context ends first returns at once with its
//     context's error; its row stays in the commit, which goes on (it
//     is shared): the row is committed, or its error is kept for its
//     run's Flush, as a queued row's is. An intent whose caller gave up
//     may thus be in the ledger with no upload: the run looks for it in
//     the bucket when it is sealed, and drops it (Run.settle).
//   - QueueArtifact (a run's uploads) returns at once; the row is
//     committed with the next commit, at the latest by Flush, which a run
//     calls before it is sealed. Until then the row's intent is in the
//     ledger: a crash before the commit leaves what an upload whose answer
//     was lost leaves, an intent the next run looks for in the bucket,
//     hashes and seals (Chain.Reseal). The QueueArtifact that fills the
//     queue (maxQueued) commits it before it returns, not watching its
//     context: one commit, at most one busy timeout.
//   - Flush waits for the commits of everything queued; if its context
//     ends first it returns that error, and the commits go on (the next
//     Flush, or Close, returns the errors of rows that failed).
//
// When a commit fails, its error decides what is tried again. A row's
// own error (a constraint it breaks: a run the ledger does not know) fails
// that row only, so each row is then tried alone and fails with its own
// error. Any other (SQLITE_BUSY or SQLITE_LOCKED after the busy timeout,
// an I/O error, a full disk) would fail each row alike, and trying them
// one by one would wait the busy timeout once per row: every row of the
// commit fails at once with that one error.
//
// Only one commit runs at a time in this process, so the uploads' writes
// never wait on each other in SQLite's busy handler; another process's
// writes are waited for as before (busy_timeout).

// maxQueued is how many queued rows wait at most before the next commit:
// it bounds the memory of the queue and what a crash sends back to the
// bucket to be located.
const maxQueued = 256

// pendingWrite is one statement waiting for a commit.
type pendingWrite struct {
	query string
	args  []any
	runID string
	what  string // for errors: "record intent for <key>"
	// done receives the row's error, nil once committed; nil for a
	// queued row nobody waits for. Buffered (write makes it): the commit
	// never waits for a caller that gave up.
	done chan error
}

type writeQueue struct {
	mu     sync.Mutex
	queue  []pendingWrite
	queued int // rows in queue nobody waits for
	// idle is set while a commit (or a goroutine going on with the next)
	// runs, and closed when it ends.
	idle     chan struct{}
	commits  int // batches taken from the queue, for tests
	attempts int // transactions begun, for tests
	// failed are the errors of queued rows of each run, and of rows
	// whose caller gave up waiting, returned by its Flush.
	failed map[string][]error
	// gone are the done channels of callers that gave up waiting.
	gone map[chan error]bool
}

func (q *writeQueue) init() {
	q.failed = map[string][]error{}
	q.gone = map[chan error]bool{}
}

// start and stop mark a commit running; q.mu is held.
func (q *writeQueue) start() { q.idle = make(chan struct{}) }

func (q *writeQueue) stop() {
	close(q.idle)
	q.idle = nil
}

// write commits ws, with whatever else is queued, and returns once they
// are committed, with their errors, or once ctx is done.
func (l *Ledger) write(ctx context.Context, ws ...pendingWrite) error {
	if err := ctx.Err(); err != nil {
		// Given up before it began (Ctrl-C): nothing is written, so an
		// upload refused for it leaves no intent to look for.
		return fmt.Errorf("%s: %w", ws[0].what, err)
	}
	q := &l.writes
	for i := range ws {
		ws[i].done = make(chan error, 1)
	}
	q.mu.Lock()
	q.queue = append(q.queue, ws...)
	if q.idle == nil {
		// The commit runs on its own goroutine, shared by the rows queued
		// meanwhile: a caller that gives up does not stop it.
		q.start()
		go l.drain(context.WithoutCancel(ctx))
	}
	q.mu.Unlock()
	var errs []error
	for i, w := range ws {
		select {
		case err := <-w.done:
			errs = append(errs, err)
		case <-ctx.Done():
			return errors.Join(append(errs, l.giveUp(ctx, ws[i:]))...)
		}
	}
	return errors.Join(errs...)
}

// giveUp stops waiting for ws, whose caller's ctx is done. A row answered
// meanwhile returns its answer; the others are left to their commit, and
// the error of one that fails is kept for its run's Flush.
func (l *Ledger) giveUp(ctx context.Context, ws []pendingWrite) error {
	q := &l.writes
	q.mu.Lock()
	defer q.mu.Unlock()
	var errs []error
	var left []string
	for _, w := range ws {
		// Answers are sent with q.mu held: either this one is here or
		// its commit sees it gone.
		select {
		case err := <-w.done:
			errs = append(errs, err)
		default:
			q.gone[w.done] = true
			left = append(left, w.what)
		}
	}
	if len(left) > 0 {
		what := left[0]
		if len(left) > 1 {
			what = fmt.Sprintf("%s (and %d more)", what, len(left)-1)
		}
		errs = append(errs, fmt.Errorf("%s: stopped waiting for the ledger's commit: %w "+
			"(the commit goes on; the run's Flush returns its error if it fails)", what, ctx.Err()))
	}
	return errors.Join(errs...)
}

// queueWrite queues w for the next commit and returns; the caller whose
// row fills the queue commits it first.
func (l *Ledger) queueWrite(ctx context.Context, w pendingWrite) error {
	q := &l.writes
	q.mu.Lock()
	q.queue = append(q.queue, w)
	q.queued++
	if q.idle != nil || q.queued < maxQueued {
		q.mu.Unlock()
		return nil
	}
	q.start()
	q.mu.Unlock()
	// This caller commits what is queued, then hands on to a goroutine
	// whatever arrived meanwhile, so that it is not held up by others'
	// writes for longer than its own commit.
	l.commitQueued(context.WithoutCancel(ctx))
	q.mu.Lock()
	if len(q.queue) > 0 {
		go l.drain(context.WithoutCancel(ctx))
	} else {
		q.stop()
	}
	q.mu.Unlock()
	return nil
}

// drain commits until the queue is empty.
func (l *Ledger) drain(ctx context.Context) {
	q := &l.writes
	for {
		l.commitQueued(ctx)
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.stop()
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
	}
}

// commitQueued takes the queue and commits it in one transaction. If that
// fails on a row's own error, each write is tried alone, so that one bad
// row (a run the ledger does not know) fails alone, with its own error;
// on any other error every write fails with it (see the top of the file).
func (l *Ledger) commitQueued(ctx context.Context) {
	q := &l.writes
	q.mu.Lock()
	batch := q.queue
	q.queue = nil
	q.queued = 0
	if len(batch) > 0 {
		q.commits++
	}
	q.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	errs := make([]error, len(batch))
	if err := l.commit(ctx, batch); err != nil {
		fill := func(from int, err error) {
			for i := from; i < len(batch); i++ {
				errs[i] = err
			}
		}
		if len(batch) == 1 || !rowError(err) {
			fill(0, err)
		} else {
			for i := range batch {
				if errs[i] = l.commit(ctx, batch[i:i+1]); errs[i] != nil && !rowError(errs[i]) {
					fill(i, errs[i]) // the rest would wait for it too
					break
				}
			}
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, w := range batch {
		if errs[i] != nil {
			errs[i] = fmt.Errorf("%s: %w", w.what, errs[i])
			if w.done == nil || q.gone[w.done] {
				q.failed[w.runID] = append(q.failed[w.runID], errs[i])
			}
		}
		if w.done != nil {
			delete(q.gone, w.done)
			w.done <- errs[i] // buffered, and read by nobody else: never blocks
		}
	}
}

// rowError reports whether err, a commit's error, may be one row's own:
// a constraint it breaks, a value SQLite refuses. Tried alone, the other
// rows of the commit may succeed.
func rowError(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary code of an extended one
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_RANGE:
		return true
	}
	return false
}

// commit runs writes in one transaction.
func (l *Ledger) commit(ctx context.Context, writes []pendingWrite) error {
	l.writes.mu.Lock()
	l.writes.attempts++
	l.writes.mu.Unlock()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, w := range writes {
		st, err := l.stmt(ctx, w.query)
		if err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, w.args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Flush commits every queued row and returns the errors of those of run
// (every run's with runID ""). A run calls it before it is sealed. If ctx
// is done first it returns ctx's error; the commits go on, and the errors
// of their rows are kept for the next Flush.
func (l *Ledger) Flush(ctx context.Context, runID string) error {
	q := &l.writes
	q.mu.Lock()
	for q.idle != nil || len(q.queue) > 0 {
		if q.idle == nil {
			q.start()
			go l.drain(context.WithoutCancel(ctx))
		}
		idle := q.idle
		q.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("flush the ledger %s: stopped waiting for its commits: %w "+
				"(they go on; the next Flush returns the errors of rows that failed)", l.path, ctx.Err())
		}
		q.mu.Lock()
	}
	var errs []error
	for id, e := range q.failed {
		if runID == "" || id == runID {
			errs = append(errs, e...)
			delete(q.failed, id)
		}
	}
	q.mu.Unlock()
	return errors.Join(errs...)
}
