package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/search"
)

var _ collector.LogIndexer = (*search.CollectIndex)(nil)

// collectIndexDrain bounds how long a collection waits, once done, for the
// search index to record what it collected: what is left is read by the
// first search instead.
const collectIndexDrain = 2 * time.Minute

// startCollectIndex indexes the log files the collectors store into the
// ledger, for custody search; stop records what is queued (for a few
// seconds only once ctx has ended: a stop was asked for).
func startCollectIndex(ctx context.Context, ev *cli.Evidence, log *slog.Logger) (ix *search.CollectIndex, stop func()) {
	ix = search.NewCollectIndex(ev.Ledger, log, search.CollectIndexOptions{})
	return ix, func() {
		drain := collectIndexDrain
		if ctx.Err() != nil {
			drain = 5 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		if err := ix.Close(ctx); err != nil && log != nil {
			log.Warn(err.Error())
		}
	}
}

// reindex forgets the index's terms of files: the search reads each of
// them and records its terms again. The index is the ledger's: without
// one, there is nothing to rebuild.
func (s *searchSource) reindex(ctx context.Context, files []search.File) error {
	if s.ledger == nil {
		return cli.Usagef("--reindex rebuilds the ledger's search index: it needs the ledger (not --no-ledger)")
	}
	refs := make([]ledger.ArtifactRef, len(files))
	for i, f := range files {
		refs[i] = ledger.ArtifactRef{Bucket: f.Bucket, Key: f.Key, VersionID: f.VersionID}
	}
	return s.ledger.ForgetLogTerms(ctx, s.index.Bucket, refs)
}

// readOnlyIndex is the ledger's index for a search that must write
// nothing: it skips the files the recorded terms rule out and records no
// terms. Every file counts as known, so that none is parsed whole for
// terms that would not be kept.
type readOnlyIndex struct{ ix *search.LedgerIndex }

func (r readOnlyIndex) Skip(fl search.File) bool { return r.ix.Skip(fl) }

func (readOnlyIndex) Known(search.File) bool { return true }

func (readOnlyIndex) Record(context.Context, search.File, []string) error { return nil }
