package custody

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

// TestFrontierIsTheRFC6962Tree: the writer's frontier gives the tree hash
// tlog computes from every stored hash, at every size.
func TestFrontierIsTheRFC6962Tree(t *testing.T) {
	t.Parallel()
	f, tree := &frontier{}, &logTree{}
	for i := 0; i < 300; i++ {
		leaf := leafHash(fmt.Appendf(nil, "manifest %d", i))
		f.append(leaf)
		if err := tree.append(leaf); err != nil {
			t.Fatal(err)
		}
		want, err := tree.root(tree.size)
		if err != nil || f.root() != want || !f.valid() {
			t.Fatalf("size %d: frontier root %s, tlog %s (%v)", f.size, f.root(), want, err)
		}
		g, ok := frontierOf(LogCheckpoint{Size: f.size, Root: want, Frontier: f.nodes})
		if !ok || g.root() != want {
			t.Fatalf("size %d: the checkpoint's frontier does not restore the log", f.size)
		}
	}
}

func TestLogCheckpointSignatures(t *testing.T) {
	t.Parallel()
	signer := newKey(t)
	pub, _ := signer.PublicKey()
	trusted, _ := NewTrustedKey("test", pub, time.Time{}, time.Time{})
	f := &frontier{}
	f.append(leafHash([]byte("m1")))
	origin := LogOrigin("bucket", "custody", "agent-1")
	cp := LogCheckpoint{Origin: origin, Size: 1, Root: f.root(), Time: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), Heartbeat: time.Hour,
		HeadSHA: strings.Repeat("a", 64), Frontier: f.nodes}
	msg, err := signLogCheckpoint(cp, signer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg), origin+"\n1\n") || !strings.Contains(string(msg), "\n\n— "+origin+" ") {
		t.Fatalf("not a C2SP checkpoint:\n%s", msg)
	}
	got, k, err := openLogCheckpoint(msg, origin, []TrustedKey{trusted})
	if err != nil || got.Size != 1 || got.Root != cp.Root || got.Heartbeat != time.Hour || k.KeyID != trusted.KeyID || !got.Time.Equal(cp.Time) {
		t.Fatalf("open: %+v %v", got, err)
	}
	other, _ := newKey(t).PublicKey()
	untrusted, _ := NewTrustedKey("other", other, time.Time{}, time.Time{})
	for name, try := range map[string]func() error{
		"another stream's origin": func() error {
			_, _, err := openLogCheckpoint(msg, LogOrigin("bucket", "custody", "agent-2"), []TrustedKey{trusted})
			return err
		},
		"an untrusted key": func() error { _, _, err := openLogCheckpoint(msg, origin, []TrustedKey{untrusted}); return err },
		"an edited size": func() error {
			_, _, err := openLogCheckpoint([]byte(strings.Replace(string(msg), "\n1\n", "\n2\n", 1)), origin, []TrustedKey{trusted})
			return err
		},
	} {
		if try() == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

// logVersions lists a stream's log checkpoint versions, oldest first.
func (e *testEnv) logVersions(stream string) []ObjectVersion {
	e.t.Helper()
	out, err := e.s3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String(LogCheckpointKey(e.cfg.Prefix, stream))})
	if err != nil {
		e.t.Fatal(err)
	}
	var vs []ObjectVersion
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == LogCheckpointKey(e.cfg.Prefix, stream) {
			vs = append([]ObjectVersion{{Key: aws.ToString(v.Key), VersionID: aws.ToString(v.VersionId), LastModified: aws.ToTime(v.LastModified)}}, vs...)
		}
	}
	return vs
}

// verifyFresh verifies as a machine without the ledger does.
func (e *testEnv) verifyFresh(tolerance time.Duration) *Report {
	e.t.Helper()
	v := NewVerifier(e.s3, e.cfg, e.trust, nil, e.clock.now)
	v.ClockTolerance = tolerance
	r, err := v.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func TestEveryCheckpointVersionIsChecked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	te := newTamperEnv(t) // three manifests, a checkpoint version after each
	vs := te.logVersions("agent-1")
	if len(vs) != 3 {
		t.Fatalf("%d checkpoint versions, want 3", len(vs))
	}
	if r := te.verifyFresh(0); !r.OK {
		t.Fatalf("untouched: %v", testaws.Failures(r.Findings))
	}
	key := LogCheckpointKey("custody", "agent-1")

	// An old checkpoint stored again as the newest version: the log
	// shrinks, and the newest no longer covers the newest manifest.
	te.put(key, te.get(key, vs[0].VersionID))
	r := te.verifyFresh(0)
	testaws.RequireFinding(t, r.Findings, finding.CheckpointRollback, key)
	testaws.RequireFinding(t, r.Findings, finding.CheckpointBehind, key)

	// A checkpoint over a different root at the same size, signed with the
	// genuine key (a fork): its root is not the manifests' tree.
	cp := LogCheckpoint{Origin: LogOrigin(te.cfg.Bucket, "custody", "agent-1"), Size: 3, Root: tlog.RecordHash([]byte("forged")), Time: te.clock.now(),
		Closed: true, HeadSHA: strings.Repeat("0", 64)}
	forged, err := signLogCheckpoint(cp, te.signer)
	if err != nil {
		t.Fatal(err)
	}
	te.put(key, forged)
	r = te.verifyFresh(0)
	testaws.RequireFinding(t, r.Findings, finding.CheckpointFork, key)

	// Signed long before it was stored: a replay, whatever its content.
	cp.Time = time.Now().Add(-3 * time.Hour)
	old, _ := signLogCheckpoint(cp, te.signer)
	te.put(key, old)
	testaws.RequireFinding(t, te.verifyFresh(0).Findings, finding.CheckpointReplayed, key)
	_ = ctx
}

func TestTruncatedTailIsStaleFromAnyMachine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance)
	e.chain.SetHeartbeat(time.Minute)
	// The stream's checkpoints were signed three hours ago (the signing
	// clock is set back; the tolerance covers S3's later LastModified).
	e.clock.t = time.Now().Add(-3 * time.Hour)
	var ms []string
	for i := 0; i < 4; i++ {
		m, _ := e.collect(e.chain, 1)
		ms = append(ms, m.Key)
	}
	// The insider removes the last two manifests and the two newest
	// checkpoint versions: what is left is a consistent, shorter log.
	te := &tamperEnv{testEnv: e}
	vs := e.logVersions("agent-1")
	for _, v := range vs[2:] {
		te.remove(v.Key, v.VersionID)
	}
	for _, key := range ms[2:] {
		out, err := e.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		te.remove(key, aws.ToString(out.Versions[0].VersionId))
	}
	r := e.verifyFresh(4 * time.Hour)
	testaws.RequireFinding(t, r.Findings, finding.StreamStale, "manifests/agent-1/")
	// A heartbeat from the live agent clears it: the stream is alive and
	// consistent (the tail is then only provable gone by a witness).
	e.clock.t = time.Now()
	if err := e.chain.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range e.verifyFresh(4 * time.Hour).Findings {
		if f.Kind == finding.StreamStale {
			t.Fatalf("stale after a heartbeat: %v", f)
		}
	}
}

func TestClosedStreamsAreNeverStale(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, config.ModeGovernance)
	e.clock.t = time.Now().Add(-3 * time.Hour)
	e.collect(e.chain, 1) // a one-shot command: the stream closes
	r := e.verifyFresh(4 * time.Hour)
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("closed stream: %v", fs)
	}
}

// TestOldStoresMoveToTheLog: a store written before the log (DSSE
// checkpoints only) verifies, with a warning, and moves to the log at
// its next seal, which records the old head; its old checkpoints are
// still checked.
func TestOldStoresMoveToTheLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance)
	te := &tamperEnv{testEnv: e}
	m1, _ := e.collect(e.chain, 1)
	m2, _ := e.collect(e.chain, 1)
	// Make it an old store: no log checkpoint, no registry, and the old
	// format's checkpoint at manifest 2.
	for _, prefix := range []string{LogCheckpointKey("custody", "agent-1"), RegistryPrefix("custody")} {
		out, err := e.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			te.remove(aws.ToString(v.Key), aws.ToString(v.VersionId))
		}
	}
	for _, m := range []ledger.Manifest{m1, m2} {
		payload, _ := json.Marshal(Checkpoint{Stream: "agent-1", Sequence: m.Seq, EnvelopeSHA256: m.EnvelopeSHA256, ManifestKey: m.Key, ManifestVersion: m.VersionID, At: e.clock.now()})
		env, err := SignEnvelope(e.signer, CheckpointPayloadType, payload)
		if err != nil {
			t.Fatal(err)
		}
		te.put(CheckpointKey("custody", "agent-1"), env)
	}
	r := e.verifyFresh(0)
	if fs := testaws.Failures(r.Findings); len(fs) != 0 {
		t.Fatalf("old store: %v", fs)
	}
	legacy := false
	for _, f := range r.Findings {
		legacy = legacy || (f.Kind == finding.CheckpointLegacy && f.Severity == SeverityWarning && strings.Contains(f.Object, CheckpointKey("custody", "agent-1")))
	}
	if !legacy {
		t.Fatalf("old store: no checkpoint-legacy warning: %v", r.Findings)
	}

	// The next seal, by a host without the ledger, moves it to the log.
	l2, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), ledger.WithClock(e.clock.now))
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	e.store, err = OpenStore(ctx, e.s3, e.cfg, e.clock.now) // another host: its own view of the registry
	if err != nil {
		t.Fatal(err)
	}
	e.collect(e.newChain(l2, "agent-1"), 1)
	vs := e.logVersions("agent-1")
	if len(vs) != 1 {
		t.Fatalf("%d log checkpoint versions after the move, want 1", len(vs))
	}
	cp, err := ParseLogCheckpoint(te.get(vs[0].Key, vs[0].VersionID))
	if err != nil || cp.Size != 3 || cp.MigratedSeq != 2 || cp.MigratedSHA != m2.EnvelopeSHA256 {
		t.Fatalf("first log checkpoint: %+v %v", cp, err)
	}
	r = e.verifyFresh(0)
	for _, f := range r.Findings {
		if f.Severity == SeverityFailure || f.Kind == finding.CheckpointLegacy {
			t.Fatalf("moved store: %v", f)
		}
	}
	// An old checkpoint that lies is still caught once the log exists.
	payload, _ := json.Marshal(Checkpoint{Stream: "agent-1", Sequence: 2, EnvelopeSHA256: strings.Repeat("0", 64), At: e.clock.now()})
	env, _ := SignEnvelope(e.signer, CheckpointPayloadType, payload)
	te.put(CheckpointKey("custody", "agent-1"), env)
	testaws.RequireFinding(t, e.verifyFresh(0).Findings, finding.CheckpointMismatch, CheckpointKey("custody", "agent-1"))
}

// TestLedgerKnowsItsStreams: on the agent's host, a stream deleted whole
// is missing even where the registry cannot tell (its entries gone too).
func TestLedgerKnowsItsStreams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance)
	te := &tamperEnv{testEnv: e}
	e.collect(e.chain, 1)
	other := e.newChain(e.ledger, "other")
	e.collect(other, 1)
	for _, prefix := range []string{ManifestPrefix("custody") + "other/", RegistryPrefix("custody")} {
		out, err := e.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			te.remove(aws.ToString(v.Key), aws.ToString(v.VersionId))
		}
	}
	testaws.RequireFinding(t, e.verify(VerifyOptions{}).Findings, finding.ManifestMissing, ManifestKey("custody", "other", 1))
}

func TestLogOrigin(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ prefix, want string }{
		{"custody", "s3://evidence/custody/manifests/agent-1"},
		{"", "s3://evidence/manifests/agent-1"},
		{"/a/b/", "s3://evidence/a/b/manifests/agent-1"},
	} {
		if got := LogOrigin("evidence", c.prefix, "agent-1"); got != c.want {
			t.Errorf("LogOrigin(prefix %q) = %q, want %q", c.prefix, got, c.want)
		}
	}
}
