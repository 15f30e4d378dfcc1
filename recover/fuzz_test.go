package recovery

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/testaws"
)

func evidenceOf(parts ...[]byte) *Evidence {
	ev := &Evidence{At: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Name: "the fuzzed list"}
	for _, p := range parts {
		ev.Parts = append(ev.Parts, func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(p)), nil })
	}
	return ev
}

// versionListSeed is a version list as the collector writes it.
const versionListSeed = `{"key":"a & b.txt","versionId":"dm1","isLatest":true,"lastModified":"2026-11-20T01:00:00Z","deleteMarker":true,"size":0,"owner":"o"}
{"key":"a & b.txt","versionId":"v1","isLatest":false,"lastModified":"2026-11-19T01:00:00Z","etag":"\"e\"","size":5,"storageClass":"STANDARD"}
{"key":"reports/q1.csv","versionId":"3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY","isLatest":true,"lastModified":"2026-11-19T10:00:00Z","etag":"\"fba9dede5f27731c9771645a39863328\"","size":434234,"storageClass":"STANDARD","checksumAlgorithm":["CRC64NVME"]}
{"key":"reports/q1.csv","versionId":"null","isLatest":false,"lastModified":"2026-11-18T10:00:00Z","etag":"\"e\"","size":1,"storageClass":"GLACIER"}
`

// offlineS3 answers every request with status 200 and body, through the
// SDK's own deserializers, and fails the test past 1000 requests.
func offlineS3(t *testing.T, body []byte) *s3.Client {
	calls := 0
	return testaws.OfflineS3(func(*http.Request) (*http.Response, error) {
		if calls++; calls > 1000 {
			t.Fatalf("more than 1000 requests for one listing")
		}
		return testaws.Reply(200, "application/xml", body), nil
	})
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

var planKinds = map[ActionKind]bool{RemoveMarkers: true, CopyBack: true, HideNew: true, ReportNew: true, ReplicaCopy: true, Unrecoverable: true}

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
				o.Evidence = evidenceOf(testaws.Gzip(preserved))
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
