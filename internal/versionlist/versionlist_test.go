package versionlist

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/internal/testaws"
)

// The names a collector writes read back as the bucket they list, also
// for bucket names that themselves hold ".versions." (a key substring
// search took "logs.versions.old"'s list for "logs"'s), and nothing else
// reads as a version list.
func TestBucketOf(t *testing.T) {
	for _, b := range []string{"logs", "logs.versions.old", "a.versions.root", "x.versions.00001", "my-bucket.example.com"} {
		for _, name := range []string{Name(b), RootName(b), PartName(b, 1), PartName(b, 123456), InventoryName(b)} {
			key := "custody/collect/111122223333/us-east-1/versions/2026/11/29/run/" + name
			got, ok := BucketOf(key)
			if !ok || got != b {
				t.Errorf("BucketOf(%q) = %q, %v; want %q", key, got, ok, b)
			}
		}
	}
	for _, key := range []string{"p/logs.ndjson.gz", "p/.versions.ndjson.gz", "p/logs.versions.12.ndjson.gz", "p/logs.versions.0001x.ndjson.gz",
		"p/logs.versions.ndjson", "p/versions.ndjson.gz", "p/summary.json", ""} {
		if got, ok := BucketOf(key); ok {
			t.Errorf("BucketOf(%q) = %q, true; want not a version list", key, got)
		}
	}
}

// What the Writer writes, the Reader reads back record for record, every
// field kept.
func TestWriterReader(t *testing.T) {
	at := time.Date(2026, 11, 20, 1, 2, 3, 4, time.UTC)
	recs := []Record{
		{Key: "a", VersionID: "dm", IsLatest: true, LastModified: at, DeleteMarker: true, Owner: "o"},
		{Key: "a", VersionID: "v1", LastModified: at.Add(-time.Hour), ETag: `"e"`, Size: 5, StorageClass: "GLACIER", ChecksumAlgorithm: []string{"CRC32"}},
		{Key: "b/c", VersionID: "null", IsLatest: true, LastModified: at, Size: 0},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Count() != int64(len(recs)) {
		t.Fatalf("count %d", w.Count())
	}
	r, err := NewReader(&buf, "the list")
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		got, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if got.Key != recs[i].Key || got.VersionID != recs[i].VersionID || got.IsLatest != recs[i].IsLatest || !got.LastModified.Equal(recs[i].LastModified) ||
			got.DeleteMarker != recs[i].DeleteMarker || got.ETag != recs[i].ETag || got.Size != recs[i].Size || got.StorageClass != recs[i].StorageClass ||
			strings.Join(got.ChecksumAlgorithm, ",") != strings.Join(recs[i].ChecksumAlgorithm, ",") || got.Owner != recs[i].Owner {
			t.Fatalf("record %d: read %+v, wrote %+v", i, got, recs[i])
		}
		if r.Line() != i+1 {
			t.Fatalf("line %d, want %d", r.Line(), i+1)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last record: %v", err)
	}
}

// Each damage is named with the list and the line.
func TestReaderErrors(t *testing.T) {
	for _, tc := range []struct{ list, want string }{
		{`{"key":"b"}` + "\n" + `{"key":"a"}` + "\n", `the list is not in key order ("a" after "b")`},
		{`{"key":"a"}` + "\n{}\n", "the list line 2: a record without a key"},
		{`{"key":"a"}` + "\n\n[\n", "the list line 3: "},
	} {
		r, err := NewReader(bytes.NewReader(testaws.Gzip([]byte(tc.list))), "the list")
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = r.Next()
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.list, err, tc.want)
		}
	}
	if _, err := NewReader(strings.NewReader("plain"), "the list"); err == nil || !strings.HasPrefix(err.Error(), "the list: ") {
		t.Errorf("not gzip: %v", err)
	}
}
