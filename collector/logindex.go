package collector

import (
	"context"
	"io"

	"github.com/custody-ir/custody/custody"
)

// LogIndexer learns what the log files a run stores hold (custody
// search's index of terms), off the copy's path: RunOne hands it the bytes
// of each log file exactly as Put read and hashed them, and tells it when
// the run's manifest is written. Its contract:
//   - Capture and its stored function never block on indexing: an indexer
//     that is behind drops files, which search then reads (a file without
//     terms is read, never skipped);
//   - terms are recorded only for artifacts a manifest seals, and only
//     for the bytes the artifact's SHA-256 names;
//   - a crash at any point leaves each file's terms recorded whole or not
//     at all.
type LogIndexer interface {
	// Capture returns a reader over body that keeps a copy of what is
	// read (nil when files of kind are not indexed), and the function to
	// call once Put returned: with its artifact when it stored the bytes
	// read, with its error when it did not.
	Capture(kind string, body io.Reader) (io.Reader, func(run string, a custody.Artifact, err error))
	// Sealed says the run's manifest is written: what it stored may be
	// indexed. Unsealed says the run will not be sealed by this process
	// (a later reseal seals its files; search reads them until indexed).
	Sealed(run string)
	Unsealed(run string)
}

// RunOption adjusts RunOne.
type RunOption func(*runOptions)

type runOptions struct {
	index LogIndexer
}

// IndexLogs hands the log files the run stores to ix (nil: none).
func IndexLogs(ix LogIndexer) RunOption { return func(o *runOptions) { o.index = ix } }

// indexingRun is a Run whose Puts of log files are captured for an
// indexer: the collectors' copy paths are unchanged, and a file's bytes
// are read once, by Put.
type indexingRun struct {
	Run
	ix LogIndexer
}

func (r indexingRun) Put(ctx context.Context, key string, body io.Reader, o custody.PutOptions) (custody.Artifact, error) {
	c, stored := r.ix.Capture(o.Kind, body)
	if c == nil {
		return r.Run.Put(ctx, key, body, o)
	}
	a, err := r.Run.Put(ctx, key, c, o)
	stored(r.RunID(), a, err)
	return a, err
}

// indexed wraps run for the options' indexer, if any.
func (o runOptions) indexed(run Run) Run {
	if o.index == nil {
		return run
	}
	return indexingRun{Run: run, ix: o.index}
}

// Intend forwards a batch of intents to the run when it records them in
// advance (the access-log collector's batches): indexing must not cost
// the copy its shared ledger commits. Otherwise each Put records its own.
func (r indexingRun) Intend(ctx context.Context, intents []custody.Intent) error {
	if in, ok := r.Run.(intender); ok {
		return in.Intend(ctx, intents)
	}
	return nil
}

var _ intender = indexingRun{}
