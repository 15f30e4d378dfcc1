package main

// The hostile examiner's attacks on a stream's log (issue 13), through the
// real binary against a GOVERNANCE bucket: a tail cut from a stream whose
// agent died, an old checkpoint stored again as the newest, a checkpoint
// forked with the genuine key, and a whole stream deleted. Each verify
// runs three times: on the agent's host (its ledger), with --no-ledger,
// and as a fresh machine would (the same configuration, a ledger file that
// does not exist). A closed stream is never stale, and an untouched store
// verifies clean from anywhere.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// newLogStore sets up a GOVERNANCE store of one day whose configuration
// has the given agent section and extra sections (sources, schedules),
// trusting the attack key, and runs store init.
func newLogStore(t *testing.T, a *attackStore, agent, extra string) *storeUnderAttack {
	t.Helper()
	s := &storeUnderAttack{a: a, bucket: testaws.BucketName(t), s3: a.env.S3(t)}
	dir := t.TempDir()
	s.cfg, s.fresh = filepath.Join(dir, "custody.yaml"), filepath.Join(dir, "fresh.yaml")
	body := func(ledgerPath string) string {
		return fmt.Sprintf(`ledger: %s
agent: %s
store:
  bucket: %s
  retention: {mode: GOVERNANCE, days: 1}
signer:
  key: file://%s
trust:
  - name: responder
    key: file://%s
%s`, ledgerPath, agent, s.bucket, a.key, a.pub, extra)
	}
	writeConfig(t, s.cfg, body(filepath.Join(dir, "ledger.db")))
	writeConfig(t, s.fresh, body(filepath.Join(t.TempDir(), "never-written", "ledger.db")))
	a.must(t, "-c", s.cfg, "store", "init")
	return s
}

// streamConfig writes a copy of the store's configuration (the same
// ledger) for another stream and returns its path.
func (s *storeUnderAttack) streamConfig(t *testing.T, stream string) string {
	t.Helper()
	b, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := s.cfg + "." + stream + ".yaml"
	writeConfig(t, p, strings.Replace(string(b), "stream: responder-1", "stream: "+stream, 1))
	return p
}

// addTo seals one file with custody add under cfg (a stream custody add
// closes).
func (s *storeUnderAttack) addTo(t *testing.T, cfg, caseID, content string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	s.a.must(t, "-c", cfg, "add", "--case", caseID, f)
}

// getVersion reads one version of key.
func (s *storeUnderAttack) getVersion(t *testing.T, key, id string) []byte {
	t.Helper()
	out, err := s.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), VersionId: aws.String(id)})
	if err != nil {
		t.Fatalf("get %s?versionId=%s: %v", key, id, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// remove deletes one version as the insider does: the legal hold lifted
// (GOVERNANCE lets them; on an unheld version this does nothing), then
// deleted with governance bypass.
func (s *storeUnderAttack) remove(t *testing.T, key, id string) {
	t.Helper()
	ctx := context.Background()
	_, _ = s.s3.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String(s.bucket), Key: aws.String(key), VersionId: aws.String(id),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
	if _, err := s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), VersionId: aws.String(id),
		BypassGovernanceRetention: aws.Bool(true)}); err != nil {
		t.Fatalf("delete %s?versionId=%s: %v", key, id, err)
	}
}

// removeAll deletes every version of key.
func (s *storeUnderAttack) removeAll(t *testing.T, key string) int {
	t.Helper()
	ids := s.versionsOf(t, key)
	for _, id := range ids {
		s.remove(t, key, id)
	}
	return len(ids)
}

// removeUnder deletes every version and delete marker under prefix.
func (s *storeUnderAttack) removeUnder(t *testing.T, prefix string) int {
	t.Helper()
	p := s3.NewListObjectVersionsPaginator(s.s3, &s3.ListObjectVersionsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			s.remove(t, aws.ToString(v.Key), aws.ToString(v.VersionId))
			n++
		}
		for _, m := range page.DeleteMarkers {
			s.remove(t, aws.ToString(m.Key), aws.ToString(m.VersionId))
			n++
		}
	}
	return n
}

// lastManifest is the highest sequence number of stream's manifests in
// the bucket.
func (s *storeUnderAttack) lastManifest(t *testing.T, stream string) int64 {
	t.Helper()
	p := s3.NewListObjectVersionsPaginator(s.s3, &s3.ListObjectVersionsInput{Bucket: aws.String(s.bucket), Prefix: aws.String("custody/manifests/" + stream + "/")})
	var last int64
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			if st, seq, ok := custody.ParseManifestKey("custody", aws.ToString(v.Key)); ok && st == stream && seq > last {
				last = seq
			}
		}
	}
	return last
}

// checkpoints reads every version of stream's log checkpoint, newest
// first, as version ids and parsed checkpoints.
func (s *storeUnderAttack) checkpoints(t *testing.T, stream string) ([]string, []custody.LogCheckpoint) {
	t.Helper()
	key := custody.LogCheckpointKey("custody", stream)
	ids := s.versionsOf(t, key)
	cps := make([]custody.LogCheckpoint, len(ids))
	for i, id := range ids {
		cp, err := custody.ParseLogCheckpoint(s.getVersion(t, key, id))
		if err != nil {
			t.Fatalf("%s?versionId=%s: %v", key, id, err)
		}
		cps[i] = cp
	}
	return ids, cps
}

// cutTail deletes the last n manifests of stream whole: every version of
// each manifest, of the artifacts it seals, and of the checkpoint
// versions that record it. It returns the sequence number left last.
func (s *storeUnderAttack) cutTail(t *testing.T, stream string, n int64) int64 {
	t.Helper()
	last := s.lastManifest(t, stream)
	keep := last - n
	if keep < 1 {
		t.Fatalf("stream %q has %d manifests; cutting %d leaves none", stream, last, n)
	}
	for seq := keep + 1; seq <= last; seq++ {
		key := custody.ManifestKey("custody", stream, seq)
		env, err := custody.ParseEnvelope(bytes.NewReader(s.get(t, key)))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		st, err := env.Statement()
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		for _, sub := range st.Subject {
			s.removeAll(t, sub.Name)
		}
		s.removeAll(t, custody.TimestampKey("custody", stream, seq))
		if s.removeAll(t, key) == 0 {
			t.Fatalf("no versions of %s to delete", key)
		}
	}
	key := custody.LogCheckpointKey("custody", stream)
	ids, cps := s.checkpoints(t, stream)
	cut := 0
	for i, cp := range cps {
		if cp.Size > keep {
			s.remove(t, key, ids[i])
			cut++
		}
	}
	// A writer killed between a manifest and its checkpoint leaves the
	// last manifest without one: at least one version must go.
	if cut == 0 {
		t.Fatalf("no checkpoint version of stream %q recorded manifests %d..%d", stream, keep+1, last)
	}
	return keep
}

// failure reports whether a verdict holds a failure of kind whose object
// names every one of names.
func failure(v bundleVerdict, kind string, names ...string) bool {
	for _, f := range v.Findings {
		if f.Severity != "failure" || f.Kind != kind {
			continue
		}
		all := true
		for _, n := range names {
			all = all && strings.Contains(f.Object, n)
		}
		if all {
			return true
		}
	}
	return false
}

// Which verify of storeUnderAttack.verify a verdict is.
const (
	onAgentHost = iota // the configuration with its ledger
	noLedger           // --no-ledger
	freshHost          // a configuration whose ledger does not exist
)

// expect requires a failure of kind naming names in the verdicts at the
// given indexes (all three when none are given).
func expect(t *testing.T, vs []bundleVerdict, kind string, names []string, which ...int) {
	t.Helper()
	if len(which) == 0 {
		which = []int{onAgentHost, noLedger, freshHost}
	}
	for _, i := range which {
		if *vs[i].OK || !failure(vs[i], kind, names...) {
			t.Errorf("verify %s: ok=%v, no %s failure naming %q; findings: %+v", vs[i].raw, *vs[i].OK, kind, names, vs[i].Findings)
		}
	}
}

// TestLogAttackTailCutFromAKilledAgent: an agent with agent.heartbeat 1m
// seals a few collections and is killed (SIGKILL: it closes nothing); the
// insider deletes the last two manifests whole, with their artifacts and
// every checkpoint version that recorded them. What is left is a shorter,
// consistent log. On the agent's host the ledger knows the lost head;
// from any machine, once the newest remaining checkpoint is older than
// twice its heartbeat by S3's clock, the stream is stale. A stream that
// custody add closed, in the same store and as old, is not.
func TestLogAttackTailCutFromAKilledAgent(t *testing.T) {
	t.Parallel()
	a := newAttackStore(t)
	c := a.env.S3(t)
	src := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String("data/report.csv"),
		Body: strings.NewReader("a,b\n1,2\n")}); err != nil {
		t.Fatal(err)
	}
	s := newLogStore(t, a, `{stream: responder-1, heartbeat: 1m, log_json: true, listen: "127.0.0.1:0"}`, fmt.Sprintf(`schedules: {cloudtrail: "", config: "", posture: "@every 1s", versions: "@every 1s", jitter: 0s}
sources:
  accounts:
    - id: "123456789012"
      regions: [us-east-1]
      buckets: [%s]
`, src))
	laptop := s.streamConfig(t, "laptop-1")
	s.addTo(t, laptop, "IR-13", "a responder's note, sealed and closed")

	// The agent, as a process of its own, killed once it has sealed at
	// least four manifests.
	cmd := exec.Command(custodyBin(t), "-c", s.cfg, "agent")
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUSTODY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, a.bin.env...)
	var logs testaws.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			_ = cmd.Process.Kill() // SIGKILL: no graceful close
			_ = cmd.Wait()         // a killed process exits non-zero
		}
	}
	t.Cleanup(kill)
	for deadline := time.Now().Add(time.Minute); s.lastManifest(t, "responder-1") < 4; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			kill()
			t.Fatalf("the agent sealed fewer than 4 manifests in a minute:\n%s", logs.String())
		}
	}
	kill()
	if _, cps := s.checkpoints(t, "responder-1"); len(cps) == 0 || cps[0].Closed || cps[0].Heartbeat != time.Minute {
		t.Fatalf("the killed agent's newest checkpoint: %+v; want one promising a heartbeat of 1m", cps)
	}

	keep := s.cutTail(t, "responder-1", 2)
	_, cps := s.checkpoints(t, "responder-1")
	var newest time.Time
	for _, cp := range cps {
		if cp.Size > keep {
			t.Fatalf("a checkpoint of %d manifests survived the cut to %d", cp.Size, keep)
		}
		if cp.Time.After(newest) {
			newest = cp.Time
		}
	}
	if newest.IsZero() {
		t.Fatal("the cut left no checkpoint of stream responder-1")
	}

	// On the agent's host the ledger knows the lost head at once.
	expect(t, s.verify(t), "manifest-missing", []string{custody.ManifestKey("custody", "responder-1", keep+2)}, onAgentHost)

	// Twice the heartbeat after the newest remaining checkpoint (S3 runs
	// on this machine's clock), plus a margin.
	time.Sleep(time.Until(newest.Add(2*time.Minute + 15*time.Second)))
	vs := s.verify(t)
	expect(t, vs, "stream-stale", []string{"custody/manifests/responder-1/"})
	expect(t, vs, "manifest-missing", []string{custody.ManifestKey("custody", "responder-1", keep+2)}, onAgentHost)
	for _, v := range vs {
		if failure(v, "stream-stale", "custody/manifests/laptop-1/") {
			t.Errorf("verify %s: the closed stream laptop-1 is reported stale: %+v", v.raw, v.Findings)
		}
	}
}

// TestLogAttackOldCheckpointReplayed: the insider stores an old, genuinely
// signed checkpoint version again as the newest (no key, nothing deleted).
// Verify reads every version: the newest records fewer manifests than the
// one before it and than the stream holds, from any machine.
func TestLogAttackOldCheckpointReplayed(t *testing.T) {
	t.Parallel()
	a := newAttackStore(t)
	s := newLogStore(t, a, "{stream: responder-1}", "")
	for i := 1; i <= 3; i++ {
		s.add(t, fmt.Sprintf("note %d", i))
	}
	s.clean(t)

	key := custody.LogCheckpointKey("custody", "responder-1")
	ids, cps := s.checkpoints(t, "responder-1")
	if cps[0].Size != 3 {
		t.Fatalf("the newest checkpoint records %d manifests, want 3", cps[0].Size)
	}
	old := ""
	for i, cp := range cps {
		if cp.Size == 1 {
			old = ids[i]
		}
	}
	if old == "" {
		t.Fatalf("no checkpoint version records 1 manifest: %+v", cps)
	}
	// Stored again a few seconds after it was signed: long enough for a
	// verifier whose clock tolerance is shorter to see the replay itself.
	var signed time.Time
	for i, id := range ids {
		if id == old {
			signed = cps[i].Time
		}
	}
	time.Sleep(time.Until(signed.Add(6 * time.Second)))
	s.put(t, key, s.getVersion(t, key, old))
	replayed := s.versionsOf(t, key)[0]
	obj := key + "?versionId=" + replayed

	vs := s.verify(t)
	expect(t, vs, "checkpoint-rollback", []string{obj})
	expect(t, vs, "checkpoint-behind", []string{obj})

	// A fresh machine that allows S3's clock 3 s of disagreement with a
	// signer's (verify.clock_tolerance) also sees when it was stored.
	tight := binRun{env: append(append([]string(nil), a.bin.env...), "CUSTODY_VERIFY_CLOCK_TOLERANCE=3s")}
	out, errOut, code := tight.run(t, "-c", s.fresh, "--json", "verify")
	var v bundleVerdict
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.OK == nil {
		t.Fatalf("verify with a 3s clock tolerance: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	v.raw = "-c " + s.fresh + " (verify.clock_tolerance 3s)"
	expect(t, []bundleVerdict{v}, "checkpoint-replayed", []string{obj}, 0)
	if code != 1 {
		t.Errorf("verify %s: exit %d, want 1", v.raw, code)
	}
}

// TestLogAttackForkedCheckpoint: holding the genuine signing key, the
// insider stores a checkpoint of the stream's size with another root (a
// rewritten history), signed and dated now. It is a fork of the log the
// manifests make, and of the checkpoint stored before it.
func TestLogAttackForkedCheckpoint(t *testing.T) {
	t.Parallel()
	a := newAttackStore(t)
	s := newLogStore(t, a, "{stream: responder-1}", "")
	s.add(t, "note 1")
	s.add(t, "note 2")
	s.clean(t)

	_, cps := s.checkpoints(t, "responder-1")
	forged := cps[0]
	if forged.Size != 2 {
		t.Fatalf("the newest checkpoint records %d manifests, want 2", forged.Size)
	}
	forged.Root = sha256.Sum256([]byte("a rewritten history"))
	forged.Time = time.Now().UTC().Truncate(time.Second)
	signer, err := custody.LoadSigner(context.Background(), config.Signer{Key: "file://" + a.key, PassphraseEnv: "PASS"},
		func(string) string { return attackPassphrase })
	if err != nil {
		t.Fatal(err)
	}
	msg, err := custody.SignLogCheckpoint(forged, signer)
	if err != nil {
		t.Fatal(err)
	}
	key := custody.LogCheckpointKey("custody", "responder-1")
	s.put(t, key, msg)
	obj := key + "?versionId=" + s.versionsOf(t, key)[0]

	vs := s.verify(t)
	expect(t, vs, "checkpoint-fork", []string{obj})
	for _, v := range vs {
		if failure(v, "checkpoint-malformed", obj) || failure(v, "checkpoint-replayed", obj) {
			t.Errorf("verify %s: the forged checkpoint is genuinely signed and dated now: %+v", v.raw, v.Findings)
		}
	}
}

// TestLogAttackWholeStreamDeleted: one of two streams deleted whole (its
// manifests, every checkpoint version, its case's artifacts). Nothing of
// it is left to check: the store's registry of streams, which recorded it
// with its 2 manifests, tells on every host. (The ledger's heads are
// consulted only for streams still in the bucket, so on the agent's host
// it is the registry that tells as well.)
func TestLogAttackWholeStreamDeleted(t *testing.T) {
	t.Parallel()
	a := newAttackStore(t)
	s := newLogStore(t, a, "{stream: responder-1}", "")
	second := s.streamConfig(t, "responder-2")
	s.add(t, "first responder's note")
	s.addTo(t, second, "IR-2", "second responder's note")
	s.addTo(t, second, "IR-2", "a later note")
	s.clean(t)

	if n := s.removeUnder(t, "custody/manifests/responder-2/") + s.removeUnder(t, "custody/cases/IR-2/"); n < 5 {
		t.Fatalf("removed %d versions of stream responder-2, want at least 5 (2 manifests, 2 artifacts, checkpoints)", n)
	}

	vs := s.verify(t)
	expect(t, vs, "stream-missing", []string{"custody/manifests/responder-2/"})
	for _, v := range vs {
		for _, f := range v.Findings {
			if f.Kind == "stream-missing" && !strings.Contains(f.Message, "2 manifests") {
				t.Errorf("verify %s: stream-missing does not say how many manifests were recorded: %+v", v.raw, f)
			}
		}
	}
}

// TestLogAttackClosedStreamNeverStale: custody add closes its stream with
// a signed final checkpoint, which promises no heartbeat: verify from a
// fresh machine finds the untouched store clean though its newest
// checkpoint is older than twice a heartbeat of zero.
func TestLogAttackClosedStreamNeverStale(t *testing.T) {
	t.Parallel()
	a := newAttackStore(t)
	s := newLogStore(t, a, "{stream: responder-1}", "")
	s.add(t, "note 1")
	s.add(t, "note 2")
	_, cps := s.checkpoints(t, "responder-1")
	if !cps[0].Closed || cps[0].Heartbeat != 0 || cps[0].Size != 2 {
		t.Fatalf("custody add's newest checkpoint: %+v; want a closed one of 2 manifests", cps[0])
	}
	time.Sleep(time.Until(cps[0].Time.Add(1100 * time.Millisecond))) // older than its signing second, by any clock
	s.clean(t)
}
