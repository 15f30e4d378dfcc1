package accesslog_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/custody-ir/custody/collector/accesslog"
	"github.com/custody-ir/custody/collector/accesslog/altest"
)

// FuzzReader: any input reads to its end without a panic; every error is
// a *LineError with a line number that grows, and a record's fields
// parse back from what Parse accepted.
func FuzzReader(f *testing.F) {
	f.Add([]byte(awsExample + "\n"))
	for _, e := range altest.Entries("fuzz-bucket", time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), 6, 3) {
		f.Add([]byte(e.Line() + "\n" + e.Line()))
	}
	f.Add([]byte("a b [x] \"unclosed\n\"\"\n[\n"))
	f.Add([]byte("\r\n\n \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := accesslog.NewReader(bytes.NewReader(data))
		last := 0
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatalf("more results than lines")
			}
			r, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			line := rd.Line()
			if line <= last {
				t.Fatalf("line %d after %d", line, last)
			}
			last = line
			var le *accesslog.LineError
			if err != nil {
				if !errors.As(err, &le) || le.Line != line {
					t.Fatalf("error %v is not a LineError of line %d", err, line)
				}
				continue
			}
			if r.Line != line || r.Time.IsZero() && r.Bucket == "" && r.BucketOwner == "" {
				t.Fatalf("record %+v at line %d", r, line)
			}
			if r.BytesSent < -1 || r.ObjectSize < -1 || r.TotalTime < -1 || r.TurnAround < -1 {
				t.Fatalf("negative count in %+v", r)
			}
		}
		if _, err := rd.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("Next after the end: %v", err)
		}
	})
}
