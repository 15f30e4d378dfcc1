package custody

// Verify's checks that take neither custody's word for time nor a
// manifest's for retention (issue 13): S3's clock against each manifest's
// sealedAt and each artifact's manifest, trust windows at S3's time, RFC
// 3161 tokens required once a TSA is configured, the retention floor, and
// no unsealed corners in a stream's folder.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// skewedSource lists the store as S3 would if its clock had stored some
// keys at another time (a replicated object keeps its version id and
// takes a new LastModified).
type skewedSource struct {
	evidenceSource
	shift map[string]time.Duration // key -> added to its LastModified
}

func (s skewedSource) Versions(ctx context.Context, prefix string, fn func(ObjectVersion) error) error {
	return s.evidenceSource.Versions(ctx, prefix, func(ov ObjectVersion) error {
		ov.LastModified = ov.LastModified.Add(s.shift[ov.Key])
		return fn(ov)
	})
}

// verifyWith runs a verifier of e's store after set adjusts it.
func (e *testEnv) verifyWith(set func(*Verifier)) *Report {
	e.t.Helper()
	v := NewVerifier(e.s3, e.cfg, e.trust, e.ledger, e.clock.now)
	set(v)
	r, err := v.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// noFailure fails the test if a failure of kind names object.
func noFailure(t *testing.T, fs Findings, kind finding.Kind, object string) {
	t.Helper()
	for _, f := range testaws.Failures(fs) {
		if f.Kind == kind && strings.Contains(f.Object, object) {
			t.Fatalf("unexpected %v", f)
		}
	}
}

// TestServerTimeBackdatedStream: the holder of a retired key seals a new
// stream today, dated a month ago, when the key was still valid. S3's
// clock says when it was stored: the claimed date is time-inconsistent,
// and the key was not valid then.
func TestServerTimeBackdatedStream(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, config.ModeGovernance)
	e.collect(e.chain, 1)
	retired := newKey(t)
	pub, _ := retired.PublicKey()
	claimed := e.clock.now().Add(-30 * 24 * time.Hour)
	tk, err := NewTrustedKey("retired", pub, time.Time{}, claimed.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	e.trust = append(e.trust, tk)
	if fs := testaws.Failures(e.verify(VerifyOptions{}).Findings); len(fs) != 0 {
		t.Fatalf("untouched store, a retired key in the trust list: %v", fs)
	}

	back := &testClock{t: claimed}
	ch, err := NewChain(e.store, e.s3, e.ledger, retired, "backdated", Who{Host: "examiner"}, back.now)
	if err != nil {
		t.Fatal(err)
	}
	e.collect(ch, 1)
	r := e.verify(VerifyOptions{})
	m := ManifestKey(e.cfg.Prefix, "backdated", 1)
	testaws.RequireFinding(t, r.Findings, finding.TimeInconsistent, m)
	testaws.RequireFinding(t, r.Findings, finding.SignatureKeyExpired, m)
	for _, f := range testaws.Failures(r.Findings) {
		if strings.Contains(f.Object, "/agent-1/") {
			t.Errorf("the genuine stream is blamed: %v", f)
		}
		if f.Kind == finding.SignatureKeyExpired && strings.Contains(f.Object, m) && !strings.Contains(f.Message, "when S3 stored it") {
			t.Errorf("the expired key's finding does not say S3's time is what counts: %v", f)
		}
	}
}

// TestTrustWindowAtServerTime: a key is valid at S3's time of storing,
// give or take the tolerance, besides the time the signer claims.
func TestTrustWindowAtServerTime(t *testing.T) {
	key := newKey(t)
	raw, err := SignEnvelope(key, "application/vnd.in-toto+json", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseEnvelope(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.PublicKey()
	retiredAt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tk, err := NewTrustedKey("k", pub, time.Time{}, retiredAt)
	if err != nil {
		t.Fatal(err)
	}
	claimed := retiredAt.Add(-time.Minute)
	for _, c := range []struct {
		stored time.Time
		want   finding.Kind
	}{
		{time.Time{}, ""},                     // S3's time unknown: the claim alone
		{retiredAt.Add(10 * time.Minute), ""}, // stored within the tolerance of the key's end
		{retiredAt.Add(time.Hour), finding.SignatureKeyExpired},
		{retiredAt.AddDate(0, 6, 0), finding.SignatureKeyExpired},
	} {
		if _, kind, msg := verifyEnvelopeAt(env, []TrustedKey{tk}, claimed, c.stored, 15*time.Minute); kind != c.want {
			t.Errorf("stored %s: %q %s, want %q", c.stored, kind, msg, c.want)
		}
	}
	if _, kind, _ := verifyEnvelopeAt(env, []TrustedKey{tk}, retiredAt.Add(time.Hour), retiredAt.Add(time.Hour), time.Minute); kind != finding.SignatureKeyExpired {
		t.Errorf("a claim after the key's end: %q", kind)
	}
}

// TestServerTimeArtifactAndManifest: an artifact S3 stored after the
// manifest that seals it, and a manifest stored further from its sealedAt
// than the tolerance, are time-inconsistent; within the (configurable)
// tolerance they are not.
func TestServerTimeArtifactAndManifest(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, config.ModeGovernance)
	m, arts := e.collect(e.chain, 2)
	later := arts[1].Key

	skew := func(shift map[string]time.Duration, tolerance time.Duration) *Report {
		return e.verifyWith(func(v *Verifier) {
			v.src = skewedSource{evidenceSource: v.src, shift: shift}
			v.ClockTolerance = tolerance
		})
	}
	r := skew(map[string]time.Duration{later: time.Hour}, 0)
	testaws.RequireFinding(t, r.Findings, finding.TimeInconsistent, later)
	noFailure(t, r.Findings, finding.TimeInconsistent, arts[0].Key)
	if fs := testaws.Failures(skew(map[string]time.Duration{later: 5 * time.Minute}, 0).Findings); len(fs) != 0 {
		t.Fatalf("an artifact stored 5 minutes after its manifest, the default tolerance 15m: %v", fs)
	}
	if fs := testaws.Failures(skew(map[string]time.Duration{later: time.Hour}, 2*time.Hour).Findings); len(fs) != 0 {
		t.Fatalf("an hour's skew, a tolerance of 2h: %v", fs)
	}

	r = skew(map[string]time.Duration{m.Key: 20 * time.Minute}, 0)
	testaws.RequireFinding(t, r.Findings, finding.TimeInconsistent, m.Key)
	r = skew(map[string]time.Duration{m.Key: -20 * time.Minute}, 0)
	testaws.RequireFinding(t, r.Findings, finding.TimeInconsistent, m.Key)
	if fs := testaws.Failures(skew(map[string]time.Duration{m.Key: 20 * time.Minute}, 30*time.Minute).Findings); len(fs) != 0 {
		t.Fatalf("a manifest 20 minutes from its sealedAt, a tolerance of 30m: %v", fs)
	}

	// Offline, the package's signed index carries what S3 said at export.
	out := filepath.Join(t.TempDir(), "p.tar.gz")
	if _, err := NewVerifier(e.s3, e.cfg, e.trust, e.ledger, e.clock.now).Export(context.Background(), VerifyOptions{}, out, e.chain); err != nil {
		t.Fatal(err)
	}
	br, err := VerifyBundle(context.Background(), out, VerifyOptions{}, e.pinned(), e.clock.now)
	if err != nil || !br.OK {
		t.Fatalf("package of a clean store: %v %v", err, testaws.Failures(br.Findings))
	}
	idx, err := os.ReadFile(filepath.Join(extract(t, out), bundleIndex))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(idx, []byte(`"lastModified": "0001-01-01T00:00:00Z"`)) {
		t.Fatalf("the package's index lacks S3's time of an object:\n%s", idx)
	}
}

// versionsOf lists the version ids of key, newest first.
func (e *testEnv) versionsOf(key string) []string {
	e.t.Helper()
	out, err := e.s3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String(key)})
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == key {
			ids = append(ids, aws.ToString(v.VersionId))
		}
	}
	return ids
}

// plant stores body at key as a new version, as anyone with PutObject can.
func (e *testEnv) plant(key string, body []byte) {
	e.t.Helper()
	if _, err := e.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		e.t.Fatalf("put %s: %v", key, err)
	}
}

func (e *testEnv) read(key, version string) []byte {
	e.t.Helper()
	out, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(key), VersionId: aws.String(version)})
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// TestTimestampsRequiredWithATSA: with a TSA configured, valid tokens
// verify; a token over other bytes is invalid (with the chain or
// without); a removed token is a failure, not a warning.
func TestTimestampsRequiredWithATSA(t *testing.T) {
	t.Parallel()
	tt := newTestTSA(t)
	e := newTestEnv(t, config.ModeGovernance)
	tsa := tt.load(t)
	e.chain.SetTSA(tsa)
	e.collect(e.chain, 1)
	e.collect(e.chain, 1)
	chain := tsa.Chain()
	withTSA := func(v *Verifier) { v.TSA = &chain }
	r := e.verifyWith(withTSA)
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("timestamped store: %v", fs)
	}
	for _, m := range r.Manifests {
		if m.TimestampedAt.IsZero() {
			t.Fatalf("manifest %d: no verified timestamp", m.Sequence)
		}
	}

	tok1, tok2 := TimestampKey(e.cfg.Prefix, "agent-1", 1), TimestampKey(e.cfg.Prefix, "agent-1", 2)
	genuine := e.versionsOf(tok2)
	e.plant(tok2, e.read(tok1, e.versionsOf(tok1)[0])) // a genuine token, over manifest 1
	r = e.verifyWith(withTSA)
	testaws.RequireFinding(t, r.Findings, finding.TimestampInvalid, tok2)
	testaws.RequireFinding(t, r.Findings, finding.UnsealedObject, tok2+"?versionId="+genuine[0])
	r = e.verifyWith(func(*Verifier) {})
	testaws.RequireFinding(t, r.Findings, finding.TimestampInvalid, tok2)

	for _, id := range e.versionsOf(tok2) {
		if _, err := e.s3.DeleteObject(context.Background(), bypass(&s3.DeleteObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(tok2), VersionId: aws.String(id)})); err != nil {
			t.Fatal(err)
		}
	}
	r = e.verifyWith(withTSA)
	testaws.RequireFinding(t, r.Findings, finding.TimestampMissing, tok2)
	noFailure(t, r.Findings, finding.TimestampMissing, tok1)
}

// TestRetentionFloor: locks weaker than the configured policy, counted
// from S3's time of storing, fail verify even when the manifest recorded
// them faithfully; a store configured weaker than the bucket's default
// retention refuses to open.
func TestRetentionFloor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance) // locks of 1 day
	m, arts := e.collect(e.chain, 1)
	if fs := testaws.Failures(e.verify(VerifyOptions{}).Findings); len(fs) != 0 {
		t.Fatalf("store at its own policy: %v", fs)
	}
	for _, pol := range []config.Retention{{Mode: config.ModeGovernance, Days: 30}, {Mode: config.ModeCompliance, Days: 1}} {
		st := e.cfg
		st.Retention = pol
		r, err := NewVerifier(e.s3, st, e.trust, e.ledger, e.clock.now).Verify(ctx, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		testaws.RequireFinding(t, r.Findings, finding.RetentionBelowPolicy, m.Key)
		testaws.RequireFinding(t, r.Findings, finding.RetentionBelowPolicy, arts[0].Key)
		for _, f := range r.Findings {
			if strings.HasPrefix(string(f.Kind), "artifact-retention-") {
				t.Errorf("the artifact's lock is what was sealed; only the policy finds it weak: %v", f)
			}
		}
	}

	st := config.Store{Bucket: testaws.BucketName(t), Region: "us-east-1", Prefix: "custody", Retention: config.Retention{Mode: config.ModeGovernance, Days: 30}}
	if _, err := InitBucket(ctx, e.s3, st); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		r    config.Retention
		want string // empty: opens
	}{
		{config.Retention{Mode: config.ModeGovernance, Days: 1}, "GOVERNANCE 1 day, the default retention of bucket " + st.Bucket + " is GOVERNANCE 30 days"},
		{config.Retention{Mode: config.ModeGovernance, Days: 29}, "GOVERNANCE 29 days, the default retention"},
		{config.Retention{Mode: config.ModeGovernance, Days: 30}, ""},
		{config.Retention{Mode: config.ModeCompliance, Days: 30}, ""},
		{config.Retention{Mode: config.ModeCompliance, Days: 29}, "COMPLIANCE 29 days"},
	} {
		weak := st
		weak.Retention = c.r
		_, err := OpenStore(ctx, e.s3, weak, e.clock.now)
		var ps config.Problems
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.r, err)
		case c.want == "":
		case !errors.As(err, &ps) || ps[0].Path != "store.retention" || !strings.Contains(err.Error(), c.want):
			t.Errorf("%v: %v, want a store.retention problem saying %q", c.r, err, c.want)
		}
	}
}

// TestNoUnsealedCorners: a token of no manifest, a token in a stream with
// no manifests, an earlier version of a token, and anything else in a
// stream's folder are unsealed-object, each named; a package carries none
// of them.
func TestNoUnsealedCorners(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, config.ModeGovernance)
	e.collect(e.chain, 1)
	p := e.cfg.Prefix
	junk := []byte("not a timestamp token")
	orphan := TimestampKey(p, "agent-1", 7)
	ghostToken := TimestampKey(p, "ghost", 1)
	ghostNote := ManifestPrefix(p) + "ghost/notes.txt"
	note := ManifestPrefix(p) + "agent-1/notes.txt"
	tok1 := TimestampKey(p, "agent-1", 1)
	for _, k := range []string{orphan, ghostToken, ghostNote, note, tok1, tok1} {
		e.plant(k, junk)
	}
	earlier := e.versionsOf(tok1)[1]

	r := e.verify(VerifyOptions{})
	for _, k := range []string{orphan, ghostToken, ghostNote, note, tok1 + "?versionId=" + earlier} {
		testaws.RequireFinding(t, r.Findings, finding.UnsealedObject, k)
	}
	testaws.RequireFinding(t, r.Findings, finding.TimestampInvalid, tok1)
	for _, f := range r.Findings {
		if strings.Contains(f.Object, ghostToken) && !strings.Contains(f.Message, "has no manifests") {
			t.Errorf("the token of a stream with no manifests does not say so: %v", f)
		}
	}

	out := filepath.Join(t.TempDir(), "p.tar.gz")
	if _, err := NewVerifier(e.s3, e.cfg, e.trust, e.ledger, e.clock.now).Export(context.Background(), VerifyOptions{}, out, e.chain); err != nil {
		t.Fatal(err)
	}
	idx, err := os.ReadFile(filepath.Join(extract(t, out), bundleIndex))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{orphan, ghostToken, ghostNote, note, earlier} {
		if bytes.Contains(idx, []byte(k)) {
			t.Errorf("the package carries %s, which verify did not check", k)
		}
	}
}
