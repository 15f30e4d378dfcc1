package versionlist

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
)

// Writer writes a version list, streamed: memory stays constant whatever
// the number of records. Close must be called to end the gzip stream.
type Writer struct {
	bw  *bufio.Writer
	zw  *gzip.Writer
	enc *json.Encoder
	n   int64
}

// NewWriter starts a version list on w.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 256<<10)
	zw := gzip.NewWriter(bw)
	return &Writer{bw: bw, zw: zw, enc: json.NewEncoder(zw)}
}

// Write appends one record, as one line.
func (w *Writer) Write(r *Record) error {
	if err := w.enc.Encode(r); err != nil {
		return err
	}
	w.n++
	return nil
}

// Count is the number of records written.
func (w *Writer) Count() int64 { return w.n }

// Close ends the gzip stream and flushes it to the underlying writer,
// which it does not close.
func (w *Writer) Close() error {
	if err := w.zw.Close(); err != nil {
		return err
	}
	return w.bw.Flush()
}
