package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/collector/accesslog/altest"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
	"github.com/custody-ir/custody/search"
)

// accessLogsFixture: on MinIO (which has no server access logging), four
// monitored buckets: two logging to one simple-format target, one to a
// partitioned (event time) target, one not logging; and a bucket of VPC
// flow logs.
type accessLogsFixture struct {
	e                      *testEnv
	shared1, shared2, part string
	unobserved             string
	target, flow           string
	flowPrefix             string
	col                    *AccessLogs
	start                  time.Time
	written                map[string]bool // every s3:// source written
}

func newAccessLogsFixture(t *testing.T) *accessLogsFixture {
	t.Helper()
	e := newEnv(t)
	f := &accessLogsFixture{e: e, written: map[string]bool{}, flowPrefix: "AWSLogs/123456789012/vpcflowlogs/us-east-1/",
		start: time.Now().UTC().Add(-50 * time.Hour).Truncate(time.Minute)}
	for _, b := range []*string{&f.shared1, &f.shared2, &f.part, &f.unobserved, &f.target, &f.flow} {
		*b = testaws.CreateBucket(t, e.s3, testaws.BucketOptions{})
	}
	f.col = &AccessLogs{API: e.s3, Ledger: e.Ledger, Account: "123456789012", Region: "us-east-1",
		Buckets: []string{f.shared1, f.shared2, f.part, f.unobserved},
		Targets: []config.AccessLogTarget{
			{Bucket: f.shared1, TargetBucket: f.target, TargetPrefix: "logs/"},
			{Bucket: f.shared2, TargetBucket: f.target, TargetPrefix: "logs/", Format: "simple"},
			{Bucket: f.part, TargetBucket: f.target, TargetPrefix: "part/", Format: "partitioned", DateSource: "EventTime"},
		},
		LogBuckets: []config.BucketPrefix{{Bucket: f.flow, Prefix: f.flowPrefix}},
		Prefix:     "custody", Now: time.Now, Concurrency: 8}
	return f
}

// write delivers n log objects of each kind, from the offset-th on.
func (f *accessLogsFixture) write(t *testing.T, offset, n int) []altest.Object {
	t.Helper()
	ctx := context.Background()
	var all []altest.Object
	for i, d := range []altest.Delivery{
		{TargetBucket: f.target, TargetPrefix: "logs/", Source: f.shared1, Every: 7 * time.Minute},
		{TargetBucket: f.target, TargetPrefix: "logs/", Source: f.shared2, Every: 11 * time.Minute},
		{TargetBucket: f.target, TargetPrefix: "part/", Source: f.part, Format: altest.Format{Partitioned: true, EventTime: true}, Every: 5 * time.Hour},
	} {
		d.Account, d.Region, d.Objects, d.RecordsPerObject, d.Seed = "123456789012", "us-east-1", offset+n, 4, uint64(i+1)
		d.Start = f.start
		objs := d.Make()[offset:]
		for _, o := range objs {
			if _, err := f.e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.target), Key: aws.String(o.Key), Body: strings.NewReader(o.Body())}); err != nil {
				t.Fatal(err)
			}
			f.written["s3://"+f.target+"/"+o.Key] = true
		}
		all = append(all, objs...)
	}
	for i := offset; i < offset+n; i++ {
		key := f.flowPrefix + f.start.Add(time.Duration(i)*time.Hour).Format("2006/01/02/") + fmt.Sprintf("123456789012_vpcflowlogs_us-east-1_fl-0abc_%s_%03d.log.gz",
			f.start.Add(time.Duration(i)*time.Hour).Format("20060102T1504Z"), i)
		if _, err := f.e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.flow), Key: aws.String(key),
			Body: strings.NewReader(string(testaws.Gzip([]byte("version account-id interface-id\n2 123456789012 eni-1\n"))))}); err != nil {
			t.Fatal(err)
		}
		f.written["s3://"+f.flow+"/"+key] = true
	}
	return all
}

// sealed counts, over every manifest, the sealed copies of each source.
func (f *accessLogsFixture) sealed(t *testing.T) map[string]int {
	t.Helper()
	r := f.e.verify(t)
	out := map[string]int{}
	for _, m := range r.Manifests {
		for _, s := range m.Subjects() {
			if k := s.Annotations.Kind; k == KindAccessLog || k == KindLogFile {
				out[s.Annotations.Source]++
			}
		}
	}
	return out
}

// exactlyOnce checks every written object is sealed once, nothing else.
func (f *accessLogsFixture) exactlyOnce(t *testing.T) {
	t.Helper()
	got := f.sealed(t)
	for src := range f.written {
		if got[src] != 1 {
			t.Errorf("%s sealed %d times, want once", src, got[src])
		}
	}
	for src := range got {
		if !f.written[src] {
			t.Errorf("%s sealed but never written", src)
		}
	}
}

func hasFinding(fs []custody.Finding, kind finding.Kind, object string) *custody.Finding {
	for i, f := range fs {
		if f.Kind == kind && strings.Contains(f.Object, object) {
			return &fs[i]
		}
	}
	return nil
}

func TestAccessLogsCollectSealAndIncrement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newAccessLogsFixture(t)
	objs := f.write(t, 0, 6)
	// One object with a line that is no record, and a record of a bucket
	// not monitored, both sealed as found.
	bad := objs[2]
	body := bad.Body() + "this is not an access log record\n" + altest.Entries("other-bucket", f.start, 1, 9)[0].Line() + "\n"
	if _, err := f.e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.target), Key: aws.String(bad.Key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}

	kept := &keepOutcome{Collector: f.col}
	res, err := RunOne(ctx, f.e.Chain, kept)
	if err != nil {
		t.Fatal(err)
	}
	if res.Artifacts != 6*4 {
		t.Fatalf("first run stored %d artifacts, want %d", res.Artifacts, 6*4)
	}
	if fd := hasFinding(res.Found, finding.BucketUnobserved, f.unobserved); fd == nil || fd.Severity != custody.SeverityWarning ||
		!strings.Contains(fd.Message, "cloudtrail-data-events-off") || fd.Remedy == "" {
		t.Fatalf("no bucket-unobserved warning for %s: %v", f.unobserved, res.Found)
	}
	for _, b := range []string{f.shared1, f.shared2, f.part} {
		if hasFinding(res.Found, finding.BucketUnobserved, b) != nil {
			t.Fatalf("%s has a logging target but was reported unobserved", b)
		}
	}
	fd := hasFinding(res.Found, finding.AccessLogMalformed, bad.Key)
	if fd == nil || !strings.Contains(fd.Message, "line 5:") || !strings.Contains(fd.Message, "1 of 6 line(s)") {
		t.Fatalf("no access-log-malformed finding naming %s line 5: %v", bad.Key, res.Found)
	}
	if len(res.Found) != 2 {
		t.Fatalf("findings %v, want bucket-unobserved and access-log-malformed alone", res.Found)
	}
	f.exactlyOnce(t)

	// What custody search and Athena read: every access log the collector
	// sealed lies under the Athena table's location template, and its
	// source key carries the delivery time search selects files by.
	re := search.TemplateRegexp(search.Athena{Bucket: f.e.store.Bucket, Prefix: f.e.store.Prefix}.AccessLogLocationTemplate())
	var files []search.File
	for _, m := range f.e.verify(t).Manifests {
		for _, sub := range m.Subjects() {
			if sub.Annotations.Kind != KindAccessLog {
				continue
			}
			if !re.MatchString("s3://" + f.e.store.Bucket + "/" + sub.Name) {
				t.Fatalf("access log %s lies outside the Athena template %s", sub.Name, re)
			}
			files = append(files, search.File{Key: sub.Name, Source: sub.Annotations.Source, Kind: KindAccessLog})
		}
	}
	for _, sf := range search.AccessLogWindow(files, time.Time{}, time.Time{}, 0) {
		if sf.Time.IsZero() {
			t.Fatalf("search reads no delivery time in %s", sf.Source)
		}
	}
	if len(files) != 18 {
		t.Fatalf("%d access logs sealed, want 18", len(files))
	}

	// The description counts; the sealed copy is the object as found.
	for _, want := range []string{"18 access log object(s) with 73 record(s), 1 malformed line(s); 6 log file(s)", f.shared1 + ": 24 record(s)", f.part + ": 24 record(s)"} {
		if !strings.Contains(kept.out.Description, want) {
			t.Fatalf("description %q lacks %q", kept.out.Description, want)
		}
	}
	r := f.e.verify(t)
	last := r.Manifests[len(r.Manifests)-1]
	for _, s := range last.Subjects() {
		if s.Annotations.Source == "s3://"+f.target+"/"+bad.Key {
			if got := string(f.e.read(t, s.Name)); got != body {
				t.Fatalf("sealed copy differs from the log object")
			}
			if !strings.Contains(s.Name, "/accesslogs/") || !strings.HasSuffix(s.Name, "/"+f.target+"/"+bad.Key) {
				t.Fatalf("stored at %s", s.Name)
			}
		}
	}

	// Nothing new: nothing copied. Then only what is new.
	if res, err = RunOne(ctx, f.e.Chain, f.col); err != nil {
		t.Fatal(err)
	}
	if res.Artifacts > 1 { // a run that stores nothing is sealed over a record of itself
		t.Fatalf("second run stored %d artifacts", res.Artifacts)
	}
	f.write(t, 6, 2)
	if res, err = RunOne(ctx, f.e.Chain, f.col); err != nil {
		t.Fatal(err)
	}
	if res.Artifacts != 2*4 {
		t.Fatalf("third run stored %d artifacts, want the %d new ones", res.Artifacts, 2*4)
	}
	f.exactlyOnce(t)
}

// keepOutcome keeps what the collector returned.
type keepOutcome struct {
	Collector
	out Outcome
}

func (k *keepOutcome) Collect(ctx context.Context, run Run) (Outcome, error) {
	out, err := k.Collector.Collect(ctx, run)
	k.out = out
	return out, err
}

// stopRun stores n artifacts, then fails every later Put once the
// copies in flight have landed: a run that stops part-way. (Cutting off a
// PUT in flight is the store's own concern: custody's seal and reseal
// look for what landed.)
type stopRun struct {
	Run
	n int64
	// mu guards the counts; done is signalled as each Put in flight ends.
	mu             sync.Mutex
	done           *sync.Cond
	puts, inFlight int64
}

func newStopRun(run Run, n int64) *stopRun {
	r := &stopRun{Run: run, n: n}
	r.done = sync.NewCond(&r.mu)
	return r
}

var errCrashed = errors.New("crashed")

// Put lets the first n Puts through; a later one waits for those in
// flight to end (what was stored is all there), then fails.
func (r *stopRun) Put(ctx context.Context, key string, body io.Reader, o custody.PutOptions) (custody.Artifact, error) {
	r.mu.Lock()
	r.puts++
	if r.puts > r.n {
		for r.inFlight > 0 {
			r.done.Wait()
		}
		r.mu.Unlock()
		return custody.Artifact{}, errCrashed
	}
	r.inFlight++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.done.Broadcast()
		r.mu.Unlock()
	}()
	return r.Run.Put(ctx, key, body, o)
}

// stopAfter runs the collector with a stopRun.
type stopAfter struct {
	*AccessLogs
	n int64
}

func (c *stopAfter) Collect(ctx context.Context, run Run) (Outcome, error) {
	return c.AccessLogs.Collect(ctx, newStopRun(run, c.n))
}

func TestAccessLogsKilledMidRunSealsEachObjectOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newAccessLogsFixture(t)
	f.write(t, 0, 10)
	// Stopped after 7 copies: what was stored is sealed, the cursor stays.
	if _, err := RunOne(ctx, f.e.Chain, &stopAfter{AccessLogs: f.col, n: 7}); !errors.Is(err, errCrashed) {
		t.Fatalf("stopped run: %v", err)
	}
	// A crash before sealing: a run that stored objects and never sealed,
	// resealed at the next start.
	run, err := f.e.Chain.StartRun(ctx, "accesslogs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.col.Collect(ctx, newStopRun(run, 5)); !errors.Is(err, errCrashed) {
		t.Fatalf("crashed run: %v", err)
	}
	if n, err := f.e.Chain.Reseal(ctx); err != nil || n == 0 {
		t.Fatalf("reseal: %d, %v", n, err)
	}
	before := 0
	for _, n := range f.sealed(t) {
		before += n
	}
	if before < 7+5 {
		t.Fatalf("the killed runs sealed %d objects, want at least 12", before)
	}
	res, err := RunOne(ctx, f.e.Chain, f.col)
	if err != nil {
		t.Fatal(err)
	}
	if res.Artifacts != 40-before {
		t.Fatalf("the run after the kills stored %d artifacts, want the %d left", res.Artifacts, 40-before)
	}
	f.exactlyOnce(t)
	// And the next run finds nothing new.
	if res, err = RunOne(ctx, f.e.Chain, f.col); err != nil || res.Artifacts > 1 {
		t.Fatalf("a run with nothing new stored %d artifacts, %v", res.Artifacts, err)
	}
	f.exactlyOnce(t)
}

func TestAccessLogDeliveryStartAfter(t *testing.T) {
	simple := delivery{bucket: "t", prefix: "logs/", format: config.AccessLogSimple}
	event := delivery{bucket: "t", prefix: "p/1/us-east-1/b/", format: config.AccessLogPartitioned, event: true}
	deliv := delivery{bucket: "t", prefix: "p/1/us-east-1/b/", format: config.AccessLogPartitioned}
	files := delivery{bucket: "f", prefix: "AWSLogs/"}
	for _, c := range []struct {
		d            delivery
		cursor, want string
	}{
		{simple, "", ""},
		{simple, "logs/2026-11-29-10-15-00-ABC", "logs/2026-11-29-09-15-00"},
		{event, "p/1/us-east-1/b/2026/11/29/2026-11-29-00-00-00-ABC", "p/1/us-east-1/b/2026/11/28/"},
		{deliv, "p/1/us-east-1/b/2026/11/29/2026-11-29-00-30-00-ABC", "p/1/us-east-1/b/2026/11/28/2026-11-28-23-30-00"},
		{files, "AWSLogs/x/2026/11/29/a.gz", "AWSLogs/x/2026/11/29/a.gz"},
		{simple, "logs/garbage", ""},
	} {
		if got := c.d.startAfter(c.cursor); got != c.want {
			t.Errorf("%s after %q: %q, want %q", c.d.scope(), c.cursor, got, c.want)
		}
	}
	for key, want := range map[string]bool{"logs/2026-11-29-10-15-00-ABC": true, "logs/sub/2026-11-29-10-15-00-ABC": false, "logs/readme.txt": false} {
		if simple.belongs(key) != want {
			t.Errorf("simple delivery: belongs(%q) = %v", key, !want)
		}
	}
	for key, want := range map[string]bool{"p/1/us-east-1/b/2026/11/29/2026-11-29-00-00-00-ABC": true, "p/1/us-east-1/b/other": false} {
		if event.belongs(key) != want {
			t.Errorf("partitioned delivery: belongs(%q) = %v", key, !want)
		}
	}
}

// A backlog larger than a run copies goes on in the next runs, each
// object once.
func TestAccessLogsBacklogAcrossRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newAccessLogsFixture(t)
	f.write(t, 0, 6) // 24 objects
	f.col.MaxObjects = 10
	var stored []int
	for range 4 {
		res, err := RunOne(ctx, f.e.Chain, f.col)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, res.Artifacts)
	}
	if fmt.Sprint(stored) != "[10 10 4 1]" { // the last run stores nothing but a record of itself
		t.Fatalf("runs stored %v artifacts, want 10, 10, 4 and none", stored)
	}
	f.exactlyOnce(t)
}
