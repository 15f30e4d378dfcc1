package custody

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// entries reads a package's entries in order, relative to its root.
func entries(t testing.TB, pkg string) ([]string, map[string][]byte) {
	t.Helper()
	f, err := os.Open(pkg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	bodies := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		_, rel, _ := strings.Cut(hdr.Name, "/")
		b, _ := io.ReadAll(tr)
		names = append(names, rel)
		bodies[rel] = b
	}
	return names, bodies
}

func TestPackageStartsWithItsSignedStatement(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, config.ModeCompliance)
	e.collect(e.chain, 2)
	pkg, res := e.export(VerifyOptions{})
	names, bodies := entries(t, pkg)
	if len(names) < 4 || names[0] != bundleStatement || names[1] != bundlePackage || names[2] != bundleSums || names[3] != bundleIndex {
		t.Fatalf("package starts with %v, want the statement files first", names[:min(4, len(names))])
	}
	env, err := ParseEnvelope(bytes.NewReader(bodies[bundleStatement]))
	if err != nil {
		t.Fatal(err)
	}
	st, err := env.Statement()
	if err != nil || st.Predicate.Event != EventExport || st.Predicate.Bucket != e.cfg.Bucket || env.SHA256 != res.Event.EnvelopeSHA256 {
		t.Fatalf("statement: %v %+v (recorded %s)", err, st.Predicate, res.Event.EnvelopeSHA256)
	}
	if res.SignerKeyID != e.trust[0].KeyID {
		t.Fatalf("export reports signer %s, want %s", res.SignerKeyID, e.trust[0].KeyID)
	}
	var ps PackageStatement
	if err := json.Unmarshal(bodies[bundlePackage], &ps); err != nil {
		t.Fatal(err)
	}
	// Every file but the three the statement signs directly is declared,
	// with its size.
	declared := map[string]int64{}
	for _, f := range ps.Files {
		declared[f.Name] = f.Size
	}
	for _, n := range names {
		if n == bundleStatement || n == bundlePackage || n == bundleSums {
			continue
		}
		if size, ok := declared[n]; !ok || size != int64(len(bodies[n])) {
			t.Errorf("%s is not declared with its size (%d, %v)", n, size, ok)
		}
	}
	if len(ps.Streams) != 1 || ps.Streams[0].Head != 1 || ps.Streams[0].First != 1 || !ps.Verdict.OK {
		t.Fatalf("package statement: %+v", ps)
	}
}

func TestBundleNeedsAPinnedSigner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeCompliance)
	e.collect(e.chain, 2)
	pkg, res := e.export(VerifyOptions{})

	// No anchor: everything checked, never OK.
	r, err := VerifyBundle(ctx, pkg, VerifyOptions{}, Anchor{}, e.clock.now)
	if err != nil || r.OK || r.Checked.Subjects != 2 {
		t.Fatalf("unpinned: %v ok=%v %+v", err, r.OK, r.Checked)
	}
	testaws.RequireFinding(t, r.Findings, "signer-not-pinned", "keys/")
	if fs := testaws.Failures(r.Findings); len(fs) != 1 || !strings.Contains(fs[0].Message, res.SignerKeyID) {
		t.Fatalf("unpinned: want only signer-not-pinned, got %v", testaws.Failures(r.Findings))
	}

	// Pinned by key id: OK, and the signer is named from the anchor.
	r, err = VerifyBundle(ctx, pkg, VerifyOptions{}, Anchor{KeyIDs: []string{res.SignerKeyID}}, e.clock.now)
	if err != nil || !r.OK || len(r.Keys) != 1 || r.Keys[0].Name != "pinned key id "+res.SignerKeyID[:16] {
		t.Fatalf("pinned by id: %v %v %+v", err, testaws.Failures(r.Findings), r.Keys)
	}

	// Another key id: the statement is refused, nothing is extracted.
	other, _ := newKey(t).PublicKey()
	otherID, _ := KeyID(other)
	r, err = VerifyBundle(ctx, pkg, VerifyOptions{}, Anchor{KeyIDs: []string{otherID}}, e.clock.now)
	if err != nil || r.OK || r.Checked.Subjects != 0 {
		t.Fatalf("wrong id: %v ok=%v %+v", err, r.OK, r.Checked)
	}
	testaws.RequireFinding(t, r.Findings, "signer-mismatch", "keys/")
	testaws.RequireFinding(t, r.Findings, "bundle-statement-invalid", bundleStatement)
}

func TestCaseExportCarriesItsManifestsAndProofs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeCompliance)
	for i := 0; i < 5; i++ {
		e.collect(e.chain, 3) // manifests 1..5, not of the case
	}
	run, err := e.chain.StartRun(ctx, "add")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Put(ctx, CaseKey("custody", "IR-9", e.clock.now(), run.ID, "notes.txt"), strings.NewReader("notes"), PutOptions{Kind: "file", Case: "IR-9"}); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Seal(ctx, SealRequest{Event: EventAdd, Case: "IR-9"}, nil); err != nil { // manifest 6
		t.Fatal(err)
	}
	e.collect(e.chain, 3) // manifest 7, after the case: links it to the head
	e.collect(e.newChain(e.ledger, "other"), 3)

	pkg, res := e.export(VerifyOptions{Case: "IR-9"})
	if res.Artifacts != 1 || res.Manifests != 1 {
		t.Fatalf("case export holds %d artifacts and %d manifests, want 1 and 1 (the case's, with its inclusion proof)", res.Artifacts, res.Manifests)
	}
	r, err := VerifyBundle(ctx, pkg, VerifyOptions{}, e.pinned(), e.clock.now)
	if err != nil || !r.OK {
		t.Fatalf("case package: %v %v", err, testaws.Failures(r.Findings))
	}
	// The selection says what it left out: the stream's 6 other manifests
	// (proven, not held), and the stream "other", which it does not hold.
	if u := r.Unchecked; u.Manifests != 6 || u.Streams != 1 {
		t.Fatalf("unchecked = %+v", u)
	}
	// In the store, a case verify reports the same of the whole store.
	sr := e.verify(VerifyOptions{Case: "IR-9"})
	if u := sr.Unchecked; u.Manifests != 7 || u.Artifacts != 21 || u.Streams != 1 {
		t.Fatalf("store unchecked = %+v", u)
	}
}

// rewrite rewrites a package's entries through edit (nil drops one), as
// an examiner without the key can, keeping the order.
func rewrite(t *testing.T, pkg string, edit func(name string, body []byte) []byte) string {
	t.Helper()
	return repack(t, pkg, func(hdr *tar.Header, body []byte) []byte {
		_, rel, _ := strings.Cut(hdr.Name, "/")
		return edit(rel, body)
	})
}

func TestBundleBindsToItsStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeCompliance)
	e.collect(e.chain, 2)
	e.collect(e.chain, 2)
	pkg, _ := e.export(VerifyOptions{})
	check := func(name, edited string, kind finding.Kind, object string) {
		t.Helper()
		r, err := VerifyBundle(ctx, edited, VerifyOptions{}, e.pinned(), e.clock.now)
		if err != nil || r.OK {
			t.Fatalf("%s: verified (%v)", name, err)
		}
		testaws.RequireFinding(t, r.Findings, kind, object)
	}
	// package.json edited (a selection of another case): it no longer
	// hashes to what the statement seals.
	check("selection edited", rewrite(t, pkg, func(name string, b []byte) []byte {
		if name == bundlePackage {
			return bytes.Replace(b, []byte(`"selection": {}`), []byte(`"selection": {"case": "NOPE"}`), 1)
		}
		return b
	}), "bundle-statement-invalid", bundlePackage)
	// The statement dropped.
	check("statement dropped", dropEntry(t, pkg, bundleStatement), "bundle-statement-missing", bundleStatement)
	// The newest manifest dropped.
	check("head dropped", dropEntry(t, pkg, "objects/"+ManifestKey("custody", "agent-1", 2)), "bundle-file-missing", ManifestKey("custody", "agent-1", 2))
}

// dropEntry removes one entry of a package.
func dropEntry(t *testing.T, pkg, rel string) string {
	t.Helper()
	return rewrite(t, pkg, func(name string, body []byte) []byte {
		if name == rel {
			return nil
		}
		return body
	})
}

func TestGzipBombStopsAtTheDeclaredSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeCompliance)
	_, arts := e.collect(e.chain, 1)
	pkg, _ := e.export(VerifyOptions{})
	target := "objects/" + arts[0].Key
	// The artifact's entry replaced by 64 MiB of zeros (64 KiB compressed).
	bomb := repack(t, pkg, func(hdr *tar.Header, body []byte) []byte {
		if strings.HasSuffix(hdr.Name, "/"+target) {
			return make([]byte, 64<<20)
		}
		return body
	})
	tmp := t.TempDir()
	r, err := VerifyBundle(ctx, bomb, VerifyOptions{TempDir: tmp}, e.pinned(), e.clock.now)
	if err != nil || r.OK {
		t.Fatalf("bomb verified: %v", err)
	}
	testaws.RequireFinding(t, r.Findings, "bundle-unsafe", target)
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("verify left %d entries in its temporary folder", len(left))
	}
}

// cancelOnRecord is a sealer whose user presses Ctrl-C just as the export
// event is being recorded.
type cancelOnRecord struct {
	*Chain
	cancel context.CancelFunc
}

func (c cancelOnRecord) Record(ctx context.Context, e Event) (Recorded, error) {
	c.cancel()
	return c.Chain.Record(ctx, e)
}

// TestExportInterruptedWhileRecordingFinishes: an export event is never
// left without its package: an interrupt once the event is being recorded
// lets the export finish, and the package verifies.
func TestExportInterruptedWhileRecordingFinishes(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, config.ModeCompliance)
	e.collect(e.chain, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := filepath.Join(t.TempDir(), "p.tar.gz")
	res, err := NewVerifier(e.s3, e.cfg, e.trust, e.ledger, e.clock.now).Export(ctx, VerifyOptions{}, out, cancelOnRecord{e.chain, cancel})
	if err != nil || res.Event.Seq == 0 {
		t.Fatalf("export interrupted while recording: %v", err)
	}
	if r, err := VerifyBundle(context.Background(), out, VerifyOptions{}, e.pinned(), e.clock.now); err != nil || !r.OK {
		t.Fatalf("its package: %v %v", err, testaws.Failures(r.Findings))
	}
}
