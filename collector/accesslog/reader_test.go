package accesslog_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/collector/accesslog"
	"github.com/custody-ir/custody/collector/accesslog/altest"
)

// AWS's documented example record, every field present.
const awsExample = `79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DOC-EXAMPLE-BUCKET1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /DOC-EXAMPLE-BUCKET1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader DOC-EXAMPLE-BUCKET1.s3.us-west-1.amazonaws.com TLSV1.2 arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes`

func TestParseAWSExample(t *testing.T) {
	r, err := accesslog.Parse([]byte(awsExample))
	if err != nil {
		t.Fatal(err)
	}
	want := accesslog.Record{BucketOwner: altest.Owner, Bucket: "DOC-EXAMPLE-BUCKET1", Time: time.Date(2019, 2, 6, 0, 0, 38, 0, time.UTC),
		RemoteIP: "192.0.2.3", Requester: altest.Owner, RequestID: "3E57427F3EXAMPLE", Operation: "REST.GET.VERSIONING",
		RequestURI: "GET /DOC-EXAMPLE-BUCKET1?versioning HTTP/1.1", HTTPStatus: 200, BytesSent: 113, ObjectSize: -1, TotalTime: 7, TurnAround: -1,
		UserAgent: "S3Console/0.4", HostID: "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234=", SigVersion: "SigV4",
		CipherSuite: "ECDHE-RSA-AES128-GCM-SHA256", AuthType: "AuthHeader", HostHeader: "DOC-EXAMPLE-BUCKET1.s3.us-west-1.amazonaws.com",
		TLSVersion: "TLSV1.2", AccessPoint: "arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP", ACLRequired: "Yes"}
	if !r.Time.Equal(want.Time) {
		t.Fatalf("time %v, want %v", r.Time, want.Time)
	}
	r.Time = want.Time
	if !equal(r, want) {
		t.Fatalf("got  %+v\nwant %+v", r, want)
	}
}

func equal(a, b accesslog.Record) bool {
	return a.BucketOwner == b.BucketOwner && a.Bucket == b.Bucket && a.Time.Equal(b.Time) && a.RemoteIP == b.RemoteIP && a.Requester == b.Requester &&
		a.RequestID == b.RequestID && a.Operation == b.Operation && a.Key == b.Key && a.RequestURI == b.RequestURI && a.HTTPStatus == b.HTTPStatus &&
		a.ErrorCode == b.ErrorCode && a.BytesSent == b.BytesSent && a.ObjectSize == b.ObjectSize && a.TotalTime == b.TotalTime && a.TurnAround == b.TurnAround &&
		a.Referer == b.Referer && a.UserAgent == b.UserAgent && a.VersionID == b.VersionID && a.HostID == b.HostID && a.SigVersion == b.SigVersion &&
		a.CipherSuite == b.CipherSuite && a.AuthType == b.AuthType && a.HostHeader == b.HostHeader && a.TLSVersion == b.TLSVersion &&
		a.AccessPoint == b.AccessPoint && a.ACLRequired == b.ACLRequired && len(a.Extra) == len(b.Extra)
}

// fromEntry is what the parser must read back from a generated entry:
// the generator's values, field by field.
func fromEntry(e altest.Entry) accesslog.Record {
	r := accesslog.Record{BucketOwner: e.Owner, Bucket: e.Bucket, Time: e.Time.Truncate(time.Second), RemoteIP: e.RemoteIP, Requester: e.Requester,
		RequestID: e.RequestID, Operation: e.Operation, Key: e.Key, RequestURI: e.RequestURI, HTTPStatus: e.Status, ErrorCode: e.ErrorCode,
		BytesSent: e.BytesSent, ObjectSize: e.Size, TotalTime: e.TotalMS, TurnAround: e.TurnMS, Referer: e.Referer, UserAgent: e.UserAgent}
	later := []*string{&r.VersionID, &r.HostID, &r.SigVersion, &r.CipherSuite, &r.AuthType, &r.HostHeader, &r.TLSVersion, &r.AccessPoint, &r.ACLRequired}
	values := []string{e.VersionID, e.HostID, e.SigV, e.Cipher, e.Auth, e.Host, e.TLS, e.AccessPoint, e.ACLReq}
	for i := range later {
		if e.Fields == 0 || accesslog.MinFields+i < e.Fields {
			*later[i] = values[i]
		}
	}
	return r
}

func TestReadsGeneratedLogs(t *testing.T) {
	entries := altest.Entries("my-bucket", time.Date(2026, 11, 29, 23, 59, 30, 0, time.UTC), 60, 7)
	entries[3].Fields, entries[4].Fields = 17, 18 // AWS's older, shorter records
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Line() + "\n")
	}
	rd := accesslog.NewReader(strings.NewReader(b.String()))
	for i, e := range entries {
		r, err := rd.Next()
		if err != nil {
			t.Fatalf("record %d: %v\n%s", i+1, err, e.Line())
		}
		if want := fromEntry(e); !equal(r, want) {
			t.Fatalf("record %d:\n got  %+v\n want %+v\n line %s", i+1, r, want, e.Line())
		}
		if r.Line != i+1 {
			t.Fatalf("record %d says line %d", i+1, r.Line)
		}
	}
	if _, err := rd.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last record: %v", err)
	}
	if k := fromEntry(entries[0]).ObjectKey(); strings.Contains(k, "%20") || !strings.Contains(k, " ") {
		t.Fatalf("ObjectKey %q not decoded", k)
	}
}

func TestMalformedLinesAreErrorsAndReadingGoesOn(t *testing.T) {
	good := altest.Entries("b", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), 1, 1)[0].Line()
	cases := map[string]string{
		"too few fields":   "owner bucket [06/Feb/2019:00:00:38 +0000] 192.0.2.3",
		"bad time":         strings.Replace(good, "[02/Jan/2026:03:04:05 +0000]", "[2026-01-02T03:04:05Z]", 1),
		"unclosed quote":   strings.Replace(good, `"GET /b/`, `"GET /b/ HTTP/1.1 200 - `, 1)[:120],
		"status":           strings.Replace(good, `HTTP/1.1" 200 `, `HTTP/1.1" OK `, 1),
		"negative bytes":   strings.Replace(good, ` 200 - `, ` 200 - -5 `, 1),
		"empty field":      strings.Replace(good, " REST.", "  REST.", 1),
		"unclosed bracket": "owner bucket [06/Feb/2019:00:00:38 +0000 192.0.2.3",
		"long line":        strings.Repeat("x", accesslog.MaxLine+10),
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			input := good + "\n\n" + bad + "\n" + good // the last line without a newline
			var recs, lineErrs []int
			for r, err := range accesslog.All(strings.NewReader(input)) {
				var le *accesslog.LineError
				switch {
				case errors.As(err, &le):
					lineErrs = append(lineErrs, le.Line)
				case err != nil:
					t.Fatal(err)
				default:
					recs = append(recs, r.Line)
				}
			}
			if len(recs) != 2 || recs[0] != 1 || recs[1] != 4 || len(lineErrs) != 1 || lineErrs[0] != 3 {
				t.Fatalf("records at lines %v, errors at lines %v; want records at 1 and 4, an error at 3", recs, lineErrs)
			}
		})
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n > 0 {
		f.n = 0
		return copy(p, awsExample+"\n"), nil
	}
	return 0, errors.New("connection reset")
}

func TestReadErrorEndsTheIteration(t *testing.T) {
	var got []error
	for _, err := range accesslog.All(&failingReader{n: 1}) {
		got = append(got, err)
	}
	var le *accesslog.LineError
	if len(got) != 2 || got[0] != nil || got[1] == nil || errors.As(got[1], &le) {
		t.Fatalf("got %v, want a record then the read error", got)
	}
}
