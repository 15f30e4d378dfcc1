package main

// The hostile examiner's attacks on a hand-off package (issue 12): each
// test exports a genuine package through the real binary, rewrites it as
// an attacker would with internal/forge, and runs verify --bundle on it:
// every one must exit 1 with the finding that names the attack.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/forge"
	"github.com/custody-ir/custody/internal/testaws"
)

const attackPassphrase = "test passphrase"

// attackStore is a signing key and the evidence stores that share it, set
// up and used through the custody binary only, with the environment
// passed explicitly: the tests run in parallel.
type attackStore struct {
	env   testaws.Env
	dir   string
	key   string // the encrypted private key
	pub   string // its public key
	keyID string
	bin   binRun
}

// attackBucket is one evidence store: its configuration and bucket.
type attackBucket struct {
	cfg, bucket, stream string
}

func newAttackStore(t *testing.T) *attackStore {
	t.Helper()
	e := testaws.Require(t)
	dir := t.TempDir()
	a := &attackStore{env: e, dir: dir, key: filepath.Join(dir, "signing.pem"), pub: filepath.Join(dir, "signing.pub"),
		bin: binRun{env: append(e.Environ(), "CUSTODY_KEY_PASSPHRASE="+attackPassphrase)}}
	a.must(t, "keygen", "--out", a.key)
	a.keyID = pemKeyID(t, a.pub)
	return a
}

// pemKeyID is the key id of a PEM public key file, as openssl pkey -pubin
// -outform DER | sha256sum prints it.
func pemKeyID(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	id, err := custody.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (a *attackStore) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := a.bin.run(t, args...)
	if code != 0 {
		t.Fatalf("custody %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// bucket sets up a GOVERNANCE evidence store of the given stream, signed
// by the shared key.
func (a *attackStore) bucket(t *testing.T, name, stream string) attackBucket {
	t.Helper()
	b := attackBucket{cfg: filepath.Join(a.dir, name+".yaml"), bucket: testaws.BucketName(t), stream: stream}
	writeConfig(t, b.cfg, fmt.Sprintf(`ledger: %s/%s.db
agent: {stream: %s}
store:
  bucket: %s
  retention: {mode: GOVERNANCE, days: 1}
signer:
  key: file://%s
trust:
  - name: responder
    key: file://%s
`, a.dir, name, stream, b.bucket, a.key, a.pub))
	a.must(t, "-c", b.cfg, "store", "init")
	return b
}

// add seals files of the given contents in one manifest of a case.
func (a *attackStore) add(t *testing.T, b attackBucket, caseID string, contents ...string) {
	t.Helper()
	args := []string{"-c", b.cfg, "add", "--case", caseID}
	dir := t.TempDir()
	for i, c := range contents {
		f := filepath.Join(dir, fmt.Sprintf("note-%d.txt", i+1))
		if err := os.WriteFile(f, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, f)
	}
	a.must(t, args...)
}

// export writes a package of the store with the given selection flags and
// returns its path, export's exit code and its --json output.
func (a *attackStore) export(t *testing.T, b attackBucket, flags ...string) (pkg string, code int, res map[string]any) {
	t.Helper()
	pkg = filepath.Join(t.TempDir(), "handoff.tar.gz")
	out, errOut, code := a.bin.run(t, append([]string{"-c", b.cfg, "--json", "export", "--out", pkg}, flags...)...)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("export --json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if res["signerKeyId"] != a.keyID {
		t.Fatalf("export names signer key id %v; the signing key's id is %s", res["signerKeyId"], a.keyID)
	}
	return pkg, code, res
}

// genuine exports a package that must verify.
func (a *attackStore) genuine(t *testing.T, b attackBucket, flags ...string) string {
	t.Helper()
	pkg, code, res := a.export(t, b, flags...)
	if code != 0 {
		t.Fatalf("export of a clean store: exit %d, %v", code, res)
	}
	return pkg
}

// bundleVerdict is verify --bundle --json's report, as far as these tests
// read it.
type bundleVerdict struct {
	OK       *bool  `json:"ok"`
	Status   string `json:"status"`
	Error    string `json:"error"`
	Findings []struct {
		Severity, Kind, Object, Message string
	} `json:"findings"`
	Keys []struct {
		Name  string `json:"name"`
		KeyID string `json:"keyId"`
	} `json:"keys"`
	raw string
}

// verify runs verify --bundle --json on pkg with the anchor flags given.
func (a *attackStore) verify(t *testing.T, pkg string, anchor ...string) (bundleVerdict, int) {
	t.Helper()
	out, errOut, code := a.bin.run(t, append([]string{"--json", "verify", "--bundle", pkg}, anchor...)...)
	var v bundleVerdict
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("verify --bundle --json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	v.raw = out + errOut
	return v, code
}

// verifyText runs verify --bundle on pkg, as text.
func (a *attackStore) verifyText(t *testing.T, pkg string, anchor ...string) (string, int) {
	t.Helper()
	out, errOut, code := a.bin.run(t, append([]string{"verify", "--bundle", pkg}, anchor...)...)
	return out + errOut, code
}

// failure returns the first failure of one of the kinds, or fails the
// test naming what was found instead.
func (v bundleVerdict) failure(t *testing.T, kinds ...string) (kind, message string) {
	t.Helper()
	for _, f := range v.Findings {
		for _, k := range kinds {
			if f.Severity == "failure" && f.Kind == k {
				return f.Kind, f.Message
			}
		}
	}
	t.Fatalf("no failure of kind %s in the report:\n%s", strings.Join(kinds, " or "), v.raw)
	return "", ""
}

// rejected asserts exit 1 and a failure of one of the kinds.
func (a *attackStore) rejected(t *testing.T, pkg string, kinds []string, anchor ...string) bundleVerdict {
	t.Helper()
	v, code := a.verify(t, pkg, anchor...)
	if code != cli.ExitFindings || v.OK == nil || *v.OK || v.Status != custody.StatusFailed {
		t.Fatalf("verify --bundle %s: exit %d, want %d with a failed report:\n%s", strings.Join(anchor, " "), code, cli.ExitFindings, v.raw)
	}
	v.failure(t, kinds...)
	return v
}

func readPackage(t *testing.T, pkg string) *forge.Package {
	t.Helper()
	p, err := forge.Read(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writePackage(t *testing.T, p *forge.Package) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "forged.tar.gz")
	if err := p.Write(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func genuineKey(t *testing.T, a *attackStore) signature.SignerVerifier {
	t.Helper()
	k, err := forge.LoadKey(a.key, []byte(attackPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// keyFile is the name the package gives the genuine key in keys/.
func keyFile(t *testing.T, p *forge.Package) string {
	t.Helper()
	var names []string
	for _, f := range p.Files() {
		if strings.HasPrefix(f, forge.KeysDir) {
			names = append(names, strings.TrimPrefix(f, forge.KeysDir))
		}
	}
	if len(names) != 1 {
		t.Fatalf("want one key in the package, found %v", names)
	}
	return names[0]
}

// An examiner changes an artifact, re-signs every manifest, checkpoint
// and the package statement with their own key, and saves that key under
// the genuine key's file name. Only a pinned signer tells it apart.
func TestBundleAttackResignedWithAnotherKey(t *testing.T) {
	t.Parallel()
	a := newAttackStore(t)
	b := a.bucket(t, "a", "responder-1")
	a.add(t, b, "IR-1", "14:02 attacker key AKIA... revoked", "console screenshot")
	a.add(t, b, "IR-1", "second round of notes")
	pkg := a.genuine(t, b)

	// The genuine package, pinned: OK, and the signer is named by the
	// anchor, never by the file name in keys/.
	p := readPackage(t, pkg)
	stem := strings.TrimSuffix(keyFile(t, p), ".pub")
	v, code := a.verify(t, pkg, "--key-id", a.keyID)
	if code != 0 || v.OK == nil || !*v.OK || len(v.Keys) != 1 || v.Keys[0].KeyID != a.keyID || strings.Contains(v.Keys[0].Name, stem) {
		t.Fatalf("genuine package, --key-id: exit %d, want 0 naming key %s not as %q:\n%s", code, a.keyID, stem, v.raw)
	}
	text, code := a.verifyText(t, pkg, "--key-id", a.keyID)
	if code != 0 || !strings.Contains(text, "OK:") || strings.Contains(text, stem) || !strings.Contains(text, a.keyID) {
		t.Fatalf("genuine package, --key-id, text: exit %d\n%s", code, text)
	}
	held := filepath.Join(t.TempDir(), "examiner-copy.pub")
	copyFile(t, a.pub, held)
	if v, code := a.verify(t, pkg, "--key", held); code != 0 || len(v.Keys) != 1 || v.Keys[0].Name != "examiner-copy" {
		t.Fatalf("genuine package, --key: exit %d, want 0 naming the signer examiner-copy:\n%s", code, v.raw)
	}

	ms, err := p.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	art, err := p.SubjectFiles(ms[0])
	if err != nil || len(art) == 0 {
		t.Fatalf("artifacts of %s: %v %v", ms[0].File, art, err)
	}
	p.Set(art[0], []byte("14:02 nothing happened"))
	forger, err := forge.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resign(forger, keyFile(t, p)); err != nil {
		t.Fatal(err)
	}
	forged := writePackage(t, p)
	if keyFile(t, readPackage(t, forged)) != stem+".pub" {
		t.Fatal("the forged key is not under the genuine file name")
	}
	// The forgery is complete: pinned to the forger's own key, it verifies.
	// What follows fails because of the pinning alone.
	forgerPub := filepath.Join(t.TempDir(), "forger.pub")
	pub, err := forger.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(forgerPub, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if v, code := a.verify(t, forged, "--key", forgerPub); code != 0 {
		t.Fatalf("the forged package pinned to the forger's key: exit %d, want 0 (an incomplete forgery proves nothing):\n%s", code, v.raw)
	}

	a.rejected(t, forged, []string{"signer-mismatch"}, "--key-id", a.keyID)
	a.rejected(t, forged, []string{"signer-mismatch"}, "--key", a.pub)
	v = a.rejected(t, forged, []string{"signer-not-pinned"})
	if _, msg := v.failure(t, "signer-not-pinned"); !strings.Contains(msg, pemKeyID(t, forgerPub)) {
		t.Fatalf("signer-not-pinned does not name the key id found: %s", msg)
	}
	for _, k := range v.Keys {
		if strings.Contains(k.Name, stem) || strings.Contains(k.Name, "responder") {
			t.Fatalf("unpinned, the signer is named %q, from the package's own file name", k.Name)
		}
	}
	for _, anchor := range [][]string{nil, {"--key-id", a.keyID}} {
		if text, code := a.verifyText(t, forged, anchor...); code != cli.ExitFindings || strings.Contains(text, "OK:") {
			t.Fatalf("forged package %v, text: exit %d\n%s", anchor, code, text)
		}
	}
}

// The newest manifests and their artifacts are removed from a package:
// by someone without the key (index.json, package.json and SHA256SUMS
// regenerated), and by an insider who re-signs what changed with the
// genuine key but cannot change the heads the statement recorded.
func TestBundleAttackNewestManifestsRemoved(t *testing.T) {
	t.Parallel()
	a := newAttackStore(t)
	b := a.bucket(t, "a", "responder-1")
	for i := range 4 {
		a.add(t, b, "IR-1", fmt.Sprintf("notes, round %d", i+1))
	}
	pkg := a.genuine(t, b)
	drop := func(t *testing.T) *forge.Package {
		p := readPackage(t, pkg)
		ms, err := p.Manifests()
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 4 {
			t.Fatalf("the package holds %d manifests, want 4", len(ms))
		}
		for _, m := range ms[2:] {
			art, err := p.SubjectFiles(m)
			if err != nil || len(art) == 0 {
				t.Fatalf("artifacts of %s: %v %v", m.File, art, err)
			}
			p.Remove(append(art, m.File)...)
		}
		return p
	}

	t.Run("without the key", func(t *testing.T) {
		t.Parallel()
		p := drop(t)
		if err := p.Resum(); err != nil {
			t.Fatal(err)
		}
		a.rejected(t, writePackage(t, p), []string{"bundle-statement-invalid"}, "--key-id", a.keyID)
	})
	t.Run("without the key, package.json kept", func(t *testing.T) {
		t.Parallel()
		p := drop(t)
		genuineStatement, _ := p.Get(forge.PackageFile)
		if err := p.Resum(); err != nil {
			t.Fatal(err)
		}
		p.Set(forge.PackageFile, genuineStatement)
		a.rejected(t, writePackage(t, p), []string{"bundle-statement-invalid"}, "--key-id", a.keyID)
	})
	t.Run("insider lowering the recorded head", func(t *testing.T) {
		t.Parallel()
		p := drop(t)
		ps, err := p.Statement()
		if err != nil {
			t.Fatal(err)
		}
		ms, err := p.Manifests()
		if err != nil {
			t.Fatal(err)
		}
		last := ms[len(ms)-1].Statement.Predicate
		for i := range ps.Streams {
			if ps.Streams[i].Stream == last.Stream {
				ps.Streams[i].Head, ps.Streams[i].HeadEnvelopeSHA256 = last.Sequence, ms[len(ms)-1].Envelope.SHA256
			}
		}
		if err := p.SetStatement(ps); err != nil {
			t.Fatal(err)
		}
		if err := p.Resign(genuineKey(t, a), ""); err != nil {
			t.Fatal(err)
		}
		// The statement is still the manifest after the real head: it
		// gives the lowered head away.
		a.rejected(t, writePackage(t, p), []string{"bundle-statement-invalid"}, "--key-id", a.keyID)
	})
	t.Run("insider keeping the recorded heads", func(t *testing.T) {
		t.Parallel()
		p := drop(t)
		if err := p.Resign(genuineKey(t, a), ""); err != nil {
			t.Fatal(err)
		}
		v := a.rejected(t, writePackage(t, p), []string{"manifest-missing", "bundle-head-mismatch"}, "--key-id", a.keyID)
		if _, msg := v.failure(t, "manifest-missing", "bundle-head-mismatch"); !strings.Contains(msg, "4") {
			t.Fatalf("the finding does not name the recorded head 4: %s", msg)
		}
	})
}

// The selection in package.json and index.json is pointed at a case that
// does not exist, every artifact removed, the sums regenerated.
func TestBundleAttackSelectionPointedAway(t *testing.T) {
	t.Parallel()
	a := newAttackStore(t)
	b := a.bucket(t, "a", "responder-1")
	a.add(t, b, "IR-1", "notes of the case")
	a.add(t, b, "IR-1", "more notes of the case")
	pkg := a.genuine(t, b, "--case", "IR-1")
	if v, code := a.verify(t, pkg, "--key-id", a.keyID); code != 0 {
		t.Fatalf("genuine case package: exit %d\n%s", code, v.raw)
	}

	p := readPackage(t, pkg)
	ms, err := p.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		art, err := p.SubjectFiles(m)
		if err != nil {
			t.Fatal(err)
		}
		p.Remove(art...)
	}
	ps, err := p.Statement()
	if err != nil {
		t.Fatal(err)
	}
	ps.Selection.Case = "IR-DOES-NOT-EXIST"
	for i := range ps.Manifests {
		ps.Manifests[i].Selected = false
	}
	if err := p.SetStatement(ps); err != nil {
		t.Fatal(err)
	}
	bi, err := p.Index()
	if err != nil {
		t.Fatal(err)
	}
	bi.Selection.Case = ps.Selection.Case
	if err := p.SetIndex(bi); err != nil {
		t.Fatal(err)
	}
	if err := p.Resum(); err != nil {
		t.Fatal(err)
	}
	a.rejected(t, writePackage(t, p), []string{"bundle-statement-invalid"}, "--key-id", a.keyID)

	// An insider re-signs the pointed-away selection: a conclusion about
	// the package (exit 1, case-missing), not a usage error.
	if err := p.Resign(genuineKey(t, a), ""); err != nil {
		t.Fatal(err)
	}
	a.rejected(t, writePackage(t, p), []string{"case-missing"}, "--key-id", a.keyID)
}

// A stream of another evidence bucket, signed by the same key, is spliced
// into a package.
func TestBundleAttackSplicedStream(t *testing.T) {
	t.Parallel()
	a := newAttackStore(t)
	home := a.bucket(t, "a", "responder-1")
	other := a.bucket(t, "b", "responder-2")
	a.add(t, home, "IR-1", "notes of the case")
	a.add(t, other, "IR-1", "notes from the other bucket")
	a.add(t, other, "IR-1", "more notes from the other bucket")
	pkg := a.genuine(t, home)
	otherPkg := a.genuine(t, other)
	splice := func(t *testing.T) *forge.Package {
		p := readPackage(t, pkg)
		if err := p.Splice(readPackage(t, otherPkg), "responder-2"); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("without the key", func(t *testing.T) {
		t.Parallel()
		p := splice(t)
		if err := p.Resum(); err != nil {
			t.Fatal(err)
		}
		a.rejected(t, writePackage(t, p), []string{"bundle-statement-invalid", "bundle-stream-unrecorded", "bundle-unsafe"}, "--key-id", a.keyID)
	})
	t.Run("insider re-signing the statement over the splice", func(t *testing.T) {
		t.Parallel()
		p := splice(t)
		if err := p.Resign(genuineKey(t, a), ""); err != nil {
			t.Fatal(err)
		}
		a.rejected(t, writePackage(t, p), []string{"manifest-misplaced"}, "--key-id", a.keyID)
	})
	t.Run("insider leaving the stream out of the statement", func(t *testing.T) {
		t.Parallel()
		p := splice(t)
		ps, err := p.Statement()
		if err != nil {
			t.Fatal(err)
		}
		streams := ps.Streams[:0]
		for _, s := range ps.Streams {
			if s.Stream != "responder-2" {
				streams = append(streams, s)
			}
		}
		ps.Streams = streams
		if err := p.SetStatement(ps); err != nil {
			t.Fatal(err)
		}
		if err := p.Resign(genuineKey(t, a), ""); err != nil {
			t.Fatal(err)
		}
		a.rejected(t, writePackage(t, p), []string{"bundle-stream-unrecorded"}, "--key-id", a.keyID)
	})
}

// A package exported while the store had a failure is written, export
// exits 1, and the recipient sees the failure: the signed statement
// records the export-time verdict.
func TestBundleAttackExportedWithAFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name, kind string
		selection  []string
		harm       func(t *testing.T, c *s3.Client, b attackBucket)
	}{
		{"unsealed object", "unsealed-object", nil, func(t *testing.T, c *s3.Client, b attackBucket) {
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.bucket), Key: aws.String("custody/planted/unsealed.txt"),
				Body: strings.NewReader("put straight into the bucket"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256}); err != nil {
				t.Fatal(err)
			}
		}},
		{"lifted legal hold", "artifact-legal-hold-missing", []string{"--case", "IR-1"}, func(t *testing.T, c *s3.Client, b attackBucket) {
			out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(b.bucket), Prefix: aws.String("custody/cases/IR-1/")})
			if err != nil || len(out.Versions) == 0 {
				t.Fatalf("case artifacts: %v, %v", out, err)
			}
			v := out.Versions[0]
			if _, err := c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String(b.bucket), Key: v.Key, VersionId: v.VersionId,
				LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAttackStore(t)
			b := a.bucket(t, "a", "responder-1")
			a.add(t, b, "IR-1", "notes of the case")
			tc.harm(t, a.env.S3(t), b)
			pkg, code, res := a.export(t, b, tc.selection...)
			if code != cli.ExitFindings || res["ok"] != false {
				t.Fatalf("export of a store with %s: exit %d, %v; want 1", tc.kind, code, res)
			}
			if _, err := os.Stat(pkg); err != nil {
				t.Fatalf("export with failures wrote no package: %v", err)
			}
			v := a.rejected(t, pkg, []string{"bundle-export-failed"}, "--key-id", a.keyID)
			found := false
			for _, f := range v.Findings {
				found = found || f.Kind == "bundle-export-failed" && strings.Contains(f.Message, tc.kind)
			}
			if !found {
				t.Fatalf("no bundle-export-failed naming %s:\n%s", tc.kind, v.raw)
			}
		})
	}
}

// A gzip bomb: an entry of 4 GiB of zeros (a few MB compressed) where
// the statement declares a few bytes, or where it declares nothing.
// verify --bundle stops at it, writes no more than the declared bytes to
// its temporary folder, and removes the folder.
func TestBundleAttackGzipBomb(t *testing.T) {
	t.Parallel()
	a := newAttackStore(t)
	b := a.bucket(t, "a", "responder-1")
	a.add(t, b, "IR-1", "notes of the case", "a second file")
	pkg := a.genuine(t, b)
	declared, err := readPackage(t, pkg).DeclaredSize()
	if err != nil {
		t.Fatal(err)
	}
	const bomb = 4 << 30
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, p *forge.Package)
	}{
		{"artifact replaced", func(t *testing.T, p *forge.Package) {
			ms, err := p.Manifests()
			if err != nil {
				t.Fatal(err)
			}
			art, err := p.SubjectFiles(ms[0])
			if err != nil || len(art) == 0 {
				t.Fatalf("artifacts: %v %v", art, err)
			}
			p.SetZeros(art[0], bomb)
		}},
		{"entry added", func(t *testing.T, p *forge.Package) { p.SetZeros("objects/custody/zz-bomb.bin", bomb) }},
		{"key file replaced", func(t *testing.T, p *forge.Package) { p.SetZeros(forge.KeysDir+keyFile(t, p), bomb) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := readPackage(t, pkg)
			tc.plant(t, p)
			forged := writePackage(t, p)
			if st, err := os.Stat(forged); err != nil || st.Size() > 16<<20 {
				t.Fatalf("the bomb package: %v", err)
			}
			tmp := filepath.Join(t.TempDir(), "tmp")
			if err := os.Mkdir(tmp, 0o700); err != nil {
				t.Fatal(err)
			}
			out, code, peak := a.sampled(t, tmp, declared, "--json", "verify", "--bundle", forged, "--key-id", a.keyID)
			if peak > declared {
				t.Fatalf("verify wrote %d bytes to its temporary folder; the package declares %d", peak, declared)
			}
			var v bundleVerdict
			if err := json.Unmarshal([]byte(out), &v); err != nil || code != cli.ExitFindings {
				t.Fatalf("verify of a gzip bomb: exit %d, %v\n%s", code, err, out)
			}
			v.raw = out
			v.failure(t, "bundle-unsafe")
			if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
				t.Fatalf("the temporary folder is not empty after verify: %v %v", left, err)
			}
		})
	}
}

// sampled runs the custody binary with TMPDIR=tmp, sampling the bytes
// under tmp while it runs; past limit (and a margin) it kills the run, so
// that a failing verify does not fill the disk. It returns stdout, the
// exit code and the most bytes seen.
func (a *attackStore) sampled(t *testing.T, tmp string, limit int64, args ...string) (string, int, int64) {
	t.Helper()
	cmd := exec.Command(custodyBin(t), args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUSTODY_") && !strings.HasPrefix(kv, "TMPDIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, a.bin.env...)
	cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			n := dirBytes(tmp)
			if n > peak.Load() {
				peak.Store(n)
			}
			if n > limit+64<<20 {
				_ = cmd.Process.Kill()
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	wg.Wait()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), code, peak.Load()
}

// dirBytes is the size of the files under dir, as far as it can be read
// while another process writes and removes them.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
