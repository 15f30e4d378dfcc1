package versionlist

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/internal/testaws"
)

// readAll reads parts as recover does: merged by key, under prefix.
func readAll(parts [][]byte, prefix string, fn func(key string, recs []Record) error) error {
	var rs []*Reader
	for i, p := range parts {
		r, err := NewReader(bytes.NewReader(p), fmt.Sprintf("the fuzzed list part %d", i+1))
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	h, err := NewHistories(prefix, rs...)
	if err != nil {
		return err
	}
	for {
		key, recs, err := h.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(key, recs); err != nil {
			return err
		}
	}
}

// refRead is a second reading of version list parts: the records under
// prefix, or ok=false when the parts are not a version list custody
// could have written (not gzip, a line too long or not one JSON record,
// a record without a key, keys out of order, a version listed twice).
func refRead(parts [][]byte, prefix string) (map[string][]Record, bool) {
	out := map[string][]Record{}
	for _, p := range parts {
		zr, err := gzip.NewReader(bytes.NewReader(p))
		if err != nil {
			return nil, false
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			return nil, false
		}
		last := ""
		for _, line := range bytes.SplitAfter(data, []byte("\n")) {
			if len(line) > MaxLine {
				return nil, false
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var r Record
			if json.Unmarshal(line, &r) != nil || r.Key == "" || r.Key < last {
				return nil, false
			}
			last = r.Key
			if strings.HasPrefix(r.Key, prefix) {
				for _, x := range out[r.Key] {
					if x.VersionID == r.VersionID {
						return nil, false
					}
				}
				out[r.Key] = append(out[r.Key], r)
			}
		}
	}
	return out, true
}

// seed is a version list as the collector writes it.
const seed = `{"key":"a & b.txt","versionId":"dm1","isLatest":true,"lastModified":"2026-11-20T01:00:00Z","deleteMarker":true,"size":0,"owner":"o"}
{"key":"a & b.txt","versionId":"v1","isLatest":false,"lastModified":"2026-11-19T01:00:00Z","etag":"\"e\"","size":5,"storageClass":"STANDARD"}
{"key":"reports/q1.csv","versionId":"3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY","isLatest":true,"lastModified":"2026-11-19T10:00:00Z","etag":"\"fba9dede5f27731c9771645a39863328\"","size":434234,"storageClass":"STANDARD","checksumAlgorithm":["CRC64NVME"]}
{"key":"reports/q1.csv","versionId":"null","isLatest":false,"lastModified":"2026-11-18T10:00:00Z","etag":"\"e\"","size":1,"storageClass":"GLACIER"}
`

// FuzzReader: version list parts, however damaged, are read as the
// records they hold (each key once, in order, all its versions) or end in
// an error naming the part; never a panic or a silently shortened list.
// (It was recover's FuzzEvidence, with its corpus, before the format had
// one package.)
func FuzzReader(f *testing.F) {
	other := `{"key":"logs/2026/11/19.log","versionId":"v","isLatest":true,"lastModified":"2026-11-19T00:00:00Z","size":7}` + "\n"
	f.Add([]byte(seed), []byte(other), "", false)
	f.Add([]byte(seed), []byte(other), "reports/", false)
	f.Add([]byte(seed), []byte(""), "", false)
	f.Add([]byte(seed+"{}\n"+other), []byte(nil), "", false)                      // a record without a key
	f.Add([]byte(other+seed), []byte(nil), "", false)                             // out of order
	f.Add([]byte(seed+strings.SplitAfter(seed, "\n")[3]), []byte(nil), "", false) // a version twice
	f.Add([]byte(`{"key":"a"} {"key":"b"}`), []byte(`null`), "", false)
	f.Add([]byte(strings.TrimSuffix(seed, "\n")), []byte("\n\n \r\n"), "", false)
	f.Add(testaws.Gzip([]byte(seed))[:40], testaws.Gzip([]byte(other)), "", true)                    // truncated
	f.Add(append(testaws.Gzip([]byte(seed)), testaws.Gzip([]byte(other))...), []byte(nil), "", true) // two members: one stream
	f.Add([]byte("not gzip"), []byte(nil), "", true)
	f.Fuzz(func(t *testing.T, a, b []byte, prefix string, gzipped bool) {
		parts := [][]byte{a, b}
		if !gzipped {
			parts = [][]byte{testaws.Gzip(a), testaws.Gzip(b)}
		}
		want, ok := refRead(parts, prefix)
		got := map[string][]Record{}
		var order []string
		err := readAll(parts, prefix, func(key string, rs []Record) error {
			if _, dup := got[key]; dup || len(rs) == 0 || !strings.HasPrefix(key, prefix) {
				t.Fatalf("key %q: twice %v, %d records, prefix %q", key, dup, len(rs), prefix)
			}
			if len(order) > 0 && key <= order[len(order)-1] {
				t.Fatalf("key %q after %q", key, order[len(order)-1])
			}
			got[key], order = rs, append(order, key)
			return nil
		})
		if err != nil {
			if ok {
				t.Fatalf("a readable list fails: %v", err)
			}
			if !strings.Contains(err.Error(), "the fuzzed list part ") {
				t.Fatalf("an error that does not name the part: %v", err)
			}
			return
		}
		if !ok {
			t.Fatalf("a list that is not one was read as %d keys", len(got))
		}
		if len(got) != len(want) {
			t.Fatalf("read %d keys, the list has %d", len(got), len(want))
		}
		for k, rs := range want {
			es := got[k]
			if len(es) != len(rs) {
				t.Fatalf("%q: read %d versions, the list has %d", k, len(es), len(rs))
			}
			for i := range rs {
				if es[i].VersionID != rs[i].VersionID || es[i].DeleteMarker != rs[i].DeleteMarker || !es[i].LastModified.Equal(rs[i].LastModified) {
					t.Fatalf("%q version %d: read %+v, the list has %+v", k, i, es[i], rs[i])
				}
			}
		}
	})
}

// TestReaderBombs: small parts inflating to one endless line, or to the
// same version over and over, end in a clear error without holding what
// they inflate to.
func TestReaderBombs(t *testing.T) {
	bomb := func(head string, unit string, n int) []byte {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zw.Write([]byte(head)); err != nil {
			t.Fatal(err)
		}
		if _, err := zw.Write(bytes.Repeat([]byte(unit), n/len(unit))); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	cases := []struct {
		part []byte
		want string
	}{
		{bomb(`{"key":"`, "a", 16<<20), "longer than"},
		{bomb("", `{"key":"k","versionId":"v","isLatest":true}`+"\n", 16<<20), "listed twice"},
		{bomb("", "\n", 16<<20), ""}, // blank lines are no records: an empty list
	}
	for _, tc := range cases {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		err := readAll([][]byte{tc.part}, "", func(string, []Record) error { return nil })
		runtime.ReadMemStats(&after)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Fatalf("%d bytes: %v, want %q", len(tc.part), err, tc.want)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
			t.Fatalf("%d bytes inflating to 16 MiB allocated %d KiB", len(tc.part), grew>>10)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %v", d)
		}
	}
}
