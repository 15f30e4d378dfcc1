package custody

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/mod/sumdb/note"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/testaws"
)

// exportWitnessed exports through a verifier that reads the witness with
// its public key alone, as custody export does with witnesses: configured.
func (we *witnessEnv) exportWitnessed(o VerifyOptions) string {
	we.t.Helper()
	out := filepath.Join(we.t.TempDir(), "package.tar.gz")
	v := NewVerifier(we.s3, we.cfg, we.trust, nil, we.clock.now)
	v.Witnesses = []*S3Witness{NewS3Witness(we.wapi, we.wcfg, we.wpub)}
	if _, err := v.Export(context.Background(), o, out, we.chain); err != nil {
		we.t.Fatal(err)
	}
	return out
}

// verifyPackage verifies pkg with the signer pinned and the witnesses ws.
func (we *witnessEnv) verifyPackage(pkg string, ws map[string]ed25519.PublicKey) *Report {
	we.t.Helper()
	r, err := VerifyBundle(context.Background(), pkg, VerifyOptions{}, Anchor{Keys: we.trust, Witnesses: ws}, we.clock.now)
	if err != nil {
		we.t.Fatal(err)
	}
	return r
}

// packageStatement reads package.json of an extracted package.
func packageStatement(t *testing.T, root string) PackageStatement {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, bundlePackage))
	if err != nil {
		t.Fatal(err)
	}
	var ps PackageStatement
	if err := json.Unmarshal(b, &ps); err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestPackageCarriesWitnessCopies: a package of a witnessed store holds
// the witness's newest cosigned copy of each proven stream's checkpoint
// and its public key, declared in package.json; verify --bundle passes
// with the witness's key pinned, fails with another key, and only warns
// without one.
func TestPackageCarriesWitnessCopies(t *testing.T) {
	t.Parallel()
	we := newWitnessEnv(t, 3)
	pkg := we.exportWitnessed(VerifyOptions{})
	root := extract(t, pkg)
	ps := packageStatement(t, root)
	if len(ps.Witnesses) != 1 || ps.Witnesses[0].Name != witnessName || len(ps.Witnesses[0].Copies) != 1 {
		t.Fatalf("package.json witnesses: %+v", ps.Witnesses)
	}
	c := ps.Witnesses[0].Copies[0]
	if c.Stream != "agent-1" || c.Size != 3 || len(c.Consistency) != 0 || !strings.HasPrefix(c.File, bundleWitnesses) || !strings.Contains(c.Object, we.copyKey()) {
		t.Fatalf("witness copy: %+v", c)
	}
	declared := map[string]bool{}
	for _, f := range ps.Files {
		declared[f.Name] = true
	}
	if !declared[c.File] || !declared[ps.Witnesses[0].KeyFile] || !strings.HasPrefix(ps.Witnesses[0].KeyFile, bundleWitnessKeys) {
		t.Fatalf("the witness files are not declared in package.json: %s, %s", c.File, ps.Witnesses[0].KeyFile)
	}
	// The copy is the witness's version named in package.json (the
	// export's own event, sealed after, has a newer one).
	copyBytes, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(c.File)))
	_, version, _ := strings.Cut(c.Object, "?versionId=")
	if err != nil || !bytes.Equal(copyBytes, we.getWitnessCopy(version)) {
		t.Fatalf("the package's copy is not the witness's version %s (%v)", version, err)
	}

	r := we.verifyPackage(pkg, map[string]ed25519.PublicKey{witnessName: we.wpub})
	if !r.OK {
		t.Fatalf("genuine package, witness pinned: %v", testaws.Failures(r.Findings))
	}
	for _, f := range r.Findings {
		if strings.HasPrefix(string(f.Kind), "witness-") {
			t.Fatalf("genuine package, witness pinned: %v", f)
		}
	}

	other, _, _ := ed25519.GenerateKey(rand.Reader)
	r = we.verifyPackage(pkg, map[string]ed25519.PublicKey{witnessName: other})
	if r.OK {
		t.Fatal("a package whose witness copy is not cosigned by the pinned witness key verifies")
	}
	testaws.RequireFinding(t, r.Findings, finding.WitnessInvalid, c.File)

	r = we.verifyPackage(pkg, nil)
	warned := false
	for _, f := range r.Findings {
		if f.Kind == finding.WitnessNotPinned && f.Severity == finding.Warning && strings.Contains(f.Message, witnessName) && strings.Contains(f.Message, "not pinned") {
			warned = true
		}
	}
	if !r.OK || !warned {
		t.Fatalf("witness not pinned: ok %v, want a warning naming it: %v", r.OK, r.Findings)
	}
}

// TestPackageWitnessCopyBehindHead: a witness whose newest copy is older
// than the recorded head still anchors a prefix of the log: the package
// carries a consistency proof from the copy to the head, which verifies.
func TestPackageWitnessCopyBehindHead(t *testing.T) {
	t.Parallel()
	we := newWitnessEnv(t, 2)
	we.chain.SetWitnesses() // the witness stops receiving checkpoints
	we.collect(we.chain, 1)
	we.collect(we.chain, 1)
	pkg := we.exportWitnessed(VerifyOptions{})
	ps := packageStatement(t, extract(t, pkg))
	if len(ps.Witnesses) != 1 || len(ps.Witnesses[0].Copies) != 1 {
		t.Fatalf("package.json witnesses: %+v", ps.Witnesses)
	}
	if c := ps.Witnesses[0].Copies[0]; c.Size != 2 || len(c.Consistency) == 0 {
		t.Fatalf("a copy of 2 manifests against a head of 4: %+v, want a consistency proof", c)
	}
	r := we.verifyPackage(pkg, map[string]ed25519.PublicKey{witnessName: we.wpub})
	if !r.OK {
		t.Fatalf("a witness behind the head: %v", testaws.Failures(r.Findings))
	}
}

// TestPackageWitnessCopyForked: the witness's newest copy records another
// root at the head's size (the store's key holder signed a rewritten log
// and the witness cosigned it); the package is witness-fork.
func TestPackageWitnessCopyForked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	we := newWitnessEnv(t, 3)
	forged, err := signLogCheckpoint(LogCheckpoint{Origin: LogOrigin(we.cfg.Bucket, we.cfg.Prefix, "agent-1"), Size: 3, Root: leafHash([]byte("another log")),
		Time: we.clock.now(), Closed: true, HeadSHA: strings.Repeat("0", 64)}, we.signer)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(forged, logVerifiers(LogOrigin(we.cfg.Bucket, we.cfg.Prefix, "agent-1"), we.trust))
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs}, cosigner{name: witnessName, priv: we.witness.priv, now: we.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cosigned)
	if _, err := we.wapi.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(we.wcfg.Bucket), Key: aws.String(we.copyKey()), Body: bytes.NewReader(cosigned),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:]))}); err != nil {
		t.Fatal(err)
	}
	pkg := we.exportWitnessed(VerifyOptions{})
	ps := packageStatement(t, extract(t, pkg))
	if len(ps.Witnesses) != 1 || len(ps.Witnesses[0].Copies) != 1 {
		t.Fatalf("package.json witnesses: %+v", ps.Witnesses)
	}
	r := we.verifyPackage(pkg, map[string]ed25519.PublicKey{witnessName: we.wpub})
	if r.OK {
		t.Fatal("a package whose witness copy records another root verifies")
	}
	testaws.RequireFinding(t, r.Findings, finding.WitnessFork, ps.Witnesses[0].Copies[0].File)
}

// getWitnessCopy reads one version of the witness's copy of agent-1.
func (we *witnessEnv) getWitnessCopy(version string) []byte {
	we.t.Helper()
	out, err := we.wapi.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(we.wcfg.Bucket), Key: aws.String(we.copyKey()), VersionId: aws.String(version)})
	if err != nil {
		we.t.Fatal(err)
	}
	defer out.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(out.Body); err != nil {
		we.t.Fatal(err)
	}
	return b.Bytes()
}
