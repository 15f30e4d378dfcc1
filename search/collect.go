package search

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/ledger"
)

// CollectIndex records the terms of log files as the collectors store
// them (a collector.LogIndexer: cmd/custody checks it), so that the first custody search after a
// collection already skips, unread, the files that cannot match.
//
// It is off the copy's path: a file's bytes are kept as Put reads them
// (within MaxHeld bytes in all, and MaxFile bytes a file) and handed to one
// worker through a bounded queue; when it is behind, files are dropped,
// never waited for, and search reads them (and records their terms then).
// Terms wait in memory until the run's manifest is written, and are then
// recorded in the ledger only for artifacts it seals with the SHA-256 of
// the bytes they were read from (ledger.RecordSealedLogTerms). Each batch
// is one transaction: a crash leaves some sealed files without terms,
// which search reads, never terms without their sealed file.
type CollectIndex struct {
	ledger *ledger.Ledger
	log    *slog.Logger
	opts   CollectIndexOptions

	held    atomic.Int64 // bytes captured and not yet parsed
	jobs    chan collectJob
	kick    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	closed  bool
	runs    map[string]*collectRun
	ready   []ledger.LogTerms // of sealed runs, to record
	pending int64             // bytes of terms waiting for their run's seal

	indexed, dropped, failed atomic.Int64
}

// CollectIndexOptions bound what a CollectIndex holds.
type CollectIndexOptions struct {
	MaxHeld    int64 // captured bytes not yet parsed, in all (default 64 MiB)
	MaxFile    int64 // largest file captured (default 16 MiB)
	MaxPending int64 // bytes of terms waiting for their runs' seals (default 64 MiB)
	Queue      int   // files queued for the worker (default 4096)
	Batch      int   // files' terms recorded per transaction (default 100: a short hold of the ledger's write lock)
}

// collectRun is what a run stored, until its seal.
type collectRun struct {
	pending     []ledger.LogTerms
	sealed      bool
	gone        bool // will not be sealed by this process
	outstanding int  // files queued, not yet parsed
}

type collectJob struct {
	run  string
	a    custody.Artifact
	body []byte
}

// NewCollectIndex starts the worker; Close stops it.
func NewCollectIndex(l *ledger.Ledger, log *slog.Logger, o CollectIndexOptions) *CollectIndex {
	if o.MaxHeld <= 0 {
		o.MaxHeld = 64 << 20
	}
	if o.MaxFile <= 0 {
		o.MaxFile = 16 << 20
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 64 << 20
	}
	if o.Queue <= 0 {
		o.Queue = 4096
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := &CollectIndex{ledger: l, log: log, opts: o, jobs: make(chan collectJob, o.Queue), kick: make(chan struct{}, 1),
		done: make(chan struct{}), runs: map[string]*collectRun{}}
	go x.work()
	return x
}

// CollectIndexStats count what a CollectIndex did.
type CollectIndexStats struct {
	Indexed int64 `json:"indexed"` // files whose terms were recorded
	Dropped int64 `json:"dropped"` // files left for search to read: too large, queue full, run not sealed
	Failed  int64 `json:"failed"`  // files that did not parse (search reads them and reports them)
}

// Stats are the counts so far.
func (x *CollectIndex) Stats() CollectIndexStats {
	return CollectIndexStats{Indexed: x.indexed.Load(), Dropped: x.dropped.Load(), Failed: x.failed.Load()}
}

// Capture keeps a copy of a CloudTrail log file or an S3 server access
// log as Put reads it.
func (x *CollectIndex) Capture(kind string, body io.Reader) (io.Reader, func(run string, a custody.Artifact, err error)) {
	if kind != KindCloudTrailLog && kind != KindAccessLog {
		return nil, nil
	}
	c := &capture{x: x, r: body, kind: kind}
	return c, c.stored
}

// capture tees what Put reads into a buffer, giving it up (and the rest
// of the file) when the file or the bytes held in all exceed their bound.
type capture struct {
	x       *CollectIndex
	r       io.Reader
	kind    string
	buf     []byte
	dropped bool
}

func (c *capture) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && !c.dropped {
		if int64(len(c.buf)+n) > c.x.opts.MaxFile || c.x.held.Add(int64(n)) > c.x.opts.MaxHeld {
			if int64(len(c.buf)+n) <= c.x.opts.MaxFile {
				c.x.held.Add(-int64(n))
			}
			c.drop()
		} else {
			c.buf = append(c.buf, p[:n]...)
		}
	}
	return n, err
}

func (c *capture) drop() {
	c.x.held.Add(-int64(len(c.buf)))
	c.buf, c.dropped = nil, true
}

// stored queues the file for the worker, if Put stored what was read.
func (c *capture) stored(run string, a custody.Artifact, err error) {
	x := c.x
	if err != nil || c.dropped || a.VersionID == "" || a.SHA256 == "" {
		if !c.dropped {
			c.drop()
		}
		if err == nil {
			x.dropped.Add(1)
		}
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	st := x.runs[run]
	if st == nil {
		st = &collectRun{}
		x.runs[run] = st
	}
	if x.closed || st.gone {
		c.drop()
		x.dropped.Add(1)
		return
	}
	select {
	case x.jobs <- collectJob{run: run, a: a, body: c.buf}:
		st.outstanding++
		c.buf = nil // the worker's now, with the bytes held
	default:
		c.drop() // behind: search reads this one
		x.dropped.Add(1)
	}
}

// Sealed releases the run's terms to be recorded.
func (x *CollectIndex) Sealed(run string) {
	x.mu.Lock()
	st := x.runs[run]
	if st != nil {
		st.sealed = true
		x.ready = append(x.ready, st.pending...)
		for _, t := range st.pending {
			x.pending -= termsSize(t)
		}
		st.pending = nil
		if st.outstanding == 0 {
			delete(x.runs, run)
		}
	}
	x.mu.Unlock()
	select {
	case x.kick <- struct{}{}:
	default:
	}
}

// Unsealed forgets the run's terms: its files, sealed later by a reseal,
// are read by search.
func (x *CollectIndex) Unsealed(run string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	st := x.runs[run]
	if st == nil {
		return
	}
	x.dropped.Add(int64(len(st.pending)))
	for _, t := range st.pending {
		x.pending -= termsSize(t)
	}
	st.gone, st.pending = true, nil
	if st.outstanding == 0 {
		delete(x.runs, run)
	}
}

// Close parses what is queued and records the terms of sealed runs, then
// stops the worker; when ctx ends first, the rest is left to search.
func (x *CollectIndex) Close(ctx context.Context) error {
	x.mu.Lock()
	if !x.closed {
		x.closed = true
		close(x.jobs)
	}
	x.mu.Unlock()
	select {
	case <-x.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("search index: stopped before indexing everything collected (search reads the rest): %w", ctx.Err())
	}
}

// work parses queued files one at a time and records the terms of sealed
// runs in batches: when a batch is full, or when the queue is empty.
func (x *CollectIndex) work() {
	defer close(x.done)
	for {
		select {
		case j, ok := <-x.jobs:
			if !ok {
				x.flush()
				return
			}
			x.parse(j)
			if len(x.jobs) == 0 || x.readyLen() >= x.opts.Batch {
				x.flush()
			}
		case <-x.kick:
			x.flush()
		}
	}
}

func (x *CollectIndex) readyLen() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.ready)
}

// parse reads one file's terms and files them under its run.
func (x *CollectIndex) parse(j collectJob) {
	terms, err := fileTerms(j.a.Kind, j.a.SHA256, j.body)
	x.held.Add(-int64(len(j.body)))
	x.mu.Lock()
	defer x.mu.Unlock()
	st := x.runs[j.run]
	st.outstanding--
	switch {
	case err != nil:
		x.failed.Add(1)
		x.log.Debug("search index: not indexed; search reads it", "object", "s3://"+j.a.Bucket+"/"+j.a.Key, "err", err)
	case st.gone:
		x.dropped.Add(1)
	default:
		t := ledger.LogTerms{Bucket: j.a.Bucket, Key: j.a.Key, VersionID: j.a.VersionID, SHA256: j.a.SHA256, Terms: terms}
		if st.sealed {
			x.ready = append(x.ready, t)
		} else if x.pending+termsSize(t) > x.opts.MaxPending {
			x.dropped.Add(1)
		} else {
			st.pending = append(st.pending, t)
			x.pending += termsSize(t)
		}
	}
	if (st.sealed || st.gone) && st.outstanding == 0 {
		delete(x.runs, j.run)
	}
}

// flush records the ready terms, a batch per transaction.
func (x *CollectIndex) flush() {
	for {
		x.mu.Lock()
		n := min(len(x.ready), x.opts.Batch)
		batch := x.ready[:n:n]
		x.ready = x.ready[n:]
		if len(x.ready) == 0 {
			x.ready = nil
		}
		x.mu.Unlock()
		if n == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		k, err := x.ledger.RecordSealedLogTerms(ctx, batch)
		cancel()
		if err != nil {
			x.dropped.Add(int64(n))
			x.log.Warn("search index: terms not recorded (search reads those files)", "files", n, "err", err)
			continue
		}
		x.indexed.Add(int64(k))
		x.dropped.Add(int64(n - k))
	}
}

func termsSize(t ledger.LogTerms) int64 {
	n := int64(len(t.Key) + len(t.VersionID) + len(t.SHA256) + 64)
	for _, s := range t.Terms {
		n += int64(len(s)) + 16
	}
	return n
}

// fileTerms are the terms of one stored log file of kind, if its bytes
// hash to sha and parse whole (as search would read them); else an error,
// and search reads the file.
func fileTerms(kind, sha string, body []byte) ([]string, error) {
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != sha {
		return nil, errors.New("the captured bytes are not what was stored")
	}
	var src io.Reader = bytes.NewReader(body)
	if len(body) >= 2 && body[0] == 0x1f && body[1] == 0x8b {
		gz, err := newGzip(src)
		if err != nil {
			return nil, err
		}
		defer gzReaders.Put(gz)
		src = gz
	} else if kind == KindCloudTrailLog {
		return nil, errors.New("not gzip")
	}
	buf := termBufs.Get().(*bytes.Buffer)
	defer termBufs.Put(buf)
	buf.Reset()
	if _, err := io.Copy(buf, io.LimitReader(src, MaxFileSize+1)); err != nil {
		return nil, err // a gzip stream cut short, or its checksum wrong
	}
	if buf.Len() > MaxFileSize {
		return nil, fmt.Errorf("larger than %d bytes decompressed", MaxFileSize)
	}
	set := map[string]bool{}
	each := func(r *Record) error { termsOf(r, set); return nil }
	var err error
	if kind == KindAccessLog {
		_, err = readAccessLog(buf.Bytes(), each)
	} else {
		err = readCloudTrail(buf.Bytes(), each)
	}
	if buf.Cap() > 4<<20 {
		buf.Reset()
		*buf = bytes.Buffer{} // a large file's buffer is not kept
	}
	if err != nil {
		return nil, err
	}
	return sortedTerms(set), nil
}

var (
	termBufs  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	gzReaders sync.Pool
)

// newGzip is a gzip reader of r, reused.
func newGzip(r io.Reader) (*gzip.Reader, error) {
	if gz, ok := gzReaders.Get().(*gzip.Reader); ok {
		if err := gz.Reset(r); err != nil {
			gzReaders.Put(gz)
			return nil, err
		}
		return gz, nil
	}
	return gzip.NewReader(r)
}
