package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// The writes of every stored artifact (its intent before the upload, its
// version after) are many and small, from many uploads at once: each in
// its own SQLite transaction, they cost a collection more than the copy
// they record. They go through one queue instead, and each commit takes
// everything queued (group commit):
//
//   - AddIntent and StoreArtifact return once their row is committed, as
//     before; the rows that arrived while a commit ran share the next.
//   - QueueArtifact (a run's uploads) returns at once; the row is
//     committed with the next commit, at the latest by Flush, which a run
//     calls before it is sealed. Until then the row's intent is in the
//     ledger: a crash before the commit leaves what an upload whose answer
//     was lost leaves, an intent the next run looks for in the bucket,
//     hashes and seals (Chain.Reseal).
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
	what  string     // for errors: "record intent for <key>"
	done  chan error // nil for a queued row nobody waits for
}

type writeQueue struct {
	mu      sync.Mutex
	idle    *sync.Cond // broadcast when a commit ends
	queue   []pendingWrite
	queued  int  // rows in queue nobody waits for
	running bool // a commit (or a goroutine going on with the next) runs
	commits int  // transactions committed, for tests
	// failed are the errors of queued rows of each run, returned by its
	// Flush.
	failed map[string][]error
}

func (q *writeQueue) init() {
	q.idle = sync.NewCond(&q.mu)
	q.failed = map[string][]error{}
}

// write commits w, with whatever else is queued, and returns once it is
// committed (w.done set), or queues it (w.done nil).
func (l *Ledger) write(ctx context.Context, w pendingWrite) error {
	return l.writeAll(ctx, []pendingWrite{w}, w.done == nil)
}

// writeAll commits ws (each with its done channel) in the next commit and
// returns once they are all committed, with their errors; or, queued,
// queues them (no done channels).
func (l *Ledger) writeAll(ctx context.Context, ws []pendingWrite, queued bool) error {
	q := &l.writes
	q.mu.Lock()
	q.queue = append(q.queue, ws...)
	if queued {
		q.queued += len(ws)
	}
	wait := func() error {
		if queued {
			return nil
		}
		var errs []error
		for _, w := range ws {
			errs = append(errs, <-w.done)
		}
		return errors.Join(errs...)
	}
	if q.running || (queued && q.queued < maxQueued) {
		q.mu.Unlock()
		return wait()
	}
	q.running = true
	q.mu.Unlock()
	// This caller commits what is queued, then hands on to a goroutine
	// whatever arrived meanwhile, so that it is not held up by others'
	// writes for longer than its own commit.
	l.commitQueued(context.WithoutCancel(ctx))
	q.mu.Lock()
	if len(q.queue) > 0 {
		go l.drain(context.WithoutCancel(ctx))
	} else {
		q.running = false
		q.idle.Broadcast()
	}
	q.mu.Unlock()
	return wait()
}

// drain commits until the queue is empty.
func (l *Ledger) drain(ctx context.Context) {
	q := &l.writes
	for {
		l.commitQueued(ctx)
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.running = false
			q.idle.Broadcast()
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
	}
}

// commitQueued takes the queue and commits it in one transaction. If that
// fails, each write is tried alone, so that one bad row (a run the ledger
// does not know) fails alone, with its own error.
func (l *Ledger) commitQueued(ctx context.Context) {
	q := &l.writes
	q.mu.Lock()
	batch := q.queue
	q.queue = nil
	q.queued = 0
	q.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	errs := make([]error, len(batch))
	err := l.commit(ctx, batch)
	q.mu.Lock()
	q.commits++
	q.mu.Unlock()
	if err != nil {
		if len(batch) == 1 {
			errs[0] = err
		} else {
			for i := range batch {
				errs[i] = l.commit(ctx, batch[i:i+1])
			}
		}
	}
	q.mu.Lock()
	for i, w := range batch {
		if errs[i] != nil {
			errs[i] = fmt.Errorf("%s: %w", w.what, errs[i])
			if w.done == nil {
				q.failed[w.runID] = append(q.failed[w.runID], errs[i])
			}
		}
	}
	q.mu.Unlock()
	for i, w := range batch {
		if w.done != nil {
			w.done <- errs[i]
		}
	}
}

// commit runs writes in one transaction.
func (l *Ledger) commit(ctx context.Context, writes []pendingWrite) error {
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
// (every run's with runID ""). A run calls it before it is sealed.
func (l *Ledger) Flush(ctx context.Context, runID string) error {
	q := &l.writes
	q.mu.Lock()
	for q.running {
		q.idle.Wait()
	}
	if len(q.queue) > 0 {
		q.running = true
		q.mu.Unlock()
		l.drain(context.WithoutCancel(ctx))
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
