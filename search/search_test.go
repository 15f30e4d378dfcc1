package search

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/collector/accesslog/altest"
	"github.com/custody-ir/custody/custody"
)

func sortEvents(es []event) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].At.Before(es[j].At) })
}

// run searches the world through its ledger.
func (w *world) run(f Filter, lag time.Duration) ([]Record, Stats, []Problem) {
	w.t.Helper()
	ctx := context.Background()
	all, err := LedgerCatalog{Ledger: w.ledger, Bucket: w.cfg.Bucket}.Files(ctx, KindCloudTrailLog)
	if err != nil {
		w.t.Fatal(err)
	}
	var got []Record
	st, problems, err := Searcher{API: w.s3}.Run(ctx, Window(all, f.Since, f.Until, lag), f, func(r Record) error { got = append(got, r); return nil })
	if err != nil {
		w.t.Fatal(err)
	}
	sort.SliceStable(got, func(i, j int) bool { return got[i].Time.Before(got[j].Time) })
	return got, st, problems
}

// same fails unless got are exactly want's events, in order.
func same(t *testing.T, what string, got []Record, want []event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].EventID != want[i].ID || !got[i].Time.Equal(want[i].At.UTC()) {
			t.Fatalf("%s: record %d is %s at %s, want %s at %s", what, i, got[i].EventID, got[i].Time, want[i].ID, want[i].At)
		}
	}
}

// TestSearchFilters: on a generated, sealed trail, each filter alone and
// combined returns exactly the events that match it, each record naming
// the sealed file and manifest it came from.
func TestSearchFilters(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	w := newWorld(t, start, 2)
	since, until := start, start.Add(48*time.Hour)
	byKey := func(e event) bool { return e.AccessKey == attackerKey }
	cases := []struct {
		name string
		f    Filter
		pred func(event) bool
	}{
		{"access key", Filter{AccessKeys: []string{attackerKey}}, byKey},
		{"principal ARN", Filter{Principals: []string{attacker}}, byKey},
		{"user name", Filter{Principals: []string{"MALLORY"}}, byKey},
		{"role ARN", Filter{Principals: []string{appRole}}, func(e event) bool { return e.RoleARN == appRole }},
		{"role session name", Filter{Principals: []string{"i-0abc"}}, func(e event) bool { return e.RoleARN == appRole }},
		{"source IP", Filter{SourceIPs: []string{"203.0.113.8"}}, func(e event) bool { return e.IP == "203.0.113.8" }},
		{"source CIDR", Filter{SourceIPs: []string{"203.0.113.0/24"}}, byKey},
		{"event", Filter{Events: []string{"PutBucketPolicy", "deleteobject"}}, func(e event) bool { return e.Name == "PutBucketPolicy" || e.Name == "DeleteObject" }},
		{"errors", Filter{Errors: true}, func(e event) bool { return e.ErrorCode != "" }},
		{"key prefix", Filter{Key: "records/1-0-"}, func(e event) bool { return strings.HasPrefix(e.Key, "records/1-0-") }},
		{"key glob", Filter{Key: "records/*-0-2.json"}, func(e event) bool { return strings.HasSuffix(e.Key, "-0-2.json") }},
		{"bucket", Filter{Buckets: []string{"customer-data"}}, func(e event) bool { return true }},
		{"no bucket", Filter{Buckets: []string{"other-bucket"}}, func(e event) bool { return false }},
		{"combined", Filter{AccessKeys: []string{attackerKey}, Events: []string{"GetObject", "DeleteObject"}, Key: "records/0-"},
			func(e event) bool {
				return e.AccessKey == attackerKey && (e.Name == "GetObject" || e.Name == "DeleteObject") && strings.HasPrefix(e.Key, "records/0-")
			}},
	}
	for _, c := range cases {
		c.f.Since, c.f.Until = since, until
		got, st, problems := w.run(c.f, time.Hour)
		if len(problems) != 0 {
			t.Fatalf("%s: problems %v", c.name, problems)
		}
		same(t, c.name, got, w.want(c.pred))
		if st.Read != int64(len(w.files)) {
			t.Fatalf("%s: read %d files, want all %d of the window", c.name, st.Read, len(w.files))
		}
	}

	// Records say what was done, by whom, and from which sealed file.
	got, _, _ := w.run(Filter{Events: []string{"DeleteObject"}, Since: since, Until: until}, time.Hour)
	r := got[0]
	if r.Principal != attacker || r.AccessKey != attackerKey || r.Bucket != "customer-data" || !r.DeleteMarker || !strings.HasPrefix(r.VersionID, "dm") ||
		r.Status != "OK" || r.Source != SourceCloudTrail || r.Account != "111122223333" || r.Service != "s3" {
		t.Fatalf("delete record: %+v", r)
	}
	if !strings.HasPrefix(r.Evidence.Object, "s3://"+w.cfg.Bucket+"/custody/111122223333/us-east-1/cloudtrail/") || !strings.Contains(r.Evidence.Object, "?versionId=") ||
		r.Evidence.Manifest != "agent-1/1" || len(r.Evidence.SHA256) != 64 || !strings.HasPrefix(r.Evidence.Source, "s3://trail-bucket/AWSLogs/") {
		t.Fatalf("evidence of the delete record: %+v", r.Evidence)
	}
	denied, _, _ := w.run(Filter{Errors: true, Since: since, Until: until}, time.Hour)
	if denied[0].Status != "AccessDenied" || !denied[0].Error {
		t.Fatalf("denied record: %+v", denied[0])
	}
}

// TestSearchReadsOnlyTheWindow: a one-hour query over days of logs GETs
// only the files delivered in that hour and the delivery lag after it; a
// literal filter (an access key) skips files without it unparsed.
func TestSearchReadsOnlyTheWindow(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	w := newWorld(t, start, 2)
	since := start.Add(30 * time.Hour)
	until := since.Add(time.Hour)
	lag := 20 * time.Minute
	wantFiles := 0
	for _, at := range w.fileAt {
		if !at.Before(since) && !at.After(until.Add(lag)) {
			wantFiles++
		}
	}
	got, st, _ := w.run(Filter{Since: since, Until: until}, lag)
	if st.Read != int64(wantFiles) || st.Files != wantFiles || wantFiles != 5 { // delivered at 30:00, 30:20, 30:40, 31:00 and, within the lag, 31:20
		t.Fatalf("read %d files (window %d), want %d", st.Read, st.Files, wantFiles)
	}
	same(t, "the hour", got, w.want(func(e event) bool { return !e.At.Before(since) && !e.At.After(until) }))

	_, st, _ = w.run(Filter{AccessKeys: []string{attackerKey}, Since: start, Until: start.Add(48 * time.Hour)}, time.Hour)
	if st.Skipped != int64(len(w.files)-6) || st.Read != int64(len(w.files)) {
		t.Fatalf("access-key search: read %d, skipped %d unparsed; want %d skipped (all but the 6 files with the attacker)", st.Read, st.Skipped, len(w.files)-6)
	}
}

// TestSearchBelievesOnlySealedBytes: a sealed file removed (governance
// bypass), or one whose bytes differ from what its manifest sealed, is a
// problem naming it, and none of its records is returned; the manifests
// (no ledger, verified) list the same files as the ledger.
func TestSearchBelievesOnlySealedBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	w := newWorld(t, start, 1)
	f := Filter{AccessKeys: []string{attackerKey}, Since: start, Until: start.Add(24 * time.Hour)}
	before, _, _ := w.run(f, time.Hour)

	// Without the ledger: the verified manifests give the same answer.
	v := custody.NewVerifier(w.s3, w.cfg, w.trust, nil, func() time.Time { return time.Now().UTC() })
	mc := &ManifestCatalog{Verifier: v, Bucket: w.cfg.Bucket}
	all, err := mc.Files(ctx, KindCloudTrailLog)
	if err != nil || len(all) != len(w.files) {
		t.Fatalf("manifest catalog: %d files, %v; want %d", len(all), err, len(w.files))
	}
	var offline []Record
	if _, problems, err := (Searcher{API: w.s3}).Run(ctx, Window(all, f.Since, f.Until, time.Hour), f, func(r Record) error { offline = append(offline, r); return nil }); err != nil || len(problems) != 0 {
		t.Fatalf("search from the manifests: %v %v", problems, err)
	}
	if len(offline) != len(before) || len(before) != 12 {
		t.Fatalf("from the manifests %d records, from the ledger %d, want 12", len(offline), len(before))
	}

	// The file holding the first attacker records, removed.
	var victim string
	for i, at := range w.fileAt {
		if at.After(before[0].Time) {
			victim = w.files[i]
			break
		}
	}
	vs, err := w.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(w.cfg.Bucket), Prefix: aws.String(victim)})
	if err != nil || len(vs.Versions) != 1 {
		t.Fatalf("versions of %s: %v", victim, err)
	}
	if _, err := w.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.cfg.Bucket), Key: aws.String(victim), VersionId: vs.Versions[0].VersionId,
		BypassGovernanceRetention: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	after, _, problems := w.run(f, time.Hour)
	if len(problems) != 1 || !strings.Contains(problems[0].Object, victim) || len(after) != len(before)-4 {
		t.Fatalf("after removing %s: %d records (want %d), problems %v", victim, len(after), len(before)-4, problems)
	}

	// Bytes that are not what was sealed: never believed.
	files := Window(all, f.Since, f.Until, time.Hour)
	for i := range files {
		files[i].SHA256 = strings.Repeat("0", 64)
	}
	var got []Record
	_, problems, err = Searcher{API: w.s3}.Run(ctx, files[:3], Filter{}, func(r Record) error { got = append(got, r); return nil })
	if err != nil || len(problems) != 3 || len(got) != 0 || !strings.Contains(problems[0].Message, "the evidence was altered") {
		t.Fatalf("files whose bytes are not what was sealed: %d records, problems %v, %v", len(got), problems, err)
	}
}

// TestSearchIndex: the first search reads every file of the window and
// records its terms; a later search for an access key reads only the
// files holding it and gives the same records. Terms of other bytes (a
// file whose sealed SHA-256 differs) are not trusted: the file is read.
func TestSearchIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	w := newWorld(t, start, 1)
	all, err := LedgerCatalog{Ledger: w.ledger, Bucket: w.cfg.Bucket}.Files(ctx, KindCloudTrailLog)
	if err != nil {
		t.Fatal(err)
	}
	files := Window(all, start, start.Add(24*time.Hour), time.Hour)
	search := func(f Filter) ([]Record, Stats) {
		t.Helper()
		idx := &LedgerIndex{Ledger: w.ledger, Bucket: w.cfg.Bucket}
		if err := idx.Load(ctx, f); err != nil {
			t.Fatal(err)
		}
		var got []Record
		st, problems, err := Searcher{API: w.s3, Index: idx}.Run(ctx, files, f, func(r Record) error { got = append(got, r); return nil })
		if err != nil || len(problems) != 0 {
			t.Fatalf("search: %v %v", problems, err)
		}
		return got, st
	}
	f := Filter{AccessKeys: []string{attackerKey}, Since: start, Until: start.Add(24 * time.Hour)}
	cold, st := search(f)
	if st.Read != int64(len(files)) || st.Unread != 0 || len(cold) != 12 {
		t.Fatalf("cold: read %d of %d, unread %d, %d records", st.Read, len(files), st.Unread, len(cold))
	}
	warm, st := search(f)
	if st.Read != 3 || st.Unread != int64(len(files)-3) || len(warm) != len(cold) {
		t.Fatalf("warm: read %d (want the 3 files with the key), unread %d, %d records (want %d)", st.Read, st.Unread, len(warm), len(cold))
	}
	for _, c := range []Filter{{Principals: []string{"MALLORY"}}, {SourceIPs: []string{"203.0.113.0/24"}}, {Events: []string{"putbucketpolicy"}}, {Buckets: []string{"customer-data"}}} {
		c.Since, c.Until = f.Since, f.Until
		byIndex, _ := search(c)
		var plain []Record
		if _, _, err := (Searcher{API: w.s3}).Run(ctx, files, c, func(r Record) error { plain = append(plain, r); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(byIndex) != len(plain) || len(plain) == 0 {
			t.Fatalf("%+v: %d records through the index, %d without", c, len(byIndex), len(plain))
		}
	}
	// Terms recorded for other bytes are not used.
	for i := range files {
		files[i].SHA256 = strings.Repeat("0", 64)
	}
	idx := &LedgerIndex{Ledger: w.ledger, Bucket: w.cfg.Bucket}
	if err := idx.Load(ctx, f); err != nil {
		t.Fatal(err)
	}
	if idx.Known(files[0]) || idx.Skip(files[0]) {
		t.Fatal("terms of other bytes were trusted")
	}
}

// TestSearchAccessLogs: S3 server access logs sealed beside the trail are
// searched with it, in the same record shape: the requester is the
// principal, the operation the API name, a malformed line is counted and
// skipped; an access key (which access logs do not carry) selects none
// of their records.
func TestSearchAccessLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	w := newWorld(t, start, 1)
	at := start.Add(5*time.Hour + 17*time.Minute)
	lines := []string{
		altest.Entry{Owner: "79a59df900b949e55d96a1e698fbaced", Bucket: "customer-data", Time: at, RemoteIP: "203.0.113.7", Requester: attacker, RequestID: "3E57427F3EXAMPLE",
			Operation: "REST.GET.OBJECT", Key: "records/0-0-0.json", RequestURI: "GET /customer-data/records/0-0-0.json HTTP/1.1", Status: 200, BytesSent: 1520, Size: 1520,
			TotalMS: 12, TurnMS: 10, UserAgent: `aws-cli/2.15.0 "quoted"`, VersionID: "v1", SigV: "SigV4", Auth: "AuthHeader", Host: "customer-data.s3.amazonaws.com", TLS: "TLSv1.3"}.Line(),
		"this line is not a record",
		altest.Entry{Owner: "79a59df900b949e55d96a1e698fbaced", Bucket: "customer-data", Time: at.Add(time.Minute), RemoteIP: "198.51.100.2", RequestID: "3E57427F3EXAMPLF",
			Operation: "REST.PUT.OBJECT", Key: "public/x", RequestURI: "PUT /customer-data/public/x HTTP/1.1", Status: 403, ErrorCode: "AccessDenied", BytesSent: 243, Size: -1,
			TotalMS: 3, TurnMS: -1}.Line(),
	}
	src := "s3://access-logs/logs/" + at.Add(40*time.Minute).Format("2006-01-02-15-04-05") + "-0A1B2C3D4E5F6A7B"
	w.seal(KindAccessLog, src, []byte(strings.Join(lines, "\n")+"\n"))

	all, n, err := Select(ctx, LedgerCatalog{Ledger: w.ledger, Bucket: w.cfg.Bucket}, start, start.Add(24*time.Hour), time.Hour)
	if err != nil || n != len(w.files)+1 || len(all) != n {
		t.Fatalf("select: %d of %d files, %v", len(all), n, err)
	}
	run := func(f Filter) ([]Record, Stats) {
		t.Helper()
		f.Since, f.Until = start, start.Add(24*time.Hour)
		var got []Record
		st, problems, err := Searcher{API: w.s3}.Run(ctx, all, f, func(r Record) error { got = append(got, r); return nil })
		if err != nil || len(problems) != 0 {
			t.Fatalf("search: %v %v", problems, err)
		}
		return got, st
	}
	got, st := run(Filter{Principals: []string{"mallory"}, Events: []string{"GetObject"}})
	var fromLog []Record
	for _, r := range got {
		if r.Source == SourceAccessLog {
			fromLog = append(fromLog, r)
		}
	}
	if len(fromLog) != 1 || len(got) != 4 || st.Malformed != 1 {
		t.Fatalf("mallory's reads: %d records, %d from the access log (want 3 + 1), %d malformed lines (want 1)", len(got), len(fromLog), st.Malformed)
	}
	r := fromLog[0]
	if r.Principal != attacker || r.Action != "GetObject" || r.Bucket != "customer-data" || r.Key != "records/0-0-0.json" || r.VersionID != "v1" ||
		r.Account != "111122223333" || r.Region != "us-east-1" ||
		r.SourceIP != "203.0.113.7" || r.Status != "200" || r.Error || !r.Time.Equal(at) || !strings.HasPrefix(r.Evidence.Source, "s3://access-logs/") {
		t.Fatalf("access-log record: %+v", r)
	}
	denied, _ := run(Filter{Errors: true, Key: "public/"})
	if len(denied) != 1 || denied[0].Principal != "anonymous" || denied[0].Status != "403 AccessDenied" || denied[0].Action != "PutObject" {
		t.Fatalf("the denied anonymous write: %+v", denied)
	}
	byKey, _ := run(Filter{AccessKeys: []string{attackerKey}})
	for _, r := range byKey {
		if r.Source != SourceCloudTrail {
			t.Fatalf("an access key selected an access-log record: %+v", r)
		}
	}
}
