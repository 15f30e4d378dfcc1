package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/custody-ir/custody/internal/versionlist"
)

// Evidence is a version list custody preserved before T: what existed
// then, including versions since deleted for good, which no live listing
// can show.
type Evidence struct {
	At    time.Time // when the list was taken
	Name  string    // where it is, for the plan
	Parts []func(context.Context) (io.ReadCloser, error)
}

// evidenceHistories streams the preserved list one key at a time, merging
// its parts (each in key order) by key. The parts are opened at the first
// key asked for.
type evidenceHistories struct {
	ev     *Evidence
	prefix string
	rcs    []io.ReadCloser
	h      *versionlist.Histories
}

func (h *evidenceHistories) open(ctx context.Context) error {
	var parts []*versionlist.Reader
	for i, open := range h.ev.Parts {
		rc, err := open(ctx)
		if err != nil {
			return fmt.Errorf("open %s part %d: %w", h.ev.Name, i+1, err)
		}
		h.rcs = append(h.rcs, rc)
		r, err := versionlist.NewReader(rc, fmt.Sprintf("%s part %d", h.ev.Name, i+1))
		if err != nil {
			return err
		}
		parts = append(parts, r)
	}
	var err error
	h.h, err = versionlist.NewHistories(h.prefix, parts...)
	return err
}

func (h *evidenceHistories) close() {
	for _, rc := range h.rcs {
		rc.Close()
	}
	h.rcs = nil
}

// next returns the next key and its preserved entries, newest first.
func (h *evidenceHistories) next(ctx context.Context) (string, []entry, bool, error) {
	if h.h == nil {
		if err := h.open(ctx); err != nil {
			h.close()
			return "", nil, false, err
		}
	}
	key, recs, err := h.h.Next()
	if errors.Is(err, io.EOF) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, err
	}
	out := make([]entry, len(recs))
	for i, r := range recs {
		out[i] = entry{versionID: r.VersionID, marker: r.DeleteMarker, latest: r.IsLatest, at: r.LastModified, etag: r.ETag, size: r.Size}
	}
	return key, out, true, nil
}
