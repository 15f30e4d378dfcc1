package custody

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// witnessEnv is a GOVERNANCE evidence store whose chain has a witness: a
// GOVERNANCE bucket on the replica server (another region), cosigning
// with its own Ed25519 key.
type witnessEnv struct {
	*tamperEnv
	witness   *S3Witness
	wcfg      config.Witness
	wpub      ed25519.PublicKey
	wapi      *s3.Client
	manifests []string // keys of manifests 1..n
}

const witnessName = "witness.example/w1"

func newWitnessEnv(t *testing.T, manifests int) *witnessEnv {
	t.Helper()
	e := newTestEnv(t, config.ModeGovernance)
	replica := testaws.Require(t).ReplicaS3(t)
	bucket := testaws.CreateBucket(t, replica, testaws.BucketOptions{ObjectLock: true, Mode: types.ObjectLockRetentionModeGovernance, Days: 1})
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wcfg := config.Witness{Name: witnessName, Bucket: bucket, Region: testaws.Require(t).ReplicaRegion}
	w, err := NewS3Witness(replica, wcfg, pub).WithKey(priv, e.trust, e.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	e.chain.SetWitnesses(w)
	e.chain.Warn = func(err error) { t.Errorf("chain warning: %v", err) }
	we := &witnessEnv{tamperEnv: &tamperEnv{testEnv: e}, witness: w, wcfg: wcfg, wpub: pub, wapi: replica}
	for i := 0; i < manifests; i++ {
		m, _ := e.collect(e.chain, 1)
		we.manifests = append(we.manifests, m.Key)
	}
	return we
}

// verifyWitnessed verifies as a machine without the ledger, with the
// witness's public key alone.
func (we *witnessEnv) verifyWitnessed(ws ...*S3Witness) *Report {
	we.t.Helper()
	v := NewVerifier(we.s3, we.cfg, we.trust, nil, we.clock.now)
	if ws == nil {
		ws = []*S3Witness{NewS3Witness(we.wapi, we.wcfg, we.wpub)}
	}
	v.Witnesses = ws
	r, err := v.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		we.t.Fatal(err)
	}
	return r
}

// copyKey is the witness's copy of stream agent-1's checkpoint.
func (we *witnessEnv) copyKey() string {
	return WitnessKey("witness", we.cfg.Bucket, we.cfg.Prefix, "agent-1")
}

// witnessed is the newest copy the witness holds.
func (we *witnessEnv) witnessed() []byte {
	we.t.Helper()
	out, err := we.wapi.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(we.wcfg.Bucket), Key: aws.String(we.copyKey())})
	if err != nil {
		we.t.Fatal(err)
	}
	defer out.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(out.Body); err != nil {
		we.t.Fatal(err)
	}
	if out.ObjectLockMode != types.ObjectLockModeGovernance || out.ObjectLockRetainUntilDate == nil {
		we.t.Errorf("the witness copy is not locked by its bucket's default retention: %q %v", out.ObjectLockMode, out.ObjectLockRetainUntilDate)
	}
	return b.Bytes()
}

func TestWitnessedStoreVerifiesClean(t *testing.T) {
	t.Parallel()
	we := newWitnessEnv(t, 3)
	r := we.verifyWitnessed()
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("untouched witnessed store: %v", fs)
	}
	for _, f := range r.Findings {
		if strings.HasPrefix(string(f.Kind), "witness-") {
			t.Fatalf("untouched witnessed store: %v", f)
		}
	}
	out, err := we.wapi.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(we.wcfg.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Versions) != 3 || aws.ToString(out.Versions[0].Key) != "witness/"+we.cfg.Bucket+"/custody/agent-1/checkpoint" {
		t.Fatalf("witness bucket holds %d versions (want 3, one per checkpoint) at %q", len(out.Versions), aws.ToString(out.Versions[0].Key))
	}

	// A heartbeat is cosigned too: same size, a new copy.
	if err := we.chain.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, _ = we.wapi.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(we.wcfg.Bucket)})
	if len(out.Versions) != 4 {
		t.Fatalf("after a heartbeat the witness holds %d versions, want 4", len(out.Versions))
	}
}

// TestCosignatureIsC2SP parses the witness's copy back as the C2SP
// tlog-cosignature/v1 spec writes it, without custody's own verifier.
func TestCosignatureIsC2SP(t *testing.T) {
	t.Parallel()
	we := newWitnessEnv(t, 2)
	msg := we.witnessed()
	text, sigs, ok := strings.Cut(string(msg), "\n\n")
	if !ok {
		t.Fatalf("not a signed note:\n%s", msg)
	}
	text += "\n"
	lines := strings.Split(strings.TrimSuffix(sigs, "\n"), "\n")
	origin := LogOrigin(we.cfg.Bucket, we.cfg.Prefix, "agent-1")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "— "+origin+" ") || !strings.HasPrefix(lines[1], "— "+witnessName+" ") {
		t.Fatalf("want the log's signature then the witness's:\n%s", sigs)
	}
	if !strings.HasPrefix(text, origin+"\n2\n") {
		t.Fatalf("the cosigned checkpoint is not the store's of size 2:\n%s", text)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "— "+witnessName+" "))
	if err != nil || len(raw) != 4+8+64 {
		t.Fatalf("cosignature: %d bytes (%v), want 76", len(raw), err)
	}
	id := sha256.Sum256(append([]byte(witnessName+"\n\x04"), we.wpub...))
	if !bytes.Equal(raw[:4], id[:4]) {
		t.Fatalf("key id %x, want %x", raw[:4], id[:4])
	}
	ts := binary.BigEndian.Uint64(raw[4:12])
	if want := uint64(we.clock.now().Unix()); ts == 0 || ts > want {
		t.Fatalf("cosignature time %d, want at most the witness's clock (%d)", ts, want)
	}
	signed := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, text)
	if !ed25519.Verify(we.wpub, []byte(signed), raw[12:]) {
		t.Fatal("the cosignature does not verify over cosignature/v1, its time and the checkpoint")
	}
	// Flipping one byte of the checkpoint breaks it.
	if ed25519.Verify(we.wpub, []byte(strings.Replace(signed, "\n2\n", "\n3\n", 1)), raw[12:]) {
		t.Fatal("the cosignature verifies over another size")
	}
}

// TestWitnessCatchesTruncatedTail: the insider deletes the last two
// manifests and their checkpoint versions (GOVERNANCE bypass); the store
// is a consistent, shorter log, and only the witness remembers.
func TestWitnessCatchesTruncatedTail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	we := newWitnessEnv(t, 4)
	for _, v := range we.logVersions("agent-1")[2:] {
		we.remove(v.Key, v.VersionID)
	}
	for _, key := range we.manifests[2:] {
		out, err := we.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(we.cfg.Bucket), Prefix: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		we.remove(key, aws.ToString(out.Versions[0].VersionId))
	}
	// Without the witness the cut does not show (no ledger, no stale yet).
	r := we.verifyFresh(0)
	for _, f := range testaws.Failures(r.Findings) {
		if f.Kind == finding.ManifestMissing || f.Kind == finding.CheckpointBehind {
			t.Fatalf("a consistent cut shows without the witness: %v", f)
		}
	}
	r = we.verifyWitnessed()
	testaws.RequireFinding(t, r.Findings, finding.WitnessAhead, we.copyKey())
	for _, f := range r.Findings {
		if f.Kind == finding.WitnessAhead && strings.Contains(f.Message, witnessName) && strings.Contains(f.Message, "holds 4 manifests") &&
			strings.Contains(f.Message, `"agent-1"`) && strings.Contains(f.Message, "the store has 2") {
			return
		}
	}
	t.Fatalf("no witness-ahead names the witness, the stream and both sizes: %v", r.Findings)
}

// TestWitnessCatchesFork: the insider, holding the genuine key, rewrites
// the newest manifest and stores a checkpoint over the new root at the
// same size; the witness holds the old root.
func TestWitnessCatchesFork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	we := newWitnessEnv(t, 3)
	var envs [][]byte
	for _, key := range we.manifests {
		out, err := we.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(we.cfg.Bucket), Prefix: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, we.get(key, aws.ToString(out.Versions[0].VersionId)))
		if key == we.manifests[2] {
			we.remove(key, aws.ToString(out.Versions[0].VersionId))
		}
	}
	env, err := ParseEnvelope(bytes.NewReader(envs[2]))
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		t.Fatal(err)
	}
	st["predicate"].(map[string]any)["what"].(map[string]any)["description"] = "rewritten"
	payload, _ := json.Marshal(st)
	if envs[2], err = SignEnvelope(we.signer, PayloadType, payload); err != nil {
		t.Fatal(err)
	}
	we.put(we.manifests[2], envs[2])
	vs := we.logVersions("agent-1")
	we.remove(vs[2].Key, vs[2].VersionID)
	root, front := LogOf(envs)
	sum := sha256.Sum256(envs[2])
	forged, err := signLogCheckpoint(LogCheckpoint{Origin: LogOrigin(we.cfg.Bucket, we.cfg.Prefix, "agent-1"), Size: 3, Root: root, Time: we.clock.now(),
		Closed: true, HeadSHA: fmt.Sprintf("%x", sum), Frontier: front}, we.signer)
	if err != nil {
		t.Fatal(err)
	}
	we.put(LogCheckpointKey(we.cfg.Prefix, "agent-1"), forged)

	for _, f := range testaws.Failures(we.verifyFresh(0).Findings) {
		if f.Kind == finding.CheckpointFork {
			t.Fatalf("the store's own log shows the fork without the witness: %v", f)
		}
	}
	r := we.verifyWitnessed()
	testaws.RequireFinding(t, r.Findings, finding.WitnessFork, we.copyKey())
	for _, f := range r.Findings {
		if f.Kind == finding.WitnessFork && strings.Contains(f.Message, witnessName) && strings.Contains(f.Message, "size 3") {
			return
		}
	}
	t.Fatalf("no witness-fork names the witness and the size: %v", r.Findings)
}

// TestWitnessRefusesRollback: a witness never cosigns a smaller tree than
// it holds, nor another root at the same size, whether it remembers the
// copy (the same process) or reads it back (a fresh one).
func TestWitnessRefusesRollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	we := newWitnessEnv(t, 3)
	vs := we.logVersions("agent-1")
	first := we.get(vs[0].Key, vs[0].VersionID)
	fresh, err := NewS3Witness(we.wapi, we.wcfg, we.wpub).WithKey(we.witness.priv, we.trust, we.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range map[string]*S3Witness{"the same witness": we.witness, "a fresh witness": fresh} {
		err := w.Cosign(ctx, we.cfg.Bucket, we.cfg.Prefix, "agent-1", first)
		if !errors.Is(err, ErrWitnessRefused) || !strings.Contains(err.Error(), "holds 3 manifests") {
			t.Errorf("%s cosigned a tree of 1 over one of 3: %v", name, err)
		}
	}
	forged, _ := signLogCheckpoint(LogCheckpoint{Origin: LogOrigin(we.cfg.Bucket, we.cfg.Prefix, "agent-1"), Size: 3, Root: leafHash([]byte("other")),
		Time: we.clock.now(), Closed: true, HeadSHA: strings.Repeat("0", 64)}, we.signer)
	if err := fresh.Cosign(ctx, we.cfg.Bucket, we.cfg.Prefix, "agent-1", forged); !errors.Is(err, ErrWitnessRefused) {
		t.Errorf("cosigned another root at the same size: %v", err)
	}
	// A checkpoint not signed by the store's key is refused too.
	other, _ := signLogCheckpoint(LogCheckpoint{Origin: LogOrigin(we.cfg.Bucket, we.cfg.Prefix, "agent-1"), Size: 4, Root: leafHash([]byte("x")),
		Time: we.clock.now(), Closed: true, HeadSHA: strings.Repeat("0", 64)}, newKey(t))
	if err := fresh.Cosign(ctx, we.cfg.Bucket, we.cfg.Prefix, "agent-1", other); err == nil || !strings.Contains(err.Error(), "not signed by the store's key") {
		t.Errorf("cosigned a checkpoint of another key: %v", err)
	}
	if out, _ := we.wapi.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(we.wcfg.Bucket)}); len(out.Versions) != 3 {
		t.Fatalf("a refused checkpoint was stored: %d versions", len(out.Versions))
	}
}

// TestUnreachableWitness: a witness that cannot be written does not fail
// the seal; one that cannot be read is a warning while another can be,
// and verify cannot complete when none can.
func TestUnreachableWitness(t *testing.T) {
	t.Parallel()
	we := newWitnessEnv(t, 1)
	gone := config.Witness{Name: "witness.example/gone", Bucket: testaws.BucketName(t)}
	bad, err := NewS3Witness(we.wapi, gone, we.wpub).WithKey(we.witness.priv, we.trust, we.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	var warned []error
	we.chain.SetWitnesses(bad, we.witness)
	we.chain.Warn = func(err error) { warned = append(warned, err) }
	we.collect(we.chain, 1)
	if len(warned) != 1 || !strings.Contains(warned[0].Error(), "witness.example/gone") {
		t.Fatalf("warnings %v, want one naming the failed witness", warned)
	}
	r := we.verifyWitnessed(NewS3Witness(we.wapi, gone, we.wpub), NewS3Witness(we.wapi, we.wcfg, we.wpub))
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("failures: %v", fs)
	}
	warnedOf := false
	for _, f := range r.Findings {
		warnedOf = warnedOf || f.Kind == finding.WitnessUnreachable && f.Severity == finding.Warning && strings.Contains(f.Object, gone.Bucket)
	}
	if !warnedOf {
		t.Fatalf("no witness-unreachable warning names %s: %v", gone.Bucket, r.Findings)
	}
	v := NewVerifier(we.s3, we.cfg, we.trust, nil, we.clock.now)
	v.Witnesses = []*S3Witness{NewS3Witness(we.wapi, gone, we.wpub)}
	if _, err := v.Verify(context.Background(), VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "no witness could be read") {
		t.Fatalf("verify with no readable witness: %v", err)
	}
}

// TestWitnessCatchesDeletedStream: the insider deletes a stream's every
// manifest and checkpoint version; the witness still holds its copy.
func TestWitnessCatchesDeletedStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	we := newWitnessEnv(t, 2)
	out, err := we.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(we.cfg.Bucket), Prefix: aws.String(ManifestPrefix(we.cfg.Prefix) + "agent-1/")})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out.Versions {
		we.remove(aws.ToString(v.Key), aws.ToString(v.VersionId))
	}
	r := we.verifyWitnessed()
	testaws.RequireFinding(t, r.Findings, finding.WitnessAhead, we.copyKey())
	for _, f := range r.Findings {
		if f.Kind == finding.WitnessAhead && strings.Contains(f.Message, "holds 2 manifests") && strings.Contains(f.Message, "lacks entirely") {
			return
		}
	}
	t.Fatalf("no witness-ahead says the store lacks the stream: %v", r.Findings)
}
