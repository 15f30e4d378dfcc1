package main

// The hostile examiner's attacks on the store itself that do not depend on
// the log format (issue 13): a backdated stream signed with a retired key,
// timestamps removed or swapped with a TSA configured, retention weakened
// through the environment, and bytes planted where verify did not look.
// Each runs through the real binary against a GOVERNANCE bucket, and each
// verify runs twice: on the agent's host (its ledger) and as a fresh
// machine would (the same configuration, no ledger).

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

// storeUnderAttack is one evidence store of an attack: its bucket, the
// configuration of the agent's host, and the same one with a ledger that
// does not exist (a fresh machine).
type storeUnderAttack struct {
	a                  *attackStore
	bucket, cfg, fresh string
	s3                 *s3.Client
}

// newStoreUnderAttack writes the configuration (extra is appended: trust,
// timestamp) with the given GOVERNANCE retention and runs store init.
func newStoreUnderAttack(t *testing.T, a *attackStore, days int, extra string) *storeUnderAttack {
	t.Helper()
	s := &storeUnderAttack{a: a, bucket: testaws.BucketName(t), s3: a.env.S3(t)}
	dir := t.TempDir()
	s.cfg, s.fresh = filepath.Join(dir, "custody.yaml"), filepath.Join(dir, "fresh.yaml")
	s.configure(t, days, extra)
	a.must(t, "-c", s.cfg, "store", "init")
	return s
}

// configure (re)writes both configurations with a retention of days.
func (s *storeUnderAttack) configure(t *testing.T, days int, extra string) {
	t.Helper()
	body := func(ledgerPath string) string {
		return fmt.Sprintf(`ledger: %s
agent: {stream: responder-1}
store:
  bucket: %s
  retention: {mode: GOVERNANCE, days: %d}
signer:
  key: file://%s
%s`, ledgerPath, s.bucket, days, s.a.key, extra)
	}
	writeConfig(t, s.cfg, body(filepath.Join(filepath.Dir(s.cfg), "ledger.db")))
	writeConfig(t, s.fresh, body(filepath.Join(t.TempDir(), "never-written", "ledger.db")))
}

// add seals one file of the given content with custody add.
func (s *storeUnderAttack) add(t *testing.T, content string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	s.a.must(t, "-c", s.cfg, "add", "--case", "IR-13", f)
}

// verify runs verify --json on the agent's host and from a fresh machine
// and returns both verdicts; each must exit as its OK says.
func (s *storeUnderAttack) verify(t *testing.T) []bundleVerdict {
	t.Helper()
	var out []bundleVerdict
	for _, args := range [][]string{{"-c", s.cfg}, {"-c", s.cfg, "--no-ledger"}, {"-c", s.fresh}} {
		stdout, stderr, code := s.a.bin.run(t, append([]string{args[0], args[1], "--json", "verify"}, args[2:]...)...)
		var v bundleVerdict
		if err := json.Unmarshal([]byte(stdout), &v); err != nil || v.OK == nil {
			t.Fatalf("verify %v: exit %d, %v\n%s%s", args, code, err, stdout, stderr)
		}
		if want := map[bool]int{true: 0, false: 1}[*v.OK]; code != want {
			t.Fatalf("verify %v: exit %d with ok=%v", args, code, *v.OK)
		}
		v.raw = strings.Join(args, " ")
		out = append(out, v)
	}
	return out
}

// clean requires every verify to pass.
func (s *storeUnderAttack) clean(t *testing.T) {
	t.Helper()
	for _, v := range s.verify(t) {
		if !*v.OK {
			t.Fatalf("untouched store, verify %s: %+v", v.raw, v.Findings)
		}
	}
}

// caught requires every verify to fail with a failure of kind naming each
// object (a substring of the finding's object).
func (s *storeUnderAttack) caught(t *testing.T, kind string, objects ...string) {
	t.Helper()
	for _, v := range s.verify(t) {
		for _, o := range objects {
			found := false
			for _, f := range v.Findings {
				found = found || (f.Severity == "failure" && f.Kind == kind && strings.Contains(f.Object, o))
			}
			if !found {
				t.Errorf("verify %s: no %s failure naming %s; findings: %+v", v.raw, kind, o, v.Findings)
			}
		}
	}
}

// versionsOf lists the versions of key, newest first.
func (s *storeUnderAttack) versionsOf(t *testing.T, key string) []string {
	t.Helper()
	out, err := s.s3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == key {
			ids = append(ids, aws.ToString(v.VersionId))
		}
	}
	return ids
}

func (s *storeUnderAttack) put(t *testing.T, key string, body []byte) {
	t.Helper()
	if _, err := s.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func (s *storeUnderAttack) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := s.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStoreAttackBackdatedStreamRetiredKey: holding a key retired on
// 2025-12-02, the examiner seals a new stream today dated 2025-12-01 (the
// custody library with a clock of their choosing). S3's clock says when
// it was stored: time-inconsistent, and the key was not valid then.
func TestStoreAttackBackdatedStreamRetiredKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newAttackStore(t)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	retiredPub := filepath.Join(t.TempDir(), "retired.pub")
	if err := os.WriteFile(retiredPub, pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStoreUnderAttack(t, a, 1, fmt.Sprintf(`trust:
  - name: responder
    key: file://%s
  - name: retired-2025
    key: file://%s
    not_after: "2025-12-02T00:00:00Z"
`, a.pub, retiredPub))
	s.add(t, "genuine note")
	s.clean(t)

	// The examiner's backdated stream.
	claimed := time.Date(2025, 12, 1, 10, 0, 0, 0, time.UTC)
	back := func() time.Time { return claimed }
	st := config.Store{Bucket: s.bucket, Prefix: "custody", Retention: config.Retention{Mode: config.ModeGovernance, Days: 1}}
	store, err := custody.OpenStore(ctx, s.s3, st, time.Now) // S3 refuses locks that end in the past
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "examiner.db"), ledger.WithClock(back))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	signer, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := custody.NewChain(store, s.s3, l, signer, "examiner", custody.Who{Host: "examiner-laptop"}, back)
	if err != nil {
		t.Fatal(err)
	}
	run, err := ch.StartRun(ctx, "add")
	if err != nil {
		t.Fatal(err)
	}
	key := custody.CaseKey("custody", "IR-13", claimed, run.RunID(), "note.txt")
	if _, err := run.Put(ctx, key, strings.NewReader("planted note, dated 2025-12-01"), custody.PutOptions{Kind: "case-file", Case: "IR-13"}); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Seal(ctx, custody.SealRequest{Event: custody.EventAdd, Case: "IR-13", Description: "backdated"}, nil); err != nil {
		t.Fatal(err)
	}

	manifest := custody.ManifestKey("custody", "examiner", 1)
	s.caught(t, "time-inconsistent", manifest)
	s.caught(t, "signature-key-expired", manifest)
}

// testTSA starts an RFC 3161 time-stamping authority on loopback and
// returns its URL and the path of its root certificate's PEM.
func testTSA(t *testing.T) (url, chainPEM string) {
	t.Helper()
	now := time.Now()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "store attack TSA root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "store attack TSA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ts := timestamp.Timestamp{HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Time: time.Now(),
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
	pemBytes, err := cryptoutils.MarshalCertificateToPEM(root)
	if err != nil {
		t.Fatal(err)
	}
	chainPEM = filepath.Join(t.TempDir(), "tsa-chain.pem")
	if err := os.WriteFile(chainPEM, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, chainPEM
}

// TestStoreAttackTimestampsRemoved: with a TSA configured, the stamped
// store verifies; a token swapped for one over other bytes is
// timestamp-invalid; tokens removed (GOVERNANCE bypass) are
// timestamp-missing failures.
func TestStoreAttackTimestampsRemoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newAttackStore(t)
	url, chain := testTSA(t)
	s := newStoreUnderAttack(t, a, 1, fmt.Sprintf("trust:\n  - {name: responder, key: \"file://%s\"}\ntimestamp: {url: %q, cert_chain: %q}\n", a.pub, url, chain))
	s.add(t, "first note")
	s.add(t, "second note")
	s.clean(t)
	for _, v := range s.verify(t) {
		for _, f := range v.Findings {
			if strings.HasPrefix(f.Kind, "timestamp-") {
				t.Fatalf("verify %s of a stamped store: %+v", v.raw, f)
			}
		}
	}

	tok1, tok2 := custody.TimestampKey("custody", "responder-1", 1), custody.TimestampKey("custody", "responder-1", 2)
	s.put(t, tok2, s.get(t, tok1)) // a genuine token, over manifest 1's signature
	s.caught(t, "timestamp-invalid", tok2)

	for _, id := range s.versionsOf(t, tok2) {
		if _, err := s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(tok2), VersionId: aws.String(id),
			BypassGovernanceRetention: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	s.caught(t, "timestamp-missing", tok2)

	// The checkpoints are stamped too: the newest one's token removed, the
	// checkpoint (which promised it) is timestamp-missing.
	cp := custody.LogCheckpointKey("custody", "responder-1")
	cpTok := custody.LogCheckpointTimestampKey("custody", "responder-1", sha256.Sum256(s.get(t, cp)))
	ids := s.versionsOf(t, cpTok)
	if len(ids) != 1 {
		t.Fatalf("the newest checkpoint's token %s: versions %v, want 1", cpTok, ids)
	}
	if _, err := s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(cpTok), VersionId: aws.String(ids[0]),
		BypassGovernanceRetention: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	s.caught(t, "timestamp-missing", cp+"?versionId=")
}

// TestStoreAttackRetentionWeakened: custody add with
// CUSTODY_STORE_RETENTION_DAYS=1 on a bucket whose default retention is
// 30 days refuses to write; locks of 1 day in a store whose policy is 30
// days, whether a run wrote them so (and its manifest says so) or the
// examiner shortened them, fail verify with retention-below-policy.
func TestStoreAttackRetentionWeakened(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newAttackStore(t)
	trust := fmt.Sprintf("trust:\n  - {name: responder, key: \"file://%s\"}\n", a.pub)

	// Through the environment: refused, naming both, nothing written.
	s := newStoreUnderAttack(t, a, 30, trust)
	f := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(f, []byte("note"), 0o600); err != nil {
		t.Fatal(err)
	}
	weak := binRun{env: append(append([]string(nil), a.bin.env...), "CUSTODY_STORE_RETENTION_DAYS=1")}
	out, errOut, code := weak.run(t, "-c", s.cfg, "add", "--case", "IR-13", f)
	if code != 2 || !strings.Contains(errOut, "store.retention") || !strings.Contains(errOut, "GOVERNANCE 1 day") || !strings.Contains(errOut, "GOVERNANCE 30 days") {
		t.Fatalf("add with CUSTODY_STORE_RETENTION_DAYS=1 on a 30-day bucket: exit %d\n%s%s", code, out, errOut)
	}
	if vs := s.versionsOf(t, custody.ManifestKey("custody", "responder-1", 1)); len(vs) != 0 {
		t.Fatalf("the refused add wrote manifest 1: %v", vs)
	}
	s.add(t, "note at the policy")
	s.clean(t)

	// The examiner shortens a manifest's lock to a day (GOVERNANCE bypass).
	m := custody.ManifestKey("custody", "responder-1", 1)
	if _, err := s.s3.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(s.bucket), Key: aws.String(m), BypassGovernanceRetention: aws.Bool(true),
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(time.Now().Add(24 * time.Hour))}}); err != nil {
		t.Fatal(err)
	}
	s.caught(t, "retention-below-policy", m)

	// A run configured for a day sealed 1-day locks faithfully; the
	// policy is now 30 days (the bucket's default raised to match).
	w := newStoreUnderAttack(t, a, 1, trust)
	w.add(t, "note locked for a day")
	w.clean(t)
	if _, err := w.s3.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: aws.String(w.bucket), ObjectLockConfiguration: &types.ObjectLockConfiguration{
		ObjectLockEnabled: types.ObjectLockEnabledEnabled,
		Rule:              &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(30)}},
	}}); err != nil {
		t.Fatal(err)
	}
	w.configure(t, 30, trust)
	w.caught(t, "retention-below-policy", custody.ManifestKey("custody", "responder-1", 1), "/cases/IR-13/")
	for _, v := range w.verify(t) {
		for _, f := range v.Findings {
			if strings.HasPrefix(f.Kind, "artifact-retention-") || f.Kind == "bucket-default-retention" {
				t.Errorf("verify %s: %+v (the locks are what was sealed, the bucket what is configured)", v.raw, f)
			}
		}
	}
}

// TestStoreAttackPlantedObjects: bytes stored as a .tsr of no manifest,
// as a .tsr and a note in a stream with no manifests, and as two versions
// of a manifest's .tsr are each reported; the package carries none of
// what verify did not check.
func TestStoreAttackPlantedObjects(t *testing.T) {
	t.Parallel()
	a := newAttackStore(t)
	s := newStoreUnderAttack(t, a, 1, fmt.Sprintf("trust:\n  - {name: responder, key: \"file://%s\"}\n", a.pub))
	s.add(t, "note")
	s.clean(t)

	junk := []byte("planted bytes")
	orphan := custody.TimestampKey("custody", "responder-1", 9)
	ghostToken := custody.TimestampKey("custody", "ghost", 1)
	ghostNote := "custody/manifests/ghost/notes.txt"
	tok1 := custody.TimestampKey("custody", "responder-1", 1)
	for _, k := range []string{orphan, ghostToken, ghostNote, tok1, tok1} {
		s.put(t, k, junk)
	}
	earlier := s.versionsOf(t, tok1)[1]
	s.caught(t, "unsealed-object", orphan, ghostToken, ghostNote, tok1+"?versionId="+earlier)
	s.caught(t, "timestamp-invalid", tok1)

	pkg := filepath.Join(t.TempDir(), "store.tar.gz")
	out, errOut, code := a.bin.run(t, "-c", s.cfg, "export", "--out", pkg)
	if _, err := os.Stat(pkg); err != nil {
		t.Fatalf("export: exit %d, no package: %v\n%s%s", code, err, out, errOut)
	}
	list, err := exec.Command("tar", "-tzf", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -tzf: %v\n%s", err, list)
	}
	for _, k := range []string{orphan, ghostToken, ghostNote, ".version-"} {
		if strings.Contains(string(list), k) {
			t.Errorf("the package carries %s, which verify did not check:\n%s", k, list)
		}
	}
}
