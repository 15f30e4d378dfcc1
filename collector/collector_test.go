package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	s3controltypes "github.com/aws/aws-sdk-go-v2/service/s3control/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

type testEnv struct {
	Chain  *custody.Chain
	Ledger *ledger.Ledger
	s3     *s3.Client
	store  config.Store
	trust  []custody.TrustedKey
}

func newEnv(t *testing.T) *testEnv { return newBenchEnv(t) }

func newBenchEnv(t testing.TB) *testEnv {
	t.Helper()
	ctx := context.Background()
	c := testaws.Require(t).S3(t)
	st := config.Store{Bucket: testaws.BucketName(t), Prefix: "custody", Retention: config.Retention{Mode: config.ModeCompliance, Days: 1}}
	if _, err := custody.InitBucket(ctx, c, st); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	store, err := custody.OpenStore(ctx, c, st, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	chain, err := custody.NewChain(store, c, l, signer, "agent", custody.Who{Host: "test"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := custody.NewTrustedKey("k", &priv.PublicKey, time.Time{}, time.Time{})
	return &testEnv{Chain: chain, Ledger: l, s3: c, store: st, trust: []custody.TrustedKey{tk}}
}

func (e *testEnv) verify(t testing.TB) *custody.Report {
	t.Helper()
	r, err := custody.NewVerifier(e.s3, e.store, e.trust, e.Ledger, time.Now).Verify(context.Background(), custody.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Severity == custody.SeverityFailure {
			t.Fatalf("verify: %v", f)
		}
	}
	return r
}

func (e *testEnv) read(t *testing.T, key string) []byte {
	t.Helper()
	out, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.store.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return b
}

func artifactKey(t *testing.T, r *custody.Report, kind string) string {
	t.Helper()
	for i := len(r.Manifests) - 1; i >= 0; i-- {
		for _, s := range r.Manifests[i].Subjects() {
			if s.Annotations.Kind == kind {
				return s.Name
			}
		}
	}
	t.Fatalf("no %s artifact sealed", kind)
	return ""
}

func TestVersionListMatchesTheBucket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	src := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{Versioning: true})
	put := func(k, body string) {
		if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(k), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	want := 0
	for i := 0; i < 12; i++ {
		k := fmt.Sprintf("data/%02d name+with %%/é.json", i)
		for v := 0; v <= i%3; v++ {
			put(k, fmt.Sprintf("v%d", v))
			want++
		}
		if i%4 == 0 {
			if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(src), Key: aws.String(k)}); err != nil {
				t.Fatal(err)
			}
			want++
		}
	}
	put("empty", "")
	want++
	v := &Versions{API: e.s3, Bucket: src, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now, PageSize: 5}
	res, err := RunOne(ctx, e.Chain, v)
	if err != nil || res.Artifacts != 1 {
		t.Fatalf("RunOne = %+v, %v", res, err)
	}
	r := e.verify(t)
	zr, err := gzip.NewReader(bytes.NewReader(e.read(t, artifactKey(t, r, "versions"))))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(zr)
	var recs []VersionRecord
	for dec.More() {
		var rec VersionRecord
		if err := dec.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if len(recs) != want {
		t.Fatalf("%d records, want %d", len(recs), want)
	}
	markers, latest := 0, map[string]int{}
	for i, rec := range recs {
		if i > 0 && recs[i-1].Key > rec.Key {
			t.Fatalf("records out of key order at %d: %q after %q", i, rec.Key, recs[i-1].Key)
		}
		if rec.DeleteMarker {
			markers++
		}
		if rec.IsLatest {
			latest[rec.Key]++
		}
		if rec.VersionID == "" || rec.LastModified.IsZero() {
			t.Fatalf("record %d incomplete: %+v", i, rec)
		}
	}
	if markers != 3 || len(latest) != 13 {
		t.Fatalf("%d markers, %d keys with a latest version", markers, len(latest))
	}
	for k, n := range latest {
		if n != 1 {
			t.Fatalf("%s has %d latest versions", k, n)
		}
	}
}

func TestPostureSnapshotsAndChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	src := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{Versioning: true})
	p := &Posture{API: e.s3, Ledger: e.Ledger, Bucket: src, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now}
	if _, err := RunOne(ctx, e.Chain, p); err != nil {
		t.Fatal(err)
	}
	r := e.verify(t)
	var snap Snapshot
	if err := json.Unmarshal(e.read(t, artifactKey(t, r, "posture")), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Settings["policy"].State != StateAbsent || snap.Settings["versioning"].State != StatePresent || !strings.Contains(string(snap.Settings["versioning"].Value), "Enabled") {
		t.Fatalf("first snapshot: %+v", snap.Settings)
	}
	if len(snap.Settings) != 13 {
		t.Fatalf("snapshot has %d settings", len(snap.Settings))
	}

	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, src)
	if _, err := e.s3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(src), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Minute)
	if _, err := RunOne(ctx, e.Chain, p); err != nil {
		t.Fatal(err)
	}
	changes, err := e.Ledger.PostureChanges(ctx, src, start)
	if err != nil {
		t.Fatal(err)
	}
	var policyChange *ledger.PostureChange
	for i := range changes {
		if changes[i].Setting == "policy" {
			policyChange = &changes[i]
		}
	}
	if policyChange == nil || !strings.Contains(policyChange.Risk, `"Principal": "*"`) {
		t.Fatalf("changes = %+v", changes)
	}
	// The change is in the manifest too.
	r = e.verify(t)
	last := r.Manifests[len(r.Manifests)-1]
	if last.Collector != "posture:"+src {
		t.Fatalf("last manifest %+v", last)
	}
	// A third run with nothing changed records nothing new.
	if _, err := RunOne(ctx, e.Chain, p); err != nil {
		t.Fatal(err)
	}
	again, _ := e.Ledger.PostureChanges(ctx, src, start)
	if len(again) != len(changes) {
		t.Fatalf("unchanged bucket recorded %d new changes", len(again)-len(changes))
	}
}

func TestGrantsEveryone(t *testing.T) {
	for doc, want := range map[string]bool{
		`{"Statement":[{"Effect":"Allow","Principal":"*"}]}`:                           true,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"}}]}`:                   true,
		`{"Statement":{"Effect":"Allow","Principal":{"AWS":["*"]}}}`:                   true,
		`{"Statement":[{"Effect":"Deny","Principal":"*"}]}`:                            false,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"}}]}`: false,
		`not json`: false,
	} {
		if got := grantsEveryone(json.RawMessage(doc)); got != want {
			t.Errorf("grantsEveryone(%s) = %v", doc, got)
		}
	}
}

func TestAgentRunsOnSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{Versioning: true})
	failing := &Versions{API: e.s3, Bucket: "no-such-bucket-" + strings.ToLower(t.Name()), Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now}
	a := &Agent{
		Chain: e.Chain,
		Collectors: []Collector{
			&Posture{API: e.s3, Ledger: e.Ledger, Bucket: src, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now},
			&Versions{API: e.s3, Bucket: src, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now},
			failing,
		},
		Schedules: config.Schedules{Posture: "* * * * * *", Versions: "@every 1s"},
		Jitter:    50 * time.Millisecond,
		Now:       func() time.Time { return agentClock },
	}
	srv := httptestServer(t, a.Handler())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	st := a.status
	a.mu.Unlock()
	for _, name := range []string{"posture:" + src, "versions:" + src} {
		if st[name].Runs < 2 || st[name].LastSuccess.IsZero() || st[name].Failures != 0 {
			t.Errorf("%s: %+v", name, st[name])
		}
		// Run times come from the agent's clock, not the machine's.
		if !st[name].LastRun.Equal(agentClock) || !st[name].LastSuccess.Equal(agentClock) {
			t.Errorf("%s: lastRun %s, lastSuccess %s, want the injected clock's %s", name, st[name].LastRun, st[name].LastSuccess, agentClock)
		}
	}
	if f := st[failing.Name()]; f.Failures == 0 || f.LastError == "" {
		t.Errorf("the failing collector: %+v", f)
	}
	metrics := get(t, srv+"/metrics")
	for _, want := range []string{`custody_collector_last_success_timestamp_seconds{collector="posture:` + src + `"}`, "custody_artifacts_sealed_total", `custody_collector_failures_total{collector="versions:no-such-bucket`, "custody_chain_length"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The failing collector failed every run, more than UnhealthyAfter
	// in a row: degraded, naming it alone.
	resp, err := http.Get(srv + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status     string
		Failing    []failingSource
		Collectors map[string]collectorStatus
	}
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || h.Status != "degraded" || len(h.Failing) != 1 ||
		h.Failing[0].Collector != failing.Name() || !strings.Contains(h.Failing[0].LastError, "NoSuchBucket") || h.Collectors["posture:"+src].Runs < 2 {
		t.Errorf("/healthz: %d %+v (%v)", resp.StatusCode, h, err)
	}
	// Everything stored, the failing collector's run records included, verifies.
	e.verify(t)
}

// agentClock is TestAgentRunsOnSchedule's agent clock: a fixed time, so
// what the agent reports can only have come from it.
var agentClock = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// An agent without a clock is refused before anything is scheduled.
func TestAgentNeedsClock(t *testing.T) {
	t.Parallel()
	a := &Agent{Schedules: config.Schedules{Posture: "@hourly"}}
	err := a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Agent.Now") {
		t.Fatalf("Run without a clock: %v, want an error naming Agent.Now", err)
	}
}

func TestAccountPublicAccessBlockChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	le := testaws.Require(t)
	ctl := le.Config(t).S3Control()
	acct := "123456789012" // moto's own account; no other test sets its public access block
	if _, err := ctl.PutPublicAccessBlock(ctx, &s3control.PutPublicAccessBlockInput{AccountId: aws.String(acct),
		PublicAccessBlockConfiguration: &s3controltypes.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true),
			IgnorePublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	src := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{})
	p := &Posture{API: e.s3, AccountAPI: ctl, Ledger: e.Ledger, Bucket: src, Account: acct, Region: "us-east-1", Prefix: "custody", Now: time.Now}
	if s := p.Snapshot(ctx).Settings["accountPublicAccessBlock"]; s.State != StatePresent || !strings.Contains(string(s.Value), "true") {
		t.Fatalf("account public access block = %+v", s)
	}
	if _, err := RunOne(ctx, e.Chain, p); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.DeletePublicAccessBlock(ctx, &s3control.DeletePublicAccessBlockInput{AccountId: aws.String(acct)}); err != nil {
		t.Fatal(err)
	}
	if _, err := RunOne(ctx, e.Chain, p); err != nil {
		t.Fatal(err)
	}
	changes, err := e.Ledger.PostureChanges(ctx, src, time.Now().Add(-time.Hour))
	if err != nil || len(changes) != 1 || changes[0].Setting != "accountPublicAccessBlock" || changes[0].Risk != "public access block turned off" {
		t.Fatalf("changes = %+v, %v", changes, err)
	}
}

func TestVersionListSplitByPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	src := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{Versioning: true})
	want := map[string]bool{}
	for _, k := range []string{"root.txt", "a/1", "a/2", "a/deep/3", "b/1", "c/", "c/x"} {
		for v := 0; v < 2; v++ {
			out, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(k), Body: strings.NewReader(k)})
			if err != nil {
				t.Fatal(err)
			}
			want[k+"@"+aws.ToString(out.VersionId)] = true
		}
	}
	v := &Versions{API: e.s3, Bucket: src, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now, Split: 2, PageSize: 2}
	res, err := RunOne(ctx, e.Chain, v)
	if err != nil {
		t.Fatal(err)
	}
	if res.Artifacts != 4 { // root, a/, b/, c/
		t.Fatalf("%d parts", res.Artifacts)
	}
	r := e.verify(t)
	got := map[string]bool{}
	for _, s := range r.Manifests[len(r.Manifests)-1].Subjects() {
		zr, err := gzip.NewReader(bytes.NewReader(e.read(t, s.Name)))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(zr)
		for dec.More() {
			var rec VersionRecord
			if err := dec.Decode(&rec); err != nil {
				t.Fatal(err)
			}
			id := rec.Key + "@" + rec.VersionID
			if got[id] {
				t.Fatalf("%s listed twice", id)
			}
			got[id] = true
		}
	}
	// MinIO does not version a zero-byte key ending in "/": compare with
	// what the bucket lists rather than with what was written.
	for id := range want {
		if !got[id] && !strings.HasPrefix(id, "c/@") {
			t.Errorf("%s missing from the parts", id)
		}
	}
	if len(got) < len(want)-2 {
		t.Fatalf("parts list %d entries, the bucket %d", len(got), len(want))
	}
}
