package custody

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// testTSA is an in-process RFC 3161 time-stamping authority.
type testTSA struct {
	url      string
	chainPEM string // path of the root's PEM
	skew     time.Duration
}

func newTestTSA(t testing.TB) *testTSA {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "custody test TSA root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "custody test TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	tsa := &testTSA{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ts := timestamp.Timestamp{HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Time: time.Now().Add(tsa.skew),
			Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}, Nonce: req.Nonce, AddTSACertificate: req.Certificates}
		resp, err := ts.CreateResponseWithOpts(leaf, leafKey, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(resp) // a lost reply shows as the client's error
	}))
	t.Cleanup(srv.Close)
	pemBytes, _ := cryptoutils.MarshalCertificateToPEM(root)
	tsa.url = srv.URL
	tsa.chainPEM = filepath.Join(t.TempDir(), "tsa-chain.pem")
	if err := os.WriteFile(tsa.chainPEM, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return tsa
}

func (tt *testTSA) load(t testing.TB) *TSA {
	t.Helper()
	tsa, err := LoadTSA(config.Timestamp{URL: tt.url, CertChain: tt.chainPEM})
	if err != nil {
		t.Fatal(err)
	}
	return tsa
}

func TestTimestampedManifests(t *testing.T) {
	t.Parallel()
	tt := newTestTSA(t)
	e := newTestEnv(t, config.ModeCompliance)
	tsa := tt.load(t)
	e.chain.SetTSA(tsa)
	var warned []error
	e.chain.Warn = func(err error) { warned = append(warned, err) }
	e.collect(e.chain, 1)
	e.collect(e.chain, 1)
	if len(warned) != 0 {
		t.Fatalf("sealing warned: %v", warned)
	}
	chain := tsa.Chain()
	v := NewVerifier(e.s3, e.cfg, e.trust, e.ledger, e.clock.now)
	v.TSA = &chain
	r, err := v.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("timestamped chain: %v", fs)
	}
	for _, m := range r.Manifests {
		if m.TimestampedAt.IsZero() {
			t.Fatalf("manifest %d has no verified timestamp", m.Sequence)
		}
	}
	for _, f := range r.Findings {
		if f.Kind == "timestamp-missing" || f.Kind == "timestamp-unchecked" {
			t.Fatalf("unexpected %v", f)
		}
	}
	// The package carries the TSA chain: the recipient checks timestamps too.
	out := filepath.Join(t.TempDir(), "p.tar.gz")
	if _, err := v.Export(context.Background(), VerifyOptions{}, out, e.chain); err != nil {
		t.Fatal(err)
	}
	br, err := VerifyBundle(context.Background(), out, VerifyOptions{}, e.pinned(), e.clock.now)
	if err != nil || !br.OK || br.Manifests[0].TimestampedAt.IsZero() {
		t.Fatalf("timestamped package: %v %v", err, testaws.Failures(br.Findings))
	}

	// Checked against another TSA's chain, the tokens are invalid.
	other := newTestTSA(t).load(t).Chain()
	v.TSA = &other
	r, _ = v.Verify(context.Background(), VerifyOptions{})
	testaws.RequireFinding(t, r.Findings, "timestamp-invalid", ".tsr")
}

func TestTimestampFarFromSealingTime(t *testing.T) {
	t.Parallel()
	tt := newTestTSA(t)
	tt.skew = time.Hour
	e := newTestEnv(t, config.ModeCompliance)
	tsa := tt.load(t)
	e.chain.SetTSA(tsa)
	e.collect(e.chain, 1)
	chain := tsa.Chain()
	v := NewVerifier(e.s3, e.cfg, e.trust, e.ledger, e.clock.now)
	v.TSA = &chain
	r, err := v.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testaws.RequireFinding(t, r.Findings, "timestamp-mismatch", ".tsr")
}

func TestUnreachableTSADoesNotStopSealing(t *testing.T) {
	t.Parallel()
	tt := newTestTSA(t)
	e := newTestEnv(t, config.ModeCompliance)
	tsa := tt.load(t)
	tsa.url = "http://127.0.0.1:1/unreachable"
	e.chain.SetTSA(tsa)
	var warned []error
	e.chain.Warn = func(err error) { warned = append(warned, err) }
	e.collect(e.chain, 1)
	if len(warned) != 2 { // the manifest's token and the checkpoint's
		t.Fatalf("warnings = %v", warned)
	}
	chain := tsa.Chain()
	v := NewVerifier(e.s3, e.cfg, e.trust, e.ledger, e.clock.now)
	v.TSA = &chain
	// Sealing went on; verify, with a TSA configured, fails the manifest
	// that has no token: its time rests on the agent's clock alone.
	r, _ := v.Verify(context.Background(), VerifyOptions{})
	fs := testaws.Failures(r.Findings)
	if len(fs) != 2 || fs[0].Kind != "timestamp-missing" || fs[1].Kind != "timestamp-missing" ||
		!strings.HasSuffix(fs[0].Object+" "+fs[1].Object, "000000000001.tsr") && !strings.HasSuffix(fs[1].Object+" "+fs[0].Object, "000000000001.tsr") {
		t.Fatalf("a manifest and a checkpoint without a timestamp, a TSA configured: %v", fs)
	}
}

// TestTimestampedCheckpoints: with a timestamp authority, every checkpoint
// version is stamped (the TSA witnesses when the log had that size and
// root). A token removed, one over other bytes, or one planted for no
// checkpoint is a failure naming it; the package carries the newest
// checkpoint's token and the recipient checks it.
func TestTimestampedCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tt := newTestTSA(t)
	e := newTestEnv(t, config.ModeGovernance)
	tsa := tt.load(t)
	e.chain.SetTSA(tsa)
	e.clock.t = time.Now().UTC() // the TSA's clock is the real one
	e.collect(e.chain, 1)
	e.clock.t = time.Now().UTC()
	e.collect(e.chain, 1)
	chain := tsa.Chain()
	v := NewVerifier(e.s3, e.cfg, e.trust, e.ledger, e.clock.now)
	v.TSA = &chain
	verify := func() *Report {
		t.Helper()
		r, err := v.Verify(ctx, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if fs := testaws.Failures(verify().Findings); len(fs) != 0 {
		t.Fatalf("stamped checkpoints: %v", fs)
	}
	tokens := map[string]string{} // checkpoint token key -> version
	list, err := e.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String("custody/manifests/agent-1/checkpoint-")})
	if err != nil {
		t.Fatal(err)
	}
	for _, ov := range list.Versions {
		tokens[aws.ToString(ov.Key)] = aws.ToString(ov.VersionId)
	}
	if len(tokens) != 2 {
		t.Fatalf("checkpoint tokens = %v, want one per checkpoint version (2)", tokens)
	}

	// The package carries the newest checkpoint's token, checked offline.
	out := filepath.Join(t.TempDir(), "p.tar.gz")
	if _, err := v.Export(ctx, VerifyOptions{}, out, e.chain); err != nil {
		t.Fatal(err)
	}
	br, err := VerifyBundle(ctx, out, VerifyOptions{}, e.pinned(), e.clock.now)
	if err != nil || !br.OK {
		t.Fatalf("package with a stamped checkpoint: %v %v", err, testaws.Failures(br.Findings))
	}
	var first string // the token of one of the first two checkpoints
	for k := range tokens {
		first = k
	}

	// A token over other bytes stored as a checkpoint's token: invalid.
	other, err := tsa.Stamp(ctx, []byte("not this checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(first), Body: bytes.NewReader(other)}); err != nil {
		t.Fatal(err)
	}
	r := verify()
	testaws.RequireFinding(t, r.Findings, "timestamp-invalid", first)
	testaws.RequireFinding(t, r.Findings, "unsealed-object", first) // the earlier version, now not the one checked

	// Every version of it removed: the checkpoint promised one.
	list, err = e.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String(first)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ov := range list.Versions {
		if _, err := e.s3.DeleteObject(ctx, bypass(&s3.DeleteObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: ov.Key, VersionId: ov.VersionId})); err != nil {
			t.Fatal(err)
		}
	}
	r = verify()
	testaws.RequireFinding(t, r.Findings, "timestamp-missing", "custody/manifests/agent-1/checkpoint?versionId=")

	// A token planted for no checkpoint: unsealed.
	planted := "custody/manifests/agent-1/checkpoint-" + strings.Repeat("ab", 32) + ".tsr"
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(planted), Body: bytes.NewReader(other)}); err != nil {
		t.Fatal(err)
	}
	testaws.RequireFinding(t, verify().Findings, "unsealed-object", planted)
}
