package custody

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

func TestRegistryKeys(t *testing.T) {
	t.Parallel()
	if k := RegistryKey("custody", 7); k != "custody/registry/000000000007.note" {
		t.Fatalf("key %q", k)
	}
	for key, want := range map[string]int64{
		"custody/registry/000000000007.note": 7, "custody/registry/000000000000.note": 0, "custody/registry/7.note": 0,
		"custody/registry/000000000007.note.bak": 0, "custody/registry/x/000000000007.note": 0, "other/registry/000000000007.note": 0,
	} {
		if n, ok := ParseRegistryKey("custody", key); n != want || ok != (want > 0) {
			t.Errorf("ParseRegistryKey(%q) = %d, %v; want %d", key, n, ok, want)
		}
	}
	if o := RegistryOrigin("b", ""); o != "s3://b/registry" {
		t.Fatalf("origin %q", o)
	}
}

func TestRegistryEntrySignatures(t *testing.T) {
	t.Parallel()
	signer := newKey(t)
	pub, _ := signer.PublicKey()
	trusted, _ := NewTrustedKey("test", pub, time.Time{}, time.Time{})
	origin := RegistryOrigin("bucket", "custody")
	e := RegistryEntry{Origin: origin, Index: 2, Previous: strings.Repeat("ab", 32), Time: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		Stream: "agent-1", Size: 5, Root: leafHash([]byte("root"))}
	msg, err := signRegistryEntry(e, signer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg), origin+"\n2\ncustody-previous "+e.Previous+"\n") || !strings.Contains(string(msg), "\ncustody-stream agent-1\ncustody-checkpoint 5 ") {
		t.Fatalf("not the documented entry:\n%s", msg)
	}
	got, k, err := openRegistryEntry(msg, origin, []TrustedKey{trusted})
	if err != nil || got != e || k.KeyID != trusted.KeyID {
		t.Fatalf("open: %+v %v", got, err)
	}
	for name, bad := range map[string]string{
		"another store's origin": strings.Replace(string(msg), "custody/registry", "other/registry", 1),
		"an edited size":         strings.Replace(string(msg), "custody-checkpoint 5 ", "custody-checkpoint 6 ", 1),
	} {
		if _, _, err := openRegistryEntry([]byte(bad), origin, []TrustedKey{trusted}); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	first := e
	first.Index, first.Previous = 1, ""
	msg, _ = signRegistryEntry(first, signer)
	if got, _, err := openRegistryEntry(msg, origin, []TrustedKey{trusted}); err != nil || got.Previous != "" || !strings.Contains(string(msg), "custody-previous none\n") {
		t.Fatalf("first entry: %+v %v\n%s", got, err, msg)
	}
}

// registryEntries reads the store's registry, entry 1 first, checking
// each entry's signature.
func (e *testEnv) registryEntries() []RegistryEntry {
	e.t.Helper()
	ctx := context.Background()
	out, err := e.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String(RegistryPrefix(e.cfg.Prefix))})
	if err != nil {
		e.t.Fatal(err)
	}
	var entries []RegistryEntry
	for _, v := range out.Versions {
		n, ok := ParseRegistryKey(e.cfg.Prefix, aws.ToString(v.Key))
		if !ok || n != int64(len(entries)+1) {
			e.t.Fatalf("registry object %s (version %s) out of order", aws.ToString(v.Key), aws.ToString(v.VersionId))
		}
		te := &tamperEnv{testEnv: e}
		entry, _, err := openRegistryEntry(te.get(aws.ToString(v.Key), aws.ToString(v.VersionId)), RegistryOrigin(e.cfg.Bucket, e.cfg.Prefix), e.trust)
		if err != nil {
			e.t.Fatalf("entry %d: %v", n, err)
		}
		entries = append(entries, entry)
	}
	return entries
}

// removeAll deletes every version and delete marker under prefix, with
// governance bypass: the examiner's deletions.
func (te *tamperEnv) removeAll(prefix string) int {
	te.t.Helper()
	out, err := te.s3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(te.cfg.Bucket), Prefix: aws.String(prefix)})
	if err != nil {
		te.t.Fatal(err)
	}
	for _, v := range out.Versions {
		te.remove(aws.ToString(v.Key), aws.ToString(v.VersionId))
	}
	for _, m := range out.DeleteMarkers {
		te.remove(aws.ToString(m.Key), aws.ToString(m.VersionId))
	}
	return len(out.Versions)
}

// registryEnv is a store with two streams, each registered at its first
// checkpoint and again at a heartbeat: entries 1 (agent-1, size 1),
// 2 (agent-2, size 1), 3 (agent-1, size 3), 4 (agent-2, size 2).
type registryEnv struct {
	*tamperEnv
	second *Chain
	arts   map[string][]Artifact
}

func newRegistryEnv(t *testing.T) *registryEnv {
	t.Helper()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance)
	re := &registryEnv{tamperEnv: &tamperEnv{testEnv: e}, second: e.newChain(e.ledger, "agent-2"), arts: map[string][]Artifact{}}
	var warnings []error
	for _, ch := range []*Chain{e.chain, re.second} {
		ch.Warn = func(err error) { warnings = append(warnings, err) }
		ch.SetHeartbeat(time.Hour)
	}
	for _, step := range []*Chain{e.chain, re.second, e.chain, e.chain, re.second} {
		_, arts := e.collect(step, 1)
		re.arts[step.Stream()] = append(re.arts[step.Stream()], arts...)
	}
	for _, ch := range []*Chain{e.chain, re.second} {
		if err := ch.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(warnings) > 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	return re
}

func TestRegistryRecordsEveryStream(t *testing.T) {
	t.Parallel()
	re := newRegistryEnv(t)
	entries := re.registryEntries()
	want := []struct {
		stream string
		size   int64
	}{{"agent-1", 1}, {"agent-2", 1}, {"agent-1", 3}, {"agent-2", 2}}
	if len(entries) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(entries), len(want), entries)
	}
	for i, w := range want {
		if entries[i].Stream != w.stream || entries[i].Size != w.size || entries[i].Index != int64(i+1) || (i == 0) != (entries[i].Previous == "") {
			t.Errorf("entry %d: %+v, want stream %s size %d", i+1, entries[i], w.stream, w.size)
		}
	}
	// A fresh machine (no ledger) finds the store whole.
	if fs := testaws.Failures(re.verifyFresh(0).Findings); len(fs) != 0 {
		t.Fatalf("untouched store, no ledger: %v", fs)
	}
	// Anything else under the registry's folder is unsealed.
	re.put(RegistryPrefix("custody")+"notes.txt", []byte("planted"))
	testaws.RequireFinding(t, re.verifyFresh(0).Findings, finding.UnsealedObject, "registry/notes.txt")
}

func TestRegistryCatchesAWholeStreamDeleted(t *testing.T) {
	t.Parallel()
	re := newRegistryEnv(t)
	// The examiner deletes stream agent-2 whole: its manifests, every
	// version of its checkpoints and the artifacts it sealed.
	if re.removeAll(ManifestPrefix("custody")+"agent-2/") < 3 {
		t.Fatal("stream agent-2 had fewer objects than its 2 manifests and checkpoint")
	}
	for _, a := range re.arts["agent-2"] {
		re.remove(a.Key, a.VersionID)
	}
	r := re.verifyFresh(0)
	testaws.RequireFinding(t, r.Findings, finding.StreamMissing, "manifests/agent-2/")
	for _, f := range r.Findings {
		if f.Kind == finding.StreamMissing && !strings.Contains(f.Message, "2 manifests") {
			t.Errorf("the finding does not say what the registry recorded: %v", f)
		}
	}
	if r.OK {
		t.Fatal("verify passed")
	}
}

func TestRegistryCatchesATruncatedStream(t *testing.T) {
	t.Parallel()
	re := newRegistryEnv(t)
	// agent-1 is cut back to 2 manifests: manifest 3, its artifact and
	// every checkpoint version after manifest 2 are removed, leaving a
	// consistent, shorter log.
	key := ManifestKey("custody", "agent-1", 3)
	re.removeAll(key)
	a := re.arts["agent-1"][2]
	re.remove(a.Key, a.VersionID)
	vs := re.logVersions("agent-1")
	for _, v := range vs[2:] {
		re.remove(v.Key, v.VersionID)
	}
	r := re.verifyFresh(0)
	testaws.RequireFinding(t, r.Findings, finding.ManifestMissing, RegistryKey("custody", 3))
	for _, f := range r.Findings {
		if f.Kind == finding.ManifestMissing && strings.Contains(f.Object, "registry") && !strings.Contains(f.Message, "recorded 3 manifests") {
			t.Errorf("the finding does not name the size recorded: %v", f)
		}
	}
}

func TestRegistryCatchesAnEntryDeleted(t *testing.T) {
	t.Parallel()
	re := newRegistryEnv(t)
	re.removeAll(RegistryKey("custody", 2))
	r := re.verifyFresh(0)
	testaws.RequireFinding(t, r.Findings, finding.RegistryBroken, RegistryKey("custody", 2))
	// Entry 3 links to entry 2, which is gone: the break is named there too.
	testaws.RequireFinding(t, r.Findings, finding.RegistryBroken, RegistryKey("custody", 3))

	// Every entry removed: each stream with a log is unregistered.
	for n := int64(1); n <= 4; n++ {
		re.removeAll(RegistryKey("custody", n))
	}
	r = re.verifyFresh(0)
	testaws.RequireFinding(t, r.Findings, finding.StreamUnregistered, LogCheckpointKey("custody", "agent-1"))
	testaws.RequireFinding(t, r.Findings, finding.StreamUnregistered, LogCheckpointKey("custody", "agent-2"))
}

func TestRegistryCatchesReplays(t *testing.T) {
	t.Parallel()
	re := newRegistryEnv(t)
	first := re.registryEntries()[0]
	out, err := re.s3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(re.cfg.Bucket), Prefix: aws.String(RegistryKey("custody", 1))})
	if err != nil {
		t.Fatal(err)
	}
	raw := re.get(RegistryKey("custody", 1), aws.ToString(out.Versions[0].VersionId))

	// Entry 1's bytes stored again as entry 5: it says it is entry 1.
	re.put(RegistryKey("custody", 5), raw)
	testaws.RequireFinding(t, re.verifyFresh(0).Findings, finding.RegistryBroken, RegistryKey("custody", 5))
	re.removeAll(RegistryKey("custody", 5))

	// An entry signed with the genuine key hours before it was stored,
	// correctly numbered and linked: a replay, whatever its content.
	entries := re.registryEntries()
	last := entries[len(entries)-1]
	out, err = re.s3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(re.cfg.Bucket), Prefix: aws.String(RegistryKey("custody", 4))})
	if err != nil {
		t.Fatal(err)
	}
	prev := re.get(RegistryKey("custody", 4), aws.ToString(out.Versions[0].VersionId))
	old := RegistryEntry{Origin: first.Origin, Index: 5, Previous: sha256Hex(prev), Time: time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second),
		Stream: last.Stream, Size: last.Size, Root: last.Root}
	msg, err := signRegistryEntry(old, re.signer)
	if err != nil {
		t.Fatal(err)
	}
	re.put(RegistryKey("custody", 5), msg)
	r := re.verifyFresh(0)
	testaws.RequireFinding(t, r.Findings, finding.RegistryBroken, RegistryKey("custody", 5))
	for _, f := range testaws.Failures(r.Findings) {
		if f.Kind != finding.RegistryBroken || !strings.Contains(f.Message, "stored at") {
			t.Errorf("a replayed but consistent entry: unexpected finding %v", f)
		}
	}

	// A second version at an existing entry: a fork.
	re.removeAll(RegistryKey("custody", 5))
	re.put(RegistryKey("custody", 1), raw)
	testaws.RequireFinding(t, re.verifyFresh(0).Findings, finding.RegistryBroken, RegistryKey("custody", 1))
}

// TestRegistryConcurrentWriters: two processes (two Stores, so no shared
// cache) and two chains of one process append at once; every append
// lands, contiguous and linked, and no writer warns.
func TestRegistryConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance)
	other, err := OpenStore(ctx, e.s3, e.cfg, e.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	chains := []*Chain{e.chain, e.newChain(e.ledger, "agent-2")}
	third, err := NewChain(other, e.s3, e.ledger, e.signer, "agent-3", Who{Host: "other-host", Software: "custody-test"}, e.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	chains = append(chains, third)
	var mu sync.Mutex
	var warnings []error
	for _, ch := range chains {
		ch.SetHeartbeat(time.Hour)
		ch.Warn = func(err error) { mu.Lock(); warnings = append(warnings, err); mu.Unlock() }
		e.collect(ch, 1)
	}
	const beats = 4
	var wg sync.WaitGroup
	errs := make(chan error, len(chains)*beats)
	for _, ch := range chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range beats {
				errs <- ch.Heartbeat(ctx)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(warnings) > 0 {
		t.Fatalf("registry writers warned: %v", warnings)
	}
	if n := len(e.registryEntries()); n != len(chains)*(beats+1) {
		t.Fatalf("%d registry entries, want %d", n, len(chains)*(beats+1))
	}
	if fs := testaws.Failures(e.verifyFresh(0).Findings); len(fs) != 0 {
		t.Fatalf("after concurrent registrations: %v", fs)
	}
}

// TestRegistryCatchesALiveStreamsEntriesRemoved: a live stream's
// heartbeats register it, so a registry whose newest entry for it is
// older than twice its heartbeat before its newest checkpoint lost them.
func TestRegistryCatchesALiveStreamsEntriesRemoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeGovernance)
	e.chain.SetHeartbeat(time.Second)
	// The writer's clock stays within verify's 15-minute tolerance of
	// S3's, and the newest checkpoint is 28 minutes after the first.
	e.clock.t = time.Now().Add(-14 * time.Minute)
	e.collect(e.chain, 1)
	e.clock.t = time.Now().Add(14 * time.Minute)
	e.collect(e.chain, 1)
	if err := e.chain.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.registryEntries()); n != 2 {
		t.Fatalf("%d entries after a first checkpoint and a heartbeat, want 2", n)
	}
	if fs := testaws.Failures(e.verifyFresh(0).Findings); len(fs) != 0 {
		t.Fatalf("untouched: %v", fs)
	}
	(&tamperEnv{testEnv: e}).removeAll(RegistryKey("custody", 2))
	testaws.RequireFinding(t, e.verifyFresh(0).Findings, finding.StreamUnregistered, LogCheckpointKey("custody", "agent-1"))
}
