package versionlist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxLine bounds one line of a version list: custody writes one record
// per line, a key of at most 1,024 bytes and a few short fields. A longer
// line is not a list custody wrote, and reading it whole could take any
// amount of memory.
const MaxLine = 64 << 10

// ErrLineTooLong means a line longer than MaxLine.
var ErrLineTooLong = fmt.Errorf("longer than %d bytes: not a version list custody wrote", MaxLine)

// ErrUnsorted means a list's keys are not in order: it cannot be read as
// a stream by key.
var ErrUnsorted = errors.New("not in key order")

// Reader reads a version list one record at a time, streamed: at most one
// line is held. Every error names the list and the line.
type Reader struct {
	br   *bufio.Reader
	name string
	line int
	last string
}

// NewReader reads the gzip stream r; name says which list (or part) it is
// in errors.
func NewReader(r io.Reader, name string) (*Reader, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Reader{br: bufio.NewReader(zr), name: name}, nil
}

// Name is the name given to NewReader.
func (r *Reader) Name() string { return r.name }

// Line is the number of the line Next read last.
func (r *Reader) Line() int { return r.line }

// Next returns the next record, skipping blank lines, or io.EOF after
// the last. It fails on a line that is not one JSON record, a record
// without a key, and a key before the one read last (ErrUnsorted).
func (r *Reader) Next() (Record, error) {
	for {
		line, err := r.readLine()
		if errors.Is(err, ErrLineTooLong) {
			return Record{}, err
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Record{}, fmt.Errorf("%s: %w", r.name, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if err != nil { // the end
				return Record{}, io.EOF
			}
			continue
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return Record{}, fmt.Errorf("%s line %d: %w", r.name, r.line, err)
		}
		if rec.Key == "" {
			return Record{}, fmt.Errorf("%s line %d: a record without a key: not a version list custody wrote", r.name, r.line)
		}
		if rec.Key < r.last {
			return Record{}, fmt.Errorf("%s is %w (%q after %q): it cannot guide a streamed plan", r.name, ErrUnsorted, rec.Key, r.last)
		}
		r.last = rec.Key
		return rec, nil
	}
}

// readLine returns the next line, at most MaxLine bytes of it (valid
// until the next read).
func (r *Reader) readLine() ([]byte, error) {
	chunk, err := r.br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		r.line++
		return chunk, err
	}
	line := append([]byte(nil), chunk...)
	for {
		chunk, err := r.br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLine {
			return nil, fmt.Errorf("%s line %d: %w", r.name, r.line+1, ErrLineTooLong)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			r.line++
			return line, err
		}
	}
}
