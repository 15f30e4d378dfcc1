package recovery

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func evidenceOf(parts ...[]byte) *Evidence {
	ev := &Evidence{At: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Name: "the fuzzed list"}
	for _, p := range parts {
		ev.Parts = append(ev.Parts, func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(p)), nil })
	}
	return ev
}

// refRead is a second reading of preserved version list parts: the
// records under prefix, or ok=false when the parts are not a version
// list custody could have written (not gzip, a line too long or not one
// JSON record, a record without a key, keys out of order, a version
// listed twice).
func refRead(parts [][]byte, prefix string) (map[string][]record, bool) {
	out := map[string][]record{}
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
			if len(line) > maxRecordLine {
				return nil, false
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var r record
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

// versionListSeed is a version list as the collector writes it.
const versionListSeed = `{"key":"a & b.txt","versionId":"dm1","isLatest":true,"lastModified":"2026-11-20T01:00:00Z","deleteMarker":true,"size":0,"owner":"o"}
{"key":"a & b.txt","versionId":"v1","isLatest":false,"lastModified":"2026-11-19T01:00:00Z","etag":"\"e\"","size":5,"storageClass":"STANDARD"}
{"key":"reports/q1.csv","versionId":"3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY","isLatest":true,"lastModified":"2026-11-19T10:00:00Z","etag":"\"fba9dede5f27731c9771645a39863328\"","size":434234,"storageClass":"STANDARD","checksumAlgorithm":["CRC64NVME"]}
{"key":"reports/q1.csv","versionId":"null","isLatest":false,"lastModified":"2026-11-18T10:00:00Z","etag":"\"e\"","size":1,"storageClass":"GLACIER"}
`

// FuzzEvidence: preserved version list parts, however damaged, are read
// as the records they hold (each key once, in order, all its versions)
// or end in an error naming the part; never a panic or a silently
// shortened list.
func FuzzEvidence(f *testing.F) {
	other := `{"key":"logs/2026/11/19.log","versionId":"v","isLatest":true,"lastModified":"2026-11-19T00:00:00Z","size":7}` + "\n"
	f.Add([]byte(versionListSeed), []byte(other), "", false)
	f.Add([]byte(versionListSeed), []byte(other), "reports/", false)
	f.Add([]byte(versionListSeed), []byte(""), "", false)
	f.Add([]byte(versionListSeed+"{}\n"+other), []byte(nil), "", false)                                 // a record without a key
	f.Add([]byte(other+versionListSeed), []byte(nil), "", false)                                        // out of order
	f.Add([]byte(versionListSeed+strings.SplitAfter(versionListSeed, "\n")[3]), []byte(nil), "", false) // a version twice
	f.Add([]byte(`{"key":"a"} {"key":"b"}`), []byte(`null`), "", false)
	f.Add([]byte(strings.TrimSuffix(versionListSeed, "\n")), []byte("\n\n \r\n"), "", false)
	f.Add(gzipBytes([]byte(versionListSeed))[:40], gzipBytes([]byte(other)), "", true)                    // truncated
	f.Add(append(gzipBytes([]byte(versionListSeed)), gzipBytes([]byte(other))...), []byte(nil), "", true) // two members: one stream
	f.Add([]byte("not gzip"), []byte(nil), "", true)
	f.Fuzz(func(t *testing.T, a, b []byte, prefix string, gzipped bool) {
		parts := [][]byte{a, b}
		if !gzipped {
			parts = [][]byte{gzipBytes(a), gzipBytes(b)}
		}
		want, ok := refRead(parts, prefix)
		got := map[string][]entry{}
		var order []string
		err := func() error {
			h, err := openEvidence(context.Background(), evidenceOf(parts...), prefix)
			if err != nil {
				return err
			}
			defer h.close()
			for {
				key, es, more, err := h.next(prefix)
				if err != nil || !more {
					return err
				}
				if _, dup := got[key]; dup || len(es) == 0 || !strings.HasPrefix(key, prefix) {
					t.Fatalf("key %q: twice %v, %d entries, prefix %q", key, dup, len(es), prefix)
				}
				if len(order) > 0 && key <= order[len(order)-1] {
					t.Fatalf("key %q after %q", key, order[len(order)-1])
				}
				got[key], order = es, append(order, key)
			}
		}()
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
				if es[i].versionID != rs[i].VersionID || es[i].marker != rs[i].DeleteMarker || !es[i].at.Equal(rs[i].LastModified) {
					t.Fatalf("%q version %d: read %+v, the list has %+v", k, i, es[i], rs[i])
				}
			}
		}
	})
}

// TestEvidenceBombs: small parts inflating to one endless line, or to
// the same version over and over, end in a clear error without holding
// what they inflate to.
func TestEvidenceBombs(t *testing.T) {
	bomb := func(head string, unit string, n int) []byte {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write([]byte(head))
		zw.Write(bytes.Repeat([]byte(unit), n/len(unit)))
		zw.Close()
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
		err := func() error {
			h, err := openEvidence(context.Background(), evidenceOf(tc.part), "")
			if err != nil {
				return err
			}
			defer h.close()
			for {
				_, _, more, err := h.next("")
				if err != nil || !more {
					return err
				}
			}
		}()
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

type offlineHTTP func(*http.Request) (*http.Response, error)

func (f offlineHTTP) Do(r *http.Request) (*http.Response, error) { return f(r) }

// offlineS3 answers every request with status 200 and body, through the
// SDK's own deserializers, and fails the test past 1000 requests.
func offlineS3(t *testing.T, body []byte) *s3.Client {
	calls := 0
	h := offlineHTTP(func(r *http.Request) (*http.Response, error) {
		if calls++; calls > 1000 {
			t.Fatalf("more than 1000 requests for one listing")
		}
		return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/xml"}, "Content-Length": {strconv.Itoa(len(body))}}, ContentLength: int64(len(body)),
			Body: io.NopCloser(bytes.NewReader(body))}, nil
	})
	return s3.New(s3.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, HTTPClient: h, Retryer: aws.NopRetryer{},
		UsePathStyle: true, BaseEndpoint: aws.String("https://s3.offline.invalid")})
}

// liveListing is a ListObjectVersions answer.
func liveListing(truncated bool, extra string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult><Name>b</Name><IsTruncated>` + strconv.FormatBool(truncated) + `</IsTruncated>` + extra +
		`<DeleteMarker><Key>a &amp; b.txt</Key><VersionId>dm2</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-20T13:00:00Z</LastModified></DeleteMarker>` +
		`<Version><Key>a &amp; b.txt</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-19T01:00:00Z</LastModified><ETag>"e"</ETag><Size>5</Size></Version>` +
		`<Version><Key>new.txt</Key><VersionId>n1</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-20T13:30:00Z</LastModified><ETag>"n"</ETag><Size>1</Size></Version>` +
		`<Version><Key>reports/q1.csv</Key><VersionId>w2</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-20T14:00:00Z</LastModified><ETag>"bad"</ETag><Size>3</Size></Version>` +
		`<Version><Key>reports/q1.csv</Key><VersionId>3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-19T10:00:00Z</LastModified><ETag>"fba9dede5f27731c9771645a39863328"</ETag><Size>434234</Size></Version>` +
		`</ListVersionsResult>`
}

var planKinds = map[string]bool{RemoveMarkers: true, CopyBack: true, HideNew: true, ReportNew: true, ReplicaCopy: true, Unrecoverable: true}

// FuzzMakePlan: a bucket's live listing (and its replica's), through the
// SDK, with a preserved list, ends in a plan or an error naming what
// failed; a listing whose pages never end is an error, not a loop; the
// plan accounts for every key, is the same every time, and checking the
// bucket against it ends too.
func FuzzMakePlan(f *testing.F) {
	f.Add([]byte(liveListing(false, "")), []byte(versionListSeed), false, false)
	f.Add([]byte(liveListing(false, "")), []byte(versionListSeed), true, true)
	f.Add([]byte(liveListing(true, "<NextKeyMarker>reports/q1.csv</NextKeyMarker><NextVersionIdMarker>w2</NextVersionIdMarker>")), []byte(nil), false, false)
	f.Add([]byte(liveListing(true, "")), []byte(nil), true, false)
	f.Add([]byte(`<Error><Code>AccessDenied</Code></Error>`), []byte(versionListSeed), false, false)
	f.Fuzz(func(t *testing.T, listing, preserved []byte, replica, removeNew bool) {
		target := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
		plan := func() (*Plan, error) {
			api := offlineS3(t, listing)
			o := PlanOptions{RemoveNew: removeNew}
			if replica {
				o.Replica, o.ReplicaBucket = offlineS3(t, listing), "replica"
			}
			if len(preserved) > 0 {
				o.Evidence = evidenceOf(gzipBytes(preserved))
			}
			return MakePlan(context.Background(), api, "b", target, o)
		}
		p, err := plan()
		if err != nil {
			if !strings.Contains(err.Error(), "s3://b") && !strings.Contains(err.Error(), "s3://replica") && !strings.Contains(err.Error(), "the fuzzed list part") {
				t.Fatalf("an error that names neither bucket nor list: %v", err)
			}
			return
		}
		if p.Keys != p.Unchanged+len(p.Actions) {
			t.Fatalf("%d keys, %d unchanged, %d actions", p.Keys, p.Unchanged, len(p.Actions))
		}
		keys := map[string]bool{}
		for _, a := range p.Actions {
			if !planKinds[a.Kind] || keys[a.Key] {
				t.Fatalf("action %+v: unknown kind, or a key planned twice", a)
			}
			keys[a.Key] = true
		}
		again, _ := plan()
		j1, _ := json.Marshal(p)
		j2, _ := json.Marshal(again)
		if !bytes.Equal(j1, j2) {
			t.Fatalf("two plans differ:\n%s\n%s", j1, j2)
		}
		bad, err := StateAt(context.Background(), offlineS3(t, listing), p)
		if err != nil {
			if !strings.Contains(err.Error(), "s3://b") {
				t.Fatalf("an error that does not name the bucket: %v", err)
			}
			return
		}
		for _, k := range bad {
			if !keys[k] {
				t.Fatalf("StateAt reports %q, which the plan does not touch", k)
			}
		}
	})
}
