package recovery

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Evidence is a version list custody preserved before T: what existed
// then, including versions since deleted for good, which no live listing
// can show.
type Evidence struct {
	At    time.Time // when the list was taken
	Name  string    // where it is, for the plan
	Parts []func(context.Context) (io.ReadCloser, error)
}

// record is one line of a preserved version list.
type record struct {
	Key          string    `json:"key"`
	VersionID    string    `json:"versionId"`
	IsLatest     bool      `json:"isLatest"`
	LastModified time.Time `json:"lastModified"`
	DeleteMarker bool      `json:"deleteMarker"`
	ETag         string    `json:"etag"`
	Size         int64     `json:"size"`
}

// evidenceHistories streams the preserved list one key at a time, merging
// its parts (each in key order) by key.
type evidenceHistories struct {
	parts []*partReader
}

type partReader struct {
	rc   io.ReadCloser
	br   *bufio.Reader
	line int
	head *record
	last string
	name string
}

// maxRecordLine bounds one line of a version list: custody writes one
// record per line, a key of at most 1,024 bytes and a few short fields.
const maxRecordLine = 64 << 10

func openEvidence(ctx context.Context, ev *Evidence, prefix string) (*evidenceHistories, error) {
	h := &evidenceHistories{}
	for i, open := range ev.Parts {
		rc, err := open(ctx)
		if err != nil {
			h.close()
			return nil, fmt.Errorf("open %s part %d: %w", ev.Name, i+1, err)
		}
		zr, err := gzip.NewReader(rc)
		if err != nil {
			rc.Close()
			h.close()
			return nil, fmt.Errorf("%s part %d: %w", ev.Name, i+1, err)
		}
		p := &partReader{rc: rc, br: bufio.NewReader(zr), name: fmt.Sprintf("%s part %d", ev.Name, i+1)}
		h.parts = append(h.parts, p)
	}
	for _, p := range h.parts {
		if err := p.advance(prefix); err != nil {
			h.close()
			return nil, err
		}
	}
	return h, nil
}

// readLine returns the next line, at most maxRecordLine bytes of it
// (valid until the next read).
func (p *partReader) readLine() ([]byte, error) {
	chunk, err := p.br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		p.line++
		return chunk, err
	}
	line := append([]byte(nil), chunk...)
	for {
		chunk, err := p.br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxRecordLine {
			return nil, fmt.Errorf("%s line %d: longer than %d bytes: not a version list custody wrote", p.name, p.line+1, maxRecordLine)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			p.line++
			return line, err
		}
	}
}

func (p *partReader) advance(prefix string) error {
	for {
		line, err := p.readLine()
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if err != nil { // the end
				p.head = nil
				return nil
			}
			continue
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("%s line %d: %w", p.name, p.line, err)
		}
		if r.Key == "" {
			return fmt.Errorf("%s line %d: a record without a key: not a version list custody wrote", p.name, p.line)
		}
		if r.Key < p.last {
			return fmt.Errorf("%s is not in key order (%q after %q): it cannot guide a streamed plan", p.name, r.Key, p.last)
		}
		p.last = r.Key
		if len(r.Key) >= len(prefix) && r.Key[:len(prefix)] == prefix {
			p.head = &r
			return nil
		}
	}
}

func (h *evidenceHistories) close() {
	for _, p := range h.parts {
		p.rc.Close()
	}
}

// next returns the next key and its preserved entries, newest first.
func (h *evidenceHistories) next(prefix string) (string, []entry, bool, error) {
	key := ""
	for _, p := range h.parts {
		if p.head != nil && (key == "" || p.head.Key < key) {
			key = p.head.Key
		}
	}
	if key == "" {
		return "", nil, false, nil
	}
	var out []entry
	seen := map[string]bool{}
	for _, p := range h.parts {
		for p.head != nil && p.head.Key == key {
			r := p.head
			if seen[r.VersionID] {
				return "", nil, false, fmt.Errorf("%s line %d: version %q of %q listed twice: not a version list custody wrote", p.name, p.line, r.VersionID, key)
			}
			seen[r.VersionID] = true
			out = append(out, entry{versionID: r.VersionID, marker: r.DeleteMarker, latest: r.IsLatest, at: r.LastModified, etag: r.ETag, size: r.Size})
			if err := p.advance(prefix); err != nil {
				return "", nil, false, err
			}
		}
	}
	return key, out, true, nil
}
