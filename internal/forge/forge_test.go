package forge

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custody-ir/custody/custody"
)

// fixture builds a small package by hand, as export lays it out: one
// stream of two manifests, each sealing one artifact, a checkpoint, and
// the statement files over them.
type fixture struct {
	t      *testing.T
	key    signature.SignerVerifier
	keyID  string
	bucket string
	stream string
	p      *Package
}

const testPrefix = "custody"

func newFixture(t *testing.T, bucket, stream string) *fixture {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	id, err := custody.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, key: key, keyID: id, bucket: bucket, stream: stream, p: &Package{Root: "custody-export-20261129T120000Z"}}
	f.build()
	return f
}

func (f *fixture) sign(payloadType string, v any) []byte {
	f.t.Helper()
	payload, err := json.Marshal(v)
	if err != nil {
		f.t.Fatal(err)
	}
	env, err := custody.SignEnvelope(f.key, payloadType, payload)
	if err != nil {
		f.t.Fatal(err)
	}
	return env
}

func (f *fixture) build() {
	t, p := f.t, f.p
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var idx custody.BundleIndex
	idx.Format, idx.Bucket, idx.Prefix = "custody-export/v1", f.bucket, testPrefix
	add := func(key, version string, body []byte) string {
		file := ObjectsDir + key
		p.Set(file, body)
		idx.Objects = append(idx.Objects, custody.BundleEntry{
			ObjectVersion: custody.ObjectVersion{Key: key, VersionID: version, IsLatest: true, Size: int64(len(body)), LastModified: at},
			File:          file, Meta: custody.ObjectMeta{Size: int64(len(body)), ChecksumSHA256: "stale"},
		})
		return file
	}
	ps := custody.PackageStatement{Format: "custody-package/v1", Bucket: f.bucket, Prefix: testPrefix, ExportedAt: at, Verdict: custody.PackageVerdict{OK: true}}
	var prev string
	for seq := int64(1); seq <= 2; seq++ {
		artKey := fmt.Sprintf("%s/cases/c1/2026/11/29/run-%s-%d/notes.txt", testPrefix, f.stream, seq)
		body := []byte(fmt.Sprintf("notes of %s run %d", f.stream, seq))
		add(artKey, fmt.Sprintf("v-art-%d", seq), body)
		st := custody.Statement{
			Type: "https://in-toto.io/Statement/v1", PredicateType: custody.PredicateType,
			Subject: []custody.Subject{{Name: artKey, Digest: map[string]string{"sha256": sha256Hex(body)}, Annotations: custody.SubjectAnnotation{VersionID: fmt.Sprintf("v-art-%d", seq), Size: int64(len(body)), Kind: "file"}}},
			Predicate: custody.Predicate{Stream: f.stream, Sequence: seq, PreviousSHA256: prev, Event: custody.EventAdd, Bucket: f.bucket, Case: "c1",
				Who: custody.Who{KeyID: f.keyID}, When: custody.When{SealedAt: at}},
		}
		env := f.sign(custody.PayloadType, st)
		prev = sha256Hex(env)
		file := add(custody.ManifestKey(testPrefix, f.stream, seq), fmt.Sprintf("v-man-%d", seq), env)
		ps.Manifests = append(ps.Manifests, custody.PackageManifest{File: file, Stream: f.stream, Sequence: seq, VersionID: fmt.Sprintf("v-man-%d", seq), Selected: true})
	}
	cp := custody.Checkpoint{Stream: f.stream, Sequence: 2, EnvelopeSHA256: prev, ManifestKey: custody.ManifestKey(testPrefix, f.stream, 2), ManifestVersion: "v-man-2", At: at}
	add(custody.CheckpointKey(testPrefix, f.stream), "v-cp", f.sign(custody.CheckpointPayloadType, cp))
	ps.Streams = []custody.PackageStream{{Stream: f.stream, First: 1, Head: 2, HeadEnvelopeSHA256: prev}}
	pub, _ := f.key.PublicKey()
	pemBytes, _ := cryptoutils.MarshalPublicKeyToPEM(pub)
	p.Set(KeysDir+"responder-"+f.keyID[:12]+".pub", pemBytes)
	p.Set("README.md", []byte("# read me\n"))
	p.Set("report.json", []byte(`{"ok": true}`))
	p.Set("chain-of-custody.md", []byte("# chain of custody\n"))
	if err := p.SetIndex(idx); err != nil {
		t.Fatal(err)
	}
	if err := p.SetStatement(ps); err != nil {
		t.Fatal(err)
	}
	if err := p.Resum(); err != nil {
		t.Fatal(err)
	}
	// The export event: the next manifest of the stream, over the root files.
	st := custody.Statement{Type: "https://in-toto.io/Statement/v1", PredicateType: custody.PredicateType,
		Predicate: custody.Predicate{Stream: f.stream, Sequence: 3, PreviousSHA256: prev, Event: custody.EventExport, Bucket: f.bucket, Who: custody.Who{KeyID: f.keyID}, When: custody.When{SealedAt: at}}}
	for _, name := range []string{PackageFile, SumsFile, IndexFile, "report.json", "chain-of-custody.md"} {
		b, _ := p.Get(name)
		st.Subject = append(st.Subject, custody.Subject{Name: testPrefix + "/events/" + f.stream + "/2026/11/29/run-3/" + name,
			Digest: map[string]string{"sha256": sha256Hex(b)}, Annotations: custody.SubjectAnnotation{VersionID: "v-rec", Size: int64(len(b)), Kind: "export-record"}})
	}
	p.Set(StatementFile, f.sign(custody.PayloadType, st))
}

// roundTrip writes the package and reads it back.
func roundTrip(t *testing.T, p *Package) *Package {
	t.Helper()
	file := filepath.Join(t.TempDir(), "pkg.tar.gz")
	if err := p.Write(file); err != nil {
		t.Fatal(err)
	}
	q, err := Read(file)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func envelope(t *testing.T, p *Package, name string) custody.Envelope {
	t.Helper()
	b, ok := p.Get(name)
	if !ok {
		t.Fatalf("package has no %s", name)
	}
	env, err := custody.ParseEnvelope(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return env
}

// consistent checks what a verifier without a pinned key would check:
// every manifest and checkpoint verifies with key, the chain links, the
// checkpoint names the newest manifest, package.json and SHA256SUMS list
// the files as they are, and the statement's subjects are the root files.
func consistent(t *testing.T, p *Package, key signature.Verifier) {
	t.Helper()
	ms, err := p.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	prev := map[string]string{}
	for _, m := range ms {
		if err := m.Envelope.VerifyWith(key); err != nil {
			t.Errorf("manifest %s does not verify with the key: %v", m.File, err)
		}
		pr := m.Statement.Predicate
		if last, ok := prev[pr.Stream]; ok && pr.PreviousSHA256 != last {
			t.Errorf("manifest %s links to %s, the one before is %s", m.File, pr.PreviousSHA256, last)
		}
		prev[pr.Stream] = m.Envelope.SHA256
		files, err := p.SubjectFiles(m)
		if err != nil {
			t.Fatal(err)
		}
		for i, file := range files {
			b, _ := p.Get(file)
			if got := m.Statement.Subject[i].Digest["sha256"]; got != sha256Hex(b) {
				t.Errorf("manifest %s seals %s as %s, the file hashes to %s", m.File, file, got, sha256Hex(b))
			}
		}
	}
	for file, cp := range p.checkpoints() {
		if err := envelope(t, p, file).VerifyWith(key); err != nil {
			t.Errorf("checkpoint %s does not verify: %v", file, err)
		}
		if cp.EnvelopeSHA256 != prev[cp.Stream] {
			t.Errorf("checkpoint %s names %s, the newest manifest is %s", file, cp.EnvelopeSHA256, prev[cp.Stream])
		}
	}
	ps, err := p.Statement()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range ps.Files {
		b, ok := p.Get(f.Name)
		if !ok || sha256Hex(b) != f.SHA256 || int64(len(b)) != f.Size {
			t.Errorf("package.json lists %s as %d bytes %s", f.Name, f.Size, f.SHA256)
		}
		listed[f.Name] = true
	}
	sums, _ := p.Get(SumsFile)
	for _, name := range p.Files() {
		switch name {
		case StatementFile, PackageFile, SumsFile:
			continue
		}
		b, _ := p.Get(name)
		if !listed[name] || !strings.Contains(string(sums), sha256Hex(b)+"  "+name+"\n") {
			t.Errorf("%s is not listed in package.json and SHA256SUMS as it is", name)
		}
	}
	env := envelope(t, p, StatementFile)
	if err := env.VerifyWith(key); err != nil {
		t.Errorf("package statement does not verify: %v", err)
	}
	st, err := env.Statement()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Subject {
		b, _ := p.Get(s.Name[strings.LastIndex(s.Name, "/")+1:])
		if s.Digest["sha256"] != sha256Hex(b) {
			t.Errorf("statement subject %s is %s, the file hashes to %s", s.Name, s.Digest["sha256"], sha256Hex(b))
		}
	}
}

func TestWriteKeepsStatementFilesFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "evidence", "responder-1")
	// An added file goes after the statement files even when added last.
	f.p.Set(KeysDir+"extra.pub", []byte("k"))
	q := roundTrip(t, f.p)
	files := q.Files()
	want := []string{StatementFile, PackageFile, SumsFile, IndexFile}
	if len(files) < 6 || strings.Join(files[:4], " ") != strings.Join(want, " ") || !strings.HasPrefix(files[4], KeysDir) || !strings.HasPrefix(files[5], KeysDir) {
		t.Fatalf("order: %v", files)
	}
	if len(files) != len(f.p.Files()) {
		t.Fatalf("%d files read back, %d written", len(files), len(f.p.Files()))
	}
	for _, name := range f.p.Files() {
		a, _ := f.p.Get(name)
		b, ok := q.Get(name)
		if !ok || !bytes.Equal(a, b) {
			t.Errorf("%s differs after a round trip", name)
		}
	}
}

func TestResignWithAnotherKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "evidence", "responder-1")
	ms, err := f.p.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	art, err := f.p.SubjectFiles(ms[0])
	if err != nil || len(art) != 1 {
		t.Fatalf("subject files %v, %v", art, err)
	}
	f.p.Set(art[0], []byte("what the forger wants it to say"))
	forger, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	genuine := KeysDir + "responder-" + f.keyID[:12] + ".pub"
	if err := f.p.Resign(forger, "responder-"+f.keyID[:12]+".pub"); err != nil {
		t.Fatal(err)
	}
	q := roundTrip(t, f.p)
	consistent(t, q, forger)
	pemBytes, _ := q.Get(genuine)
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := custody.KeyID(pub); id == f.keyID {
		t.Fatalf("%s still holds the genuine key", genuine)
	}
	for _, m := range mustManifests(t, q) {
		if m.Envelope.VerifyWith(f.key) == nil {
			t.Errorf("manifest %s still verifies with the genuine key", m.File)
		}
	}
	ps, _ := q.Statement()
	if ms := mustManifests(t, q); ps.Streams[0].HeadEnvelopeSHA256 != ms[len(ms)-1].Envelope.SHA256 {
		t.Fatalf("package.json head %s, newest manifest %s", ps.Streams[0].HeadEnvelopeSHA256, ms[len(ms)-1].Envelope.SHA256)
	}
}

func mustManifests(t *testing.T, p *Package) []Manifest {
	t.Helper()
	ms, err := p.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// An insider with the genuine key drops the newest manifest: the ones
// left keep their bytes (nothing about them changed), the checkpoint moves
// back, and the recorded head stays as it was.
func TestResignByInsiderKeepsUnchangedManifests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "evidence", "responder-1")
	ms := mustManifests(t, f.p)
	ps, _ := f.p.Statement()
	first, _ := f.p.Get(ms[0].File)
	art, _ := f.p.SubjectFiles(ms[1])
	f.p.Remove(append(art, ms[1].File)...)
	if err := f.p.Resign(f.key, ""); err != nil {
		t.Fatal(err)
	}
	q := roundTrip(t, f.p)
	consistent(t, q, f.key)
	if b, _ := q.Get(ms[0].File); !bytes.Equal(b, first) {
		t.Fatal("an unchanged manifest was re-signed")
	}
	after, _ := q.Statement()
	if after.Streams[0] != ps.Streams[0] || len(after.Manifests) != 1 {
		t.Fatalf("package.json streams %+v manifests %+v", after.Streams, after.Manifests)
	}
}

func TestResumLeavesTheStatement(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "evidence", "responder-1")
	before, _ := f.p.Get(StatementFile)
	ms := mustManifests(t, f.p)
	art, _ := f.p.SubjectFiles(ms[1])
	f.p.Remove(art...)
	if err := f.p.Resum(); err != nil {
		t.Fatal(err)
	}
	after, _ := f.p.Get(StatementFile)
	if !bytes.Equal(before, after) {
		t.Fatal("Resum changed the package statement")
	}
	idx, _ := f.p.Index()
	for _, o := range idx.Objects {
		if o.File == art[0] {
			t.Fatalf("index.json still maps %s", o.File)
		}
		if b, _ := f.p.Get(o.File); o.Meta.ChecksumSHA256 == "stale" || o.Size != int64(len(b)) {
			t.Fatalf("index.json entry not refreshed: %+v", o)
		}
	}
	sums, _ := f.p.Get(SumsFile)
	if strings.Contains(string(sums), art[0]) {
		t.Fatalf("SHA256SUMS still lists %s", art[0])
	}
}

func TestSplice(t *testing.T) {
	t.Parallel()
	a := newFixture(t, "evidence-a", "responder-1")
	b := newFixture(t, "evidence-b", "responder-2")
	if err := a.p.Splice(b.p, "responder-2"); err != nil {
		t.Fatal(err)
	}
	if err := a.p.Resign(a.key, ""); err != nil {
		t.Fatal(err)
	}
	q := roundTrip(t, a.p)
	streams := map[string]int{}
	for _, m := range mustManifests(t, q) {
		streams[m.Statement.Predicate.Stream+" "+m.Statement.Predicate.Bucket]++
	}
	if streams["responder-1 evidence-a"] != 2 || streams["responder-2 evidence-b"] != 2 {
		t.Fatalf("manifests after the splice: %v", streams)
	}
	ps, _ := q.Statement()
	if len(ps.Streams) != 2 || len(ps.Manifests) != 4 {
		t.Fatalf("package.json streams %+v, %d manifests", ps.Streams, len(ps.Manifests))
	}
	if err := a.p.Splice(b.p, "responder-2"); err == nil {
		t.Fatal("splicing the same stream twice succeeded")
	}
}

// A zeros entry is written as gzip members of zeros: gigabytes in a few
// megabytes, a valid tar.gz whose other entries read back intact.
func TestSetZerosWritesABomb(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "evidence", "responder-1")
	ms := mustManifests(t, f.p)
	art, _ := f.p.SubjectFiles(ms[0])
	const size = 3*zeroChunkSize + 1001
	f.p.SetZeros(art[0], size)
	file := filepath.Join(t.TempDir(), "bomb.tar.gz")
	if err := f.p.Write(file); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(file); err != nil || st.Size() > 1<<20 {
		t.Fatalf("bomb package: %v, %d bytes", err, st.Size())
	}
	raw, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	zr, err := gzip.NewReader(raw)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	seen := 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(hdr.Name, f.p.Root+"/")
		seen++
		if name == art[0] {
			n, nonzero := countNonZero(t, tr)
			if n != size || nonzero != 0 {
				t.Fatalf("bomb entry: %d bytes (%d not zero), want %d zeros", n, nonzero, size)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := f.p.Get(name); !bytes.Equal(b, want) {
			t.Errorf("%s differs after the bomb", name)
		}
	}
	if seen != len(f.p.Files()) {
		t.Fatalf("%d entries read, %d written", seen, len(f.p.Files()))
	}
}

func countNonZero(t *testing.T, r io.Reader) (n, nonzero int64) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for {
		k, err := r.Read(buf)
		for _, c := range buf[:k] {
			if c != 0 {
				nonzero++
			}
		}
		n += int64(k)
		if errors.Is(err, io.EOF) {
			return n, nonzero
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
