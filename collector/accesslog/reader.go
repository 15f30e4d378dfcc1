package accesslog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"time"
)

// MaxLine is the longest line read; a longer one is a *LineError (its
// bytes are skipped, never held in memory).
const MaxLine = 256 << 10

// LineError is a line that is not a record. Reading may go on.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Reader reads records one by one.
type Reader struct {
	br   *bufio.Reader
	line int
	err  error // a read error, returned from then on
}

// NewReader reads records from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 8<<10)}
}

// Next returns the next record. At the end it returns io.EOF. A line that
// is not a record returns a *LineError and the next call reads on; any
// other error is the reader's and is returned again by every later call.
// Empty lines are skipped.
func (r *Reader) Next() (Record, error) {
	for {
		if r.err != nil {
			return Record{}, r.err
		}
		line, tooLong, err := r.readLine()
		if err != nil && (!errors.Is(err, io.EOF) || len(line) == 0 && !tooLong) {
			r.err = err
			return Record{}, err
		}
		r.line++
		if tooLong {
			return Record{}, &LineError{Line: r.line, Err: fmt.Errorf("longer than %d bytes", MaxLine)}
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec, perr := Parse(line)
		if perr != nil {
			return Record{}, &LineError{Line: r.line, Err: perr}
		}
		rec.Line = r.line
		return rec, nil
	}
}

// Line is the number of the last line read.
func (r *Reader) Line() int { return r.line }

// readLine returns the next line without its newline. A line longer than
// MaxLine is read to its end and dropped (tooLong). At the end of the
// input, a last line without a newline is returned with io.EOF.
func (r *Reader) readLine() (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxLine+1 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(buf, []byte("\n")), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return buf, tooLong, err
		}
	}
}

// All yields every record of r and every error: a *LineError for a line
// that is not a record (reading goes on), then any other error as the
// last pair.
func All(r io.Reader) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		rd := NewReader(r)
		for {
			rec, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(rec, err) {
				return
			}
			var le *LineError
			if err != nil && !errors.As(err, &le) {
				return
			}
		}
	}
}

// Parse parses one line (without its newline).
func Parse(line []byte) (Record, error) {
	var f fields
	f.rest = bytes.TrimRight(line, " \r")
	var rec Record
	var err error
	str := func(dst *string) {
		if err != nil {
			return
		}
		var v []byte
		if v, err = f.next(); err == nil {
			*dst = dash(v)
		}
	}
	num := func(name string, dst *int64) {
		if err != nil {
			return
		}
		var v []byte
		if v, err = f.next(); err != nil {
			return
		}
		if *dst = -1; string(v) == "-" {
			return
		}
		n, perr := strconv.ParseInt(string(v), 10, 64)
		if perr != nil || n < 0 {
			err = fmt.Errorf("field %d (%s): %q is not a count", f.n, name, v)
			return
		}
		*dst = n
	}
	str(&rec.BucketOwner)
	str(&rec.Bucket)
	if err == nil {
		var v []byte
		if v, err = f.next(); err == nil {
			if len(v) < 2 || v[0] != '[' {
				err = fmt.Errorf("field 3 (time): %q is not [%s]", v, TimeLayout)
			} else if rec.Time, err = time.Parse(TimeLayout, string(v[1:len(v)-1])); err != nil {
				err = fmt.Errorf("field 3 (time): %q is not [%s]", v, TimeLayout)
			}
		}
	}
	str(&rec.RemoteIP)
	str(&rec.Requester)
	str(&rec.RequestID)
	str(&rec.Operation)
	str(&rec.Key)
	str(&rec.RequestURI)
	if err == nil {
		var v []byte
		if v, err = f.next(); err == nil && string(v) != "-" {
			n, perr := strconv.Atoi(string(v))
			if perr != nil || n < 100 || n > 999 {
				err = fmt.Errorf("field 10 (HTTP status): %q is not a status", v)
			}
			rec.HTTPStatus = n
		}
	}
	str(&rec.ErrorCode)
	num("bytes sent", &rec.BytesSent)
	num("object size", &rec.ObjectSize)
	num("total time", &rec.TotalTime)
	num("turn-around time", &rec.TurnAround)
	str(&rec.Referer)
	str(&rec.UserAgent)
	if err != nil {
		if errors.Is(err, errNoField) {
			return Record{}, fmt.Errorf("%d field(s), a record has at least %d", f.n-1, MinFields)
		}
		return Record{}, err
	}
	// Later fields, each optional: a record ends where its fields do.
	for _, dst := range []*string{&rec.VersionID, &rec.HostID, &rec.SigVersion, &rec.CipherSuite, &rec.AuthType,
		&rec.HostHeader, &rec.TLSVersion, &rec.AccessPoint, &rec.ACLRequired} {
		if f.done() {
			return rec, nil
		}
		str(dst)
	}
	for !f.done() {
		v, ferr := f.next()
		if ferr != nil {
			return Record{}, ferr
		}
		rec.Extra = append(rec.Extra, string(v))
	}
	if err != nil {
		return Record{}, err
	}
	return rec, nil
}

func dash(v []byte) string {
	if string(v) == "-" {
		return ""
	}
	return string(v)
}

var errNoField = errors.New("missing field")

// fields splits a line: fields are separated by one space; a field that
// starts with a quote ends at a quote followed by a space or the end of
// the line (quotes inside are kept), one that starts with [ at the first ].
type fields struct {
	rest []byte
	n    int // fields read so far
}

func (f *fields) done() bool { return len(f.rest) == 0 }

func (f *fields) next() ([]byte, error) {
	f.n++
	if len(f.rest) == 0 {
		return nil, errNoField
	}
	var v []byte
	switch f.rest[0] {
	case '"':
		end := -1
		for i := 1; i < len(f.rest); i++ {
			if f.rest[i] == '"' && (i+1 == len(f.rest) || f.rest[i+1] == ' ') {
				end = i
				break
			}
		}
		if end < 0 {
			return nil, fmt.Errorf("field %d: quote not closed", f.n)
		}
		v, f.rest = f.rest[1:end], f.rest[end+1:]
		if len(v) == 1 && v[0] == '-' {
			v = []byte("-")
		}
	case '[':
		end := bytes.IndexByte(f.rest, ']')
		if end < 0 {
			return nil, fmt.Errorf("field %d: bracket not closed", f.n)
		}
		v, f.rest = f.rest[:end+1], f.rest[end+1:]
	default:
		end := bytes.IndexByte(f.rest, ' ')
		if end < 0 {
			end = len(f.rest)
		}
		if end == 0 {
			return nil, fmt.Errorf("field %d: empty (AWS writes - for no value)", f.n)
		}
		v, f.rest = f.rest[:end], f.rest[end:]
	}
	if len(f.rest) > 0 {
		if f.rest[0] != ' ' {
			return nil, fmt.Errorf("field %d: no space after it", f.n)
		}
		f.rest = f.rest[1:]
	}
	return v, nil
}
