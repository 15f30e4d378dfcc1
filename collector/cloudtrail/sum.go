package cloudtrail

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
)

// LogSum is what hashing a log file found: the hex SHA-256 of its
// uncompressed bytes and their count, or why it is not a log file
// (Malformed: not one gzip member, too large, data after it).
type LogSum struct {
	SHA256    string
	Size      int64
	Malformed error
}

// SumLog hashes a log file's uncompressed bytes exactly as validation does.
func SumLog(r io.Reader) LogSum {
	h := sha256.New()
	n, err := Gunzip(h, r, maxLogFileSize)
	if err != nil {
		return LogSum{Size: n, Malformed: err}
	}
	return LogSum{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
}

// Summer passes a log file's bytes through unchanged (to be stored) and
// hashes them as SumLog does on the way, so that a file copied once is
// validated without reading it again.
type Summer struct {
	r    io.Reader
	pw   *io.PipeWriter
	done chan LogSum
}

// NewSummer reads r through a Summer.
func NewSummer(r io.Reader) *Summer {
	pr, pw := io.Pipe()
	s := &Summer{pw: pw, done: make(chan LogSum, 1)}
	s.r = io.TeeReader(r, pw)
	go func() {
		sum := SumLog(pr)
		// A malformed file stops the hashing early: take what follows so
		// the copy is never held up.
		_, _ = io.Copy(io.Discard, pr)
		s.done <- sum
	}()
	return s
}

// Read reads the file's bytes.
func (s *Summer) Read(p []byte) (int, error) { return s.r.Read(p) }

// Sum ends the file and returns its sum. Call it once the bytes were read
// to the end; ok is false when the read failed (readErr), and the sum is
// then meaningless.
func (s *Summer) Sum(readErr error) (sum LogSum, ok bool) {
	if readErr != nil {
		s.pw.CloseWithError(readErr)
		<-s.done
		return LogSum{}, false
	}
	_ = s.pw.Close()
	return <-s.done, true
}
