package custody

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

func TestSealAndVerifyClean(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, config.ModeCompliance)
	m1, arts := e.collect(e.chain, 3)
	m2, _ := e.collect(e.chain, 2)
	if m1.Seq != 1 || m2.Seq != 2 || m2.PrevSHA256 != m1.EnvelopeSHA256 {
		t.Fatalf("chain: %+v then %+v", m1, m2)
	}
	head, err := e.ledger.Head(context.Background(), "agent-1")
	if err != nil || head.Seq != 2 {
		t.Fatalf("ledger head = %+v, %v", head, err)
	}
	// Every artifact has COMPLIANCE retention, a version and a checksum.
	out, err := e.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(arts[0].Key), VersionId: aws.String(arts[0].VersionID), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if out.ObjectLockMode != types.ObjectLockModeCompliance || aws.ToString(out.ChecksumSHA256) == "" {
		t.Fatalf("artifact lock %q checksum %q", out.ObjectLockMode, aws.ToString(out.ChecksumSHA256))
	}

	r := e.verify(VerifyOptions{})
	if fs := testaws.Failures(r.Findings); len(fs) != 0 || !r.OK {
		t.Fatalf("clean store has failures: %v", fs)
	}
	if r.Checked.Manifests != 2 || r.Checked.Subjects != 5 || r.Checked.Streams != 1 || len(r.Keys) != 1 {
		t.Fatalf("checked = %+v, keys %d", r.Checked, len(r.Keys))
	}
}

func TestMultipartArtifactVerifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeCompliance)
	e.store.PartSize = 5 << 20 // S3's smallest part
	e.store.PartConcurrency = 2
	body := make([]byte, 11<<20+123)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	run, err := e.chain.StartRun(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	a, err := run.Put(ctx, ArtifactKey("custody", "123456789012", "us-east-1", "dump", e.clock.now(), run.ID, "memory.raw"), bytes.NewReader(body), PutOptions{Kind: "dump"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if a.SHA256 != hex.EncodeToString(sum[:]) || a.Size != int64(len(body)) || a.PartSize != 5<<20 {
		t.Fatalf("artifact = %+v", a)
	}
	if _, err := run.Seal(ctx, SealRequest{Event: EventCollect}, nil); err != nil {
		t.Fatal(err)
	}
	r := e.verify(VerifyOptions{})
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("multipart artifact: %v", fs)
	}
	for _, f := range r.Findings {
		if f.Kind == "artifact-no-checksum" {
			t.Fatalf("S3 kept no checksum for the multipart upload: %v", f)
		}
	}
	if r.Checked.Bytes != int64(len(body)) {
		t.Fatalf("bytes checked = %d", r.Checked.Bytes)
	}
}

func TestCompositeChecksum(t *testing.T) {
	c := NewCompositeSHA256(4)
	if _, err := io.Copy(c, strings.NewReader("abcdefghij")); err != nil { // parts abcd efgh ij
		t.Fatal(err)
	}
	h := sha256.New()
	for _, p := range []string{"abcd", "efgh", "ij"} {
		s := sha256.Sum256([]byte(p))
		h.Write(s[:])
	}
	want := "-3"
	if got := c.Sum(); !strings.HasSuffix(got, want) || got[:len(got)-2] != b64(h.Sum(nil)) {
		t.Fatalf("composite = %s", got)
	}
}

func TestAdoptManifestMissingFromLedger(t *testing.T) {
	// A crash after the manifest was written but before the ledger
	// recorded it, or a ledger lost: the next seal adopts the manifest
	// from the bucket instead of forking the chain.
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeCompliance)
	e.collect(e.chain, 1)
	fresh, err := ledger.Open(ctx, t.TempDir()+"/fresh.db", ledger.WithClock(e.clock.now))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	other := e.newChain(fresh, "agent-1")
	m, _ := e.collect(other, 1)
	if m.Seq != 2 {
		t.Fatalf("second chain wrote seq %d, want 2 after adopting 1", m.Seq)
	}
	if fs := testaws.Failures(e.verify(VerifyOptions{}).Findings); len(fs) != 0 {
		t.Fatalf("after adoption: %v", fs)
	}
	// A manifest signed by another key is never adopted.
	e2 := *e
	e2.signer = newKey(t)
	stranger := e2.newChain(e.ledger, "agent-1")
	if _, err := stranger.Seal(ctx, SealRequest{Event: EventCollect, Artifacts: []Artifact{{Key: "k", VersionID: "v", SHA256: "00"}}}); err == nil || !strings.Contains(err.Error(), "not signed by this agent's key") {
		t.Fatalf("adopting a stranger's manifest: %v", err)
	}
}

func TestExclusiveManifestWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeCompliance)
	e.collect(e.chain, 1)
	_, err := e.store.putLocked(ctx, ManifestKey("custody", "agent-1", 1), []byte("{}"), "application/json", true)
	if err == nil || !strings.Contains(err.Error(), "manifest chain conflict") {
		t.Fatalf("overwriting manifest 1: %v", err)
	}
}

func TestResealAfterCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeCompliance)
	e.collect(e.chain, 1)

	// A run stores two artifacts and dies before sealing; a third upload
	// reached the bucket but not the ledger (only its intent is there),
	// and a fourth never started.
	run, err := e.chain.StartRun(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.json", "b.json"} {
		if _, err := run.Put(ctx, ArtifactKey("custody", "1", "r", "k", e.clock.now(), run.ID, name), strings.NewReader(name), PutOptions{Kind: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	lost := ArtifactKey("custody", "1", "r", "k", e.clock.now(), run.ID, "c.json")
	if err := e.ledger.AddIntent(ctx, Artifact{Bucket: e.cfg.Bucket, Key: lost, RunID: run.ID, Kind: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Put(ctx, nil, lost, strings.NewReader("c"), PutOptions{RunID: run.ID}); err != nil {
		t.Fatal(err)
	}
	never := ArtifactKey("custody", "1", "r", "k", e.clock.now(), run.ID, "d.json")
	if err := e.ledger.AddIntent(ctx, Artifact{Bucket: e.cfg.Bucket, Key: never, RunID: run.ID, Kind: "k"}); err != nil {
		t.Fatal(err)
	}

	r := e.verify(VerifyOptions{})
	testaws.RequireFinding(t, r.Findings, "unsealed-object", "a.json")
	testaws.RequireFinding(t, r.Findings, "unsealed-object", "c.json")

	restarted := e.newChain(e.ledger, "agent-1")
	n, err := restarted.Reseal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("resealed %d artifacts, want 3", n)
	}
	r = e.verify(VerifyOptions{})
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("after reseal: %v", fs)
	}
	last := r.Manifests[len(r.Manifests)-1]
	if last.Event != EventReseal || last.SubjectCount != 3 || last.Collector != "reseal" {
		t.Fatalf("last manifest = %+v", last)
	}
	runs, _ := e.ledger.Runs(ctx, ledger.RunAbandoned)
	if len(runs) != 1 || runs[0].ID != run.ID {
		t.Fatalf("abandoned runs = %+v", runs)
	}
	// Nothing left to reseal: a second call seals nothing new.
	if n, err := restarted.Reseal(ctx); err != nil || n != 0 {
		t.Fatalf("second reseal = %d, %v", n, err)
	}
	// A run that stored nothing is sealed over a record of itself.
	empty, err := restarted.StartRun(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := empty.Seal(ctx, SealRequest{Event: EventCollect}, errors.New("source unreachable"))
	if err != nil {
		t.Fatal(err)
	}
	r = e.verify(VerifyOptions{})
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("after an empty failed run: %v", fs)
	}
	last = r.Manifests[len(r.Manifests)-1]
	if last.Sequence != m.Seq || last.SubjectCount != 1 || !strings.Contains(last.Subjects()[0].Name, "run-record.json") {
		t.Fatalf("empty run manifest = %+v", last)
	}
}

func TestSeparateStreamsVerifyIndependently(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, config.ModeCompliance)
	other := e.newChain(e.ledger, "agent-2")
	e.collect(e.chain, 1)
	e.collect(other, 1)
	e.collect(e.chain, 1)
	r := e.verify(VerifyOptions{})
	if fs := testaws.Failures(r.Findings); len(fs) != 0 || r.Checked.Streams != 2 || r.Checked.Manifests != 3 {
		t.Fatalf("two streams: %+v %v", r.Checked, fs)
	}
}

func TestOpenStoreRefusesUnlockedBucket(t *testing.T) {
	t.Parallel()
	c := testaws.Require(t).S3(t)
	plain := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	_, err := OpenStore(context.Background(), c, config.Store{Bucket: plain, Retention: config.Retention{Mode: config.ModeCompliance, Days: 1}}, nil)
	if err == nil || !strings.Contains(err.Error(), "refusing to write evidence") {
		t.Fatalf("OpenStore on a bucket without Object Lock: %v", err)
	}
}

// countingCheck is an evidence check that reads every subject of a kind.
type countingCheck struct{ seen int }

func (c *countingCheck) Name() string { return "counting" }

func (c *countingCheck) Check(ctx context.Context, ev EvidenceReader, ms []ManifestRecord) Findings {
	var fs Findings
	for _, m := range ms {
		for _, s := range m.Subjects() {
			rc, err := ev.Open(ctx, s.Name, s.Annotations.VersionID)
			if err != nil {
				fs.Fail("counting-unreadable", s.Name, "", "%v", err)
				continue
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if !strings.Contains(string(b), `"item":`) {
				fs.Fail("counting-bad-content", s.Name, "", "not an item")
			}
			c.seen++
		}
	}
	return fs
}

func TestRegisteredEvidenceChecksRun(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, config.ModeCompliance)
	e.collect(e.chain, 3)
	check := &countingCheck{}
	v := NewVerifier(e.s3, e.cfg, e.trust, e.ledger, e.clock.now)
	v.Checks = []EvidenceCheck{check}
	r, err := v.Verify(context.Background(), VerifyOptions{})
	if err != nil || !r.OK || check.seen != 3 {
		t.Fatalf("check saw %d subjects, report ok %v, %v", check.seen, r != nil && r.OK, err)
	}
}

// TestPutAdoptsAWriteThatLanded: a PUT retried after its answer was lost
// finds its own bytes there and adopts that version, so no second,
// unsealed version is made; other bytes under the key are never replaced.
func TestPutAdoptsAWriteThatLanded(t *testing.T) {
	e := newTestEnv(t, config.ModeGovernance)
	ctx := context.Background()
	first, err := e.store.Put(ctx, nil, "custody/x/landed.txt", strings.NewReader("the same bytes"), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.store.Put(ctx, nil, "custody/x/landed.txt", strings.NewReader("the same bytes"), PutOptions{})
	if err != nil {
		t.Fatalf("second PUT of the same bytes: %v", err)
	}
	if again.VersionID != first.VersionID || again.SHA256 != first.SHA256 {
		t.Fatalf("adopted %s (%s), want the version that landed %s (%s)", again.VersionID, again.SHA256, first.VersionID, first.SHA256)
	}
	if _, err := e.store.Put(ctx, nil, "custody/x/landed.txt", strings.NewReader("other bytes"), PutOptions{}); err == nil || !strings.Contains(err.Error(), "another object is already there") {
		t.Fatalf("PUT of other bytes over it: %v", err)
	}
	out, err := e.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String("custody/x/landed.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Versions) != 1 {
		t.Fatalf("%d versions, want the one", len(out.Versions))
	}
}

// TestResealRunsLeavesRunsInFlight: a live agent reseals the one run whose
// seal failed, with the metadata it was stored with, and leaves another
// collector's run in flight alone to seal itself.
func TestResealRunsLeavesRunsInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeCompliance)
	failed, err := e.chain.StartRun(ctx, "cloudtrail")
	if err != nil {
		t.Fatal(err)
	}
	key := ArtifactKey("custody", "1", "r", "cloudtrail", e.clock.now(), failed.ID, "digest.json.gz")
	if _, err := failed.Put(ctx, key, strings.NewReader("digest"), PutOptions{Kind: "k", Metadata: map[string]string{"signature": "abcd"}}); err != nil {
		t.Fatal(err)
	}
	inFlight, err := e.chain.StartRun(ctx, "posture")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inFlight.Put(ctx, ArtifactKey("custody", "1", "r", "posture", e.clock.now(), inFlight.ID, "p.json"), strings.NewReader("{}"), PutOptions{Kind: "k"}); err != nil {
		t.Fatal(err)
	}

	if n, err := e.chain.ResealRuns(ctx, []string{failed.ID}); err != nil || n != 1 {
		t.Fatalf("ResealRuns = %d, %v; want 1 artifact", n, err)
	}
	if _, err := inFlight.Seal(ctx, SealRequest{Event: EventCollect}, nil); err != nil {
		t.Fatalf("the run in flight seals itself afterwards: %v", err)
	}
	r := e.verify(VerifyOptions{})
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("verify: %v", fs)
	}
	if len(r.Manifests) != 2 || r.Manifests[0].Event != EventReseal || r.Manifests[0].SubjectCount != 1 || r.Manifests[1].SubjectCount != 1 {
		t.Fatalf("manifests = %+v", r.Manifests)
	}
	env, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(ManifestKey("custody", "agent-1", 1))})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Body.Close()
	var dsse struct {
		Payload string `json:"payload"`
	}
	if err := json.NewDecoder(env.Body).Decode(&dsse); err != nil {
		t.Fatal(err)
	}
	statement, err := base64.StdEncoding.DecodeString(dsse.Payload)
	if err != nil || !strings.Contains(string(statement), `"signature":"abcd"`) {
		t.Fatalf("the reseal manifest lost the artifact's metadata (%v):\n%s", err, statement)
	}
}

// TestSealSettlesUploadsWhoseAnswerWasLost: an upload whose answer never
// came (SIGTERM cancelled it, or every try failed) leaves an intent in the
// ledger. At the run's seal, one that landed is sealed with the rest, and
// one that did not is dropped: nothing of the run stays unsealed.
func TestSealSettlesUploadsWhoseAnswerWasLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance)
	run, err := e.chain.StartRun(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	key := func(name string) string {
		return ArtifactKey("custody", "123456789012", "us-east-1", "test", e.clock.now(), run.ID, name)
	}
	if _, err := run.Put(ctx, key("ok.json"), strings.NewReader(`{"ok":true}`), PutOptions{Kind: "test"}); err != nil {
		t.Fatal(err)
	}
	landed, lost := key("landed.json"), key("lost.json")
	for _, k := range []string{landed, lost} {
		if err := e.ledger.AddIntent(ctx, Artifact{Bucket: e.cfg.Bucket, Key: k, RunID: run.ID, Kind: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(landed),
		Body: strings.NewReader(`{"landed":true}`), ChecksumAlgorithm: "SHA256"}); err != nil {
		t.Fatal(err)
	}

	m, err := run.Seal(ctx, SealRequest{Event: EventCollect}, nil)
	if err != nil {
		t.Fatal(err)
	}
	left, err := e.ledger.UnsealedArtifacts(ctx, []string{run.ID})
	if err != nil || len(left) != 0 {
		t.Fatalf("unsealed after the seal: %+v, %v", left, err)
	}
	r := e.verify(VerifyOptions{})
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("verify: %v", fs)
	}
	if len(r.Manifests) != 1 || r.Manifests[0].SubjectCount != 2 || m.Seq != 1 {
		t.Fatalf("manifests = %+v, want one sealing ok.json and landed.json", r.Manifests)
	}
	// The manifest says which bytes were hashed as found, not as sent.
	env, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(m.Key)})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Body.Close()
	var dsse struct {
		Payload string `json:"payload"`
	}
	if err := json.NewDecoder(env.Body).Decode(&dsse); err != nil {
		t.Fatal(err)
	}
	statement, err := base64.StdEncoding.DecodeString(dsse.Payload)
	if err != nil || strings.Count(string(statement), `"`+string(finding.SealedAfterLostAnswer)+`"`) != 1 || !strings.Contains(string(statement), "landed.json?versionId=") {
		t.Fatalf("the manifest does not name the artifact sealed after a lost answer (%v):\n%s", err, statement)
	}
}

// lateLander stands for S3 finishing a PUT after its client gave up: the
// caller's context ends first (SIGTERM), and the request, already sent,
// is stored a moment later.
type lateLander struct {
	*s3.Client
	key    string
	delay  time.Duration
	landed chan error
}

func (l *lateLander) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if aws.ToString(in.Key) != l.key {
		return l.Client.PutObject(ctx, in, opts...)
	}
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	sent := *in
	go func() {
		time.Sleep(l.delay)
		sent.Body = bytes.NewReader(body)
		_, err := l.Client.PutObject(context.Background(), &sent, opts...)
		l.landed <- err
	}()
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestSealWaitsForAnUploadCutOffByShutdown: an upload abandoned because
// the run's context ended may still be stored by S3 after the run gave up
// on it. The seal looks for it again for a while, so the version that
// lands is sealed, not left unsealed (seen once in the soak: a
// public-keys.json stored at the moment of SIGTERM).
func TestSealWaitsForAnUploadCutOffByShutdown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance)
	late := &lateLander{Client: e.s3, delay: 800 * time.Millisecond, landed: make(chan error, 1)}
	store, err := OpenStore(ctx, late, e.cfg, e.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := NewChain(store, e.s3, e.ledger, e.signer, "agent-1", Who{Host: "test-host", Software: "custody-test"}, e.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	run, err := ch.StartRun(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	key := ArtifactKey("custody", "123456789012", "us-east-1", "test", e.clock.now(), run.ID, "public-keys.json")
	late.key = key
	runCtx, stop := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, stop) // SIGTERM
	if _, err := run.Put(runCtx, key, strings.NewReader(`{"keys":[]}`), PutOptions{Kind: "test"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("put under a cancelled context: %v", err)
	}
	m, err := run.Seal(ctx, SealRequest{Event: EventCollect}, context.Canceled)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-late.landed; err != nil {
		t.Fatalf("the late PUT: %v", err)
	}
	r := e.verify(VerifyOptions{})
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("verify: %v (an unsealed-object is the version that landed after the seal gave up on it)", fs)
	}
	if len(r.Manifests) != 1 || r.Manifests[0].SubjectCount != 1 || m.Seq != 1 {
		t.Fatalf("manifests = %+v, want one sealing the upload that landed late", r.Manifests)
	}
}
