package recovery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

type scene struct {
	t      *testing.T
	s3     *s3.Client
	bucket string
}

func newScene(t *testing.T) *scene {
	c := testaws.Require(t).S3(t)
	return &scene{t: t, s3: c, bucket: testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})}
}

func (s *scene) put(key, body string) string {
	s.t.Helper()
	out, err := s.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), Body: strings.NewReader(body),
		Metadata: map[string]string{"origin": "v-" + body}, ContentType: aws.String("text/plain"), Tagging: aws.String("class=" + fmt.Sprint(len(body)))})
	if err != nil {
		s.t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

func (s *scene) del(key string) {
	s.t.Helper()
	if _, err := s.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}); err != nil {
		s.t.Fatal(err)
	}
}

// get returns the current body of key, or "<gone>".
func (s *scene) get(key string) string {
	s.t.Helper()
	out, err := s.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return "<gone>"
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b)
}

func newApplier(t *testing.T, c *s3.Client) *Applier {
	l, err := ledger.Open(context.Background(), filepath.Join(t.TempDir(), "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &Applier{API: c, Ledger: l, Concurrency: 8}
}

func TestRecoverToTheTarget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newScene(t)
	odd := "odd name + 100%/ünïcode/"
	s.put("overwritten.txt", "original")
	s.put("deleted.txt", "precious")
	s.put(odd+"file", "odd")
	s.put("empty", "")
	s.put("unchanged.txt", "same")
	s.put("gone-before.txt", "old")
	s.del("gone-before.txt")
	target := testaws.Cut()

	s.put("overwritten.txt", "ENCRYPTED BY RANSOMWARE")
	s.del("deleted.txt")
	s.del(odd + "file")
	s.del(odd + "file")
	s.put("empty", "not empty any more")
	s.put("new.txt", "planted")

	plan, err := MakePlan(ctx, s.s3, s.bucket, target, PlanOptions{RemoveNew: true})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]ActionKind{}
	for _, a := range plan.Actions {
		kinds[a.Key] = a.Kind
	}
	want := map[string]ActionKind{"overwritten.txt": CopyBack, "deleted.txt": RemoveMarkers, odd + "file": RemoveMarkers, "empty": CopyBack, "new.txt": HideNew}
	for k, kind := range want {
		if kinds[k] != kind {
			t.Errorf("%s: planned %q, want %q", k, kinds[k], kind)
		}
	}
	if len(plan.Actions) != len(want) || plan.Unchanged != 2 {
		t.Fatalf("plan = %+v", plan)
	}

	sum, err := newApplier(t, s.s3).Start(ctx, "job-1", plan)
	if err != nil {
		t.Fatal(err)
	}
	markers := 0
	for _, a := range plan.Actions {
		markers += len(a.Markers)
	}
	// (MinIO does not stack a second marker on a deleted key; S3 does.)
	if len(sum.Failed) != 0 || len(sum.Mismatched) != 0 || sum.Copied != 2 || sum.MarkersRemoved != markers || markers < 2 || sum.Hidden != 1 {
		t.Fatalf("summary = %+v", sum)
	}
	for k, body := range map[string]string{"overwritten.txt": "original", "deleted.txt": "precious", odd + "file": "odd", "empty": "",
		"unchanged.txt": "same", "gone-before.txt": "<gone>", "new.txt": "<gone>"} {
		if got := s.get(k); got != body {
			t.Errorf("%s = %q, want %q", k, got, body)
		}
	}
	// Metadata, content type and tags come back with the copy.
	h, err := s.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("overwritten.txt")})
	if err != nil || h.Metadata["origin"] != "v-original" || aws.ToString(h.ContentType) != "text/plain" {
		t.Fatalf("restored object's metadata: %+v %v", h.Metadata, err)
	}
	tags, err := s.s3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(s.bucket), Key: aws.String("overwritten.txt")})
	if err != nil || len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Value) != "8" {
		t.Fatalf("restored object's tags: %+v %v", tags, err)
	}
	// Planning again finds nothing left to do (the hidden key stays hidden).
	again, err := MakePlan(ctx, s.s3, s.bucket, target, PlanOptions{RemoveNew: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range again.Actions {
		if a.Kind != HideNew {
			t.Errorf("after recovery, still planned: %+v", a)
		}
	}
}

func TestMarkerFloodAndPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newScene(t)
	const n = 1100 // more than one listing page of delete markers
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := 0; i < n; i++ {
		g.Go(func() error {
			_, err := s.s3.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(fmt.Sprintf("data/%04d", i)), Body: strings.NewReader("x")})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	s.put("other/flooded", "outside the prefix")
	target := testaws.Cut()
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := 0; i < n; i++ {
		g.Go(func() error {
			_, err := s.s3.DeleteObject(gctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(fmt.Sprintf("data/%04d", i))})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	s.del("other/flooded")
	plan, err := MakePlan(ctx, s.s3, s.bucket, target, PlanOptions{Prefix: "data/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Actions) != n {
		t.Fatalf("plan has %d actions, want %d", len(plan.Actions), n)
	}
	sum, err := newApplier(t, s.s3).Start(ctx, "flood", plan)
	if err != nil || sum.MarkersRemoved != n || len(sum.Mismatched) != 0 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if s.get("data/0999") != "x" || s.get("other/flooded") != "<gone>" {
		t.Fatal("the prefix filter was not honoured")
	}
}

// TestDecide covers the per-key rules without a server, including what
// MinIO cannot produce: many delete markers stacked on one key, and
// versions in the same second as the target.
func TestDecide(t *testing.T) {
	target := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	v := func(id string, at time.Time) entry {
		return entry{versionID: id, at: at, etag: `"` + id + `"`, size: 1}
	}
	m := func(id string, at time.Time) entry { return entry{versionID: id, at: at, marker: true} }
	after := target.Add(time.Minute)
	var flood []entry
	for i := 0; i < 1500; i++ {
		flood = append(flood, m(fmt.Sprintf("m%d", i), after.Add(-time.Duration(i)*time.Millisecond)))
	}
	flood = append(flood, v("orig", target.Add(-time.Hour)))
	cases := []struct {
		name    string
		hist    []entry
		kind    ActionKind
		markers int
		version string
	}{
		{"stacked markers", flood, RemoveMarkers, 1500, "orig"},
		{"overwritten", []entry{v("new", after), v("old", target)}, CopyBack, 0, "old"},
		{"same second as the target counts as before it", []entry{v("b", target), v("a", target.Add(-time.Second))}, "", 0, ""},
		{"marker then overwrite", []entry{v("x", after.Add(time.Second)), m("mk", after), v("o", target.Add(-time.Minute))}, CopyBack, 0, "o"},
		{"deleted before the target stays deleted", []entry{m("mk", target.Add(-time.Minute)), v("o", target.Add(-time.Hour))}, "", 0, ""},
		{"created after the target", []entry{v("n", after)}, ReportNew, 0, "n"},
		{"created and deleted after the target", []entry{m("mk", after.Add(time.Second)), v("n", after)}, "", 0, ""},
		{"null version id", []entry{m("mk", after), v("null", target.Add(-time.Hour))}, RemoveMarkers, 1, "null"},
	}
	for _, tc := range cases {
		a, ok := decide(keyHistories{key: "k", live: tc.hist}, target, PlanOptions{RemoveNew: false})
		if (tc.kind == "") == ok || a.Kind != tc.kind || len(a.Markers) != tc.markers || (ok && a.VersionID != tc.version) {
			t.Errorf("%s: decide = %+v, %v", tc.name, a, ok)
		}
	}
	if a, _ := decide(keyHistories{key: "k", live: []entry{v("n", after)}}, target, PlanOptions{RemoveNew: true}); a.Kind != HideNew {
		t.Errorf("--remove-new: %s", a.Kind)
	}
}

// TestResumeDoesNothingTwice journals a job, applies part of it as a run
// killed mid-way would have, and resumes.
func TestResumeDoesNothingTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newScene(t)
	for i := 0; i < 5; i++ {
		s.put(fmt.Sprintf("k%d", i), fmt.Sprintf("good-%d", i))
	}
	target := testaws.Cut()
	for i := 0; i < 5; i++ {
		s.put(fmt.Sprintf("k%d", i), "bad")
	}
	plan, err := MakePlan(ctx, s.s3, s.bucket, target, PlanOptions{RemoveNew: false})
	if err != nil || len(plan.Actions) != 5 {
		t.Fatalf("plan: %v %v", plan, err)
	}
	ap := newApplier(t, s.s3)
	// Journal the job, then act as the killed run did: actions 0 and 1
	// done, action 2 copied but killed before it was marked done.
	full := *plan
	plan.Actions = plan.Actions[:0]
	if _, err := ap.Start(ctx, "partial", &Plan{Bucket: plan.Bucket, Target: plan.Target}); err != nil {
		t.Fatal(err)
	}
	acts := make([]ledger.RecoveryAction, len(full.Actions))
	for i, a := range full.Actions {
		b, _ := json.Marshal(a)
		acts[i] = ledger.RecoveryAction{Seq: i, Kind: a.Kind, Key: a.Key, Detail: string(b)}
	}
	if err := ap.Ledger.CreateRecoveryJob(ctx, "killed", full.Bucket, "", full.Target, "{}", acts); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := ap.do(ctx, full.Bucket, full.Actions[i], false); err != nil {
			t.Fatal(err)
		}
		state := ledger.ActionDone
		if i == 2 {
			state = "running"
		}
		if err := ap.Ledger.SetRecoveryAction(ctx, "killed", i, state, ""); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := ap.Resume(ctx, "killed")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 2 || sum.Copied != 3 || len(sum.Mismatched) != 0 || len(sum.Failed) != 0 {
		t.Fatalf("resume summary = %+v", sum)
	}
	// Each key got exactly one copy: original, bad, restored.
	for i := 0; i < 5; i++ {
		out, err := s.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(fmt.Sprintf("k%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Versions) != 3 {
			t.Errorf("k%d has %d versions, want 3 (one copy)", i, len(out.Versions))
		}
		if got := s.get(fmt.Sprintf("k%d", i)); got != fmt.Sprintf("good-%d", i) {
			t.Errorf("k%d = %q", i, got)
		}
	}
}

func TestCopyInPartsKeepsMetadataAndTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newScene(t)
	big := strings.Repeat("0123456789abcdef", (11<<20)/16+7)
	if _, err := s.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("dump.bin"), Body: strings.NewReader(big),
		Metadata: map[string]string{"case": "ir-7"}, ContentType: aws.String("application/octet-stream"), ContentDisposition: aws.String("attachment"),
		Expires: aws.Time(time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)), Tagging: aws.String("sensitivity=high")}); err != nil {
		t.Fatal(err)
	}
	target := testaws.Cut()
	s.put("dump.bin", "wiped")
	plan, err := MakePlan(ctx, s.s3, s.bucket, target, PlanOptions{RemoveNew: false})
	if err != nil || len(plan.Actions) != 1 || plan.Actions[0].Kind != CopyBack {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	ap := newApplier(t, s.s3)
	ap.CopyLimit, ap.PartSize = 5<<20, 5<<20 // the over-5-GiB path, on a small object
	sum, err := ap.Start(ctx, "big", plan)
	if err != nil || sum.Copied != 1 || len(sum.Mismatched) != 0 || len(sum.Failed) != 0 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if got := s.get("dump.bin"); got != big {
		t.Fatalf("restored %d bytes, want %d", len(got), len(big))
	}
	h, err := s.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("dump.bin")})
	if err != nil || h.Metadata["case"] != "ir-7" || aws.ToString(h.ContentDisposition) != "attachment" || aws.ToString(h.ContentType) != "application/octet-stream" {
		t.Fatalf("metadata after a multipart copy: %+v %v", h, err)
	}
	if got := aws.ToString(h.ExpiresString); got != "Tue, 04 Mar 2031 05:06:07 GMT" {
		t.Fatalf("Expires after a multipart copy = %q, want the source's", got)
	}
	tags, err := s.s3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(s.bucket), Key: aws.String("dump.bin")})
	if err != nil || len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Key) != "sensitivity" {
		t.Fatalf("tags after a multipart copy: %+v %v", tags, err)
	}
}

func TestObjectLockIsSetAgainOnTheCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := testaws.Require(t).S3(t)
	s := &scene{t: t, s3: c, bucket: testaws.CreateBucket(t, c, testaws.BucketOptions{ObjectLock: true})}
	until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("ledger.csv"), Body: strings.NewReader("books"),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(until), ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn}); err != nil {
		t.Fatal(err)
	}
	target := testaws.Cut()
	s.put("ledger.csv", "cooked books")
	plan, err := MakePlan(ctx, c, s.bucket, target, PlanOptions{RemoveNew: false})
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := newApplier(t, c).Start(ctx, "lock", plan); err != nil || sum.Copied != 1 || len(sum.Mismatched) != 0 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("ledger.csv")})
	if err != nil || h.ObjectLockMode != types.ObjectLockModeGovernance || h.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOn ||
		!aws.ToTime(h.ObjectLockRetainUntilDate).Equal(until) {
		t.Fatalf("lock on the restored version: mode %q hold %q until %v (%v)", h.ObjectLockMode, h.ObjectLockLegalHoldStatus, h.ObjectLockRetainUntilDate, err)
	}
}

func TestBatchManifest(t *testing.T) {
	p := &Plan{Bucket: "data", Actions: []Action{
		{Kind: CopyBack, Key: "a b+c/d%.txt", VersionID: "v1"},
		{Kind: RemoveMarkers, Key: "x", Markers: []string{"m"}},
		{Kind: CopyBack, Key: "plain", VersionID: "null"},
	}}
	var b strings.Builder
	n, err := WriteBatchManifest(&b, p)
	if err != nil || n != 2 {
		t.Fatalf("%d rows, %v", n, err)
	}
	want := "data,a%20b%2Bc%2Fd%25.txt,v1\ndata,plain,null\n"
	if b.String() != want {
		t.Fatalf("manifest:\n%s\nwant:\n%s", b.String(), want)
	}
	if rest := p.WithoutCopies(); len(rest.Actions) != 1 || rest.Actions[0].Kind != RemoveMarkers || len(p.Actions) != 3 {
		t.Fatalf("WithoutCopies = %+v", rest.Actions)
	}
}

// TestReplicaRestoresPurgedVersions uses the two MinIO servers as a
// Cross-Region-Replication pair: versions the attacker deleted for good at
// the source come back from the replica.
func TestReplicaRestoresPurgedVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testaws.Require(t)
	s := newScene(t)
	rc := e.ReplicaS3(t)
	replica := testaws.CreateBucket(t, rc, testaws.BucketOptions{Versioning: true})
	both := func(key, body string) string {
		if _, err := rc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(replica), Key: aws.String(key), Body: strings.NewReader(body),
			Metadata: map[string]string{"origin": "v-" + body}, ContentType: aws.String("text/plain"), Tagging: aws.String("class=" + fmt.Sprint(len(body)))}); err != nil {
			t.Fatal(err)
		}
		return s.put(key, body)
	}
	invoice := both("invoice.pdf", "invoice 2026-11")
	contract := both("contract.txt", "signed contract")
	both("fine.txt", "untouched")
	target := testaws.Cut()
	// The attacker purges the versions (DeleteObject with version ids) and
	// writes a ransom note over one key.
	for k, v := range map[string]string{"invoice.pdf": invoice, "contract.txt": contract} {
		if _, err := s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k), VersionId: aws.String(v)}); err != nil {
			t.Fatal(err)
		}
	}
	s.put("invoice.pdf", "PAY US")

	plan, err := MakePlan(ctx, s.s3, s.bucket, target, PlanOptions{Replica: rc, ReplicaBucket: replica})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]ActionKind{}
	for _, a := range plan.Actions {
		kinds[a.Key] = a.Kind
	}
	if kinds["invoice.pdf"] != ReplicaCopy || kinds["contract.txt"] != ReplicaCopy || len(plan.Actions) != 2 {
		t.Fatalf("plan = %+v", plan.Actions)
	}
	ap := newApplier(t, s.s3)
	ap.Replica, ap.ReplicaBucket = rc, replica
	sum, err := ap.Start(ctx, "replica", plan)
	if err != nil || sum.FromReplica != 2 || len(sum.Failed) != 0 || len(sum.Mismatched) != 0 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	for k, want := range map[string]string{"invoice.pdf": "invoice 2026-11", "contract.txt": "signed contract", "fine.txt": "untouched"} {
		if got := s.get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	h, err := s.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("contract.txt")})
	if err != nil || h.Metadata["origin"] != "v-signed contract" {
		t.Fatalf("metadata from the replica: %+v %v", h.Metadata, err)
	}
	// Without the replica, the purged contract cannot be known; the new
	// invoice looks like a new key.
	plain, err := MakePlan(ctx, s.s3, s.bucket, target, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range plain.Actions {
		if a.Kind == ReplicaCopy {
			t.Fatalf("replica action without a replica: %+v", a)
		}
	}
	// Planning again with the replica finds the keys restored.
	again, err := MakePlan(ctx, s.s3, s.bucket, target, PlanOptions{Replica: rc, ReplicaBucket: replica})
	if err != nil || len(again.Actions) != 0 {
		t.Fatalf("after restoring: %+v %v", again.Actions, err)
	}
}

func TestDecideWithEvidence(t *testing.T) {
	target := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return target.Add(time.Duration(m) * time.Minute) }
	o := PlanOptions{Evidence: &Evidence{At: at(-30), Name: "list"}, ReplicaBucket: "r"}
	x := entry{versionID: "x", latest: true, at: at(-60), etag: `"e"`, size: 5}
	cases := []struct {
		name                    string
		live, replica, preserve []entry
		kind                    ActionKind
	}{
		{"agrees, unchanged", []entry{{versionID: "x", latest: true, at: at(-60), etag: `"e"`, size: 5}}, nil, []entry{x}, ""},
		{"purged, only in the list", nil, nil, []entry{x}, Unrecoverable},
		{"purged, the replica has the same bytes", []entry{{versionID: "n", latest: true, at: at(10), etag: `"bad"`, size: 3}},
			[]entry{{versionID: "rx", latest: true, at: at(-59), etag: `"e"`, size: 5}}, []entry{x}, ReplicaCopy},
		{"the replica's bytes differ", nil, []entry{{versionID: "rx", latest: true, at: at(-59), etag: `"other"`, size: 5}}, []entry{x}, Unrecoverable},
		{"rewritten between the list and T: the live listing decides", []entry{{versionID: "y", latest: true, at: at(-10), etag: `"y"`, size: 1}}, nil, []entry{x}, ""},
		{"deleted when the list was taken", nil, nil, []entry{{versionID: "m", latest: true, marker: true, at: at(-40)}, {versionID: "x", at: at(-60)}}, ""},
	}
	for _, tc := range cases {
		a, ok := decide(keyHistories{key: "k", live: tc.live, replica: tc.replica, preserved: tc.preserve}, target, o)
		if (tc.kind == "") == ok || a.Kind != tc.kind {
			t.Errorf("%s: %+v, %v", tc.name, a, ok)
		}
	}
}

func TestFairOrder(t *testing.T) {
	var acts []ledger.RecoveryAction
	for i := 0; i < 4; i++ {
		acts = append(acts, ledger.RecoveryAction{Seq: i, Key: fmt.Sprintf("hot/%d", i)})
	}
	acts = append(acts, ledger.RecoveryAction{Seq: 4, Key: "cold/1"}, ledger.RecoveryAction{Seq: 5, Key: "root.txt"})
	var keys []string
	for _, a := range fairOrder(acts) {
		keys = append(keys, a.Key)
	}
	if got := strings.Join(keys, " "); got != "hot/0 cold/1 root.txt hot/1 hot/2 hot/3" {
		t.Fatalf("order = %s", got)
	}
}

// TestArchivedVersionIsRestoredFirst runs on moto's S3, which (with the
// stand-ins' fix for versioned RestoreObject) models Glacier: the version
// at T must be restored before it can be copied, so the action stays
// pending until a resume finds the restore done.
func TestArchivedVersionIsRestoredFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testaws.Require(t)
	c := s3.NewFromConfig(e.Config(t).AWS, func(o *s3.Options) { o.BaseEndpoint = aws.String(e.Endpoint); o.UsePathStyle = true })
	bucket := testaws.BucketName(t)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("archive/2019.tar"), Body: strings.NewReader("old records"),
		StorageClass: types.StorageClassGlacier}); err != nil {
		t.Fatal(err)
	}
	target := testaws.Cut()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("archive/2019.tar"), Body: strings.NewReader("wiped")}); err != nil {
		t.Fatal(err)
	}
	plan, err := MakePlan(ctx, c, bucket, target, PlanOptions{})
	if err != nil || len(plan.Actions) != 1 || plan.Actions[0].Kind != CopyBack {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	ap := newApplier(t, c)
	sum, err := ap.Start(ctx, "glacier", plan)
	if err != nil || len(sum.Pending) != 1 || sum.Copied != 0 || len(sum.Failed) != 0 || len(sum.Mismatched) != 0 {
		t.Fatalf("first run: %+v, %v", sum, err)
	}
	var sum2 *Summary
	for i := 0; i < 5; i++ { // S3 takes hours; moto moves the restore along as it is asked
		if sum2, err = ap.Resume(ctx, "glacier"); err != nil {
			t.Fatal(err)
		}
		if len(sum2.Pending) == 0 {
			break
		}
	}
	if sum2.Copied != 1 || len(sum2.Failed) != 0 || len(sum2.Mismatched) != 0 || len(sum2.Pending) != 0 {
		t.Fatalf("after the restore: %+v", sum2)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("archive/2019.tar")})
	if err == nil {
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != "old records" {
			t.Fatalf("restored %q", b)
		}
	} else if !strings.Contains(err.Error(), "InvalidObjectState") {
		// The copy keeps the version's storage class: reading it needs a restore again.
		t.Fatal(err)
	}
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("archive/2019.tar")})
	if err != nil || h.StorageClass != types.StorageClassGlacier || aws.ToInt64(h.ContentLength) != int64(len("old records")) {
		t.Fatalf("restored version: class %q size %d, %v", h.StorageClass, aws.ToInt64(h.ContentLength), err)
	}
}
