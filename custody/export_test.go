package custody

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

func (e *testEnv) export(o VerifyOptions) (string, *ExportResult) {
	e.t.Helper()
	out := filepath.Join(e.t.TempDir(), "package.tar.gz")
	res, err := NewVerifier(e.s3, e.cfg, e.trust, e.ledger, e.clock.now).Export(context.Background(), o, out, e.chain)
	if err != nil {
		e.t.Fatal(err)
	}
	return out, res
}

// pinned is the anchor a recipient who was given the test signer's key
// holds.
func (e *testEnv) pinned() Anchor { return Anchor{Keys: e.trust} }

// extract unpacks a package with tar, as a recipient does, and returns its
// root folder.
func extract(t *testing.T, pkg string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("tar", "-xzf", pkg, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar -xzf %s: %v\n%s", pkg, err, out)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("package %s has %d root entries (%v)", pkg, len(entries), err)
	}
	return filepath.Join(dir, entries[0].Name())
}

func TestExportVerifiesOffline(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, config.ModeCompliance)
	e.collect(e.chain, 2)
	e.collect(e.chain, 3)
	pkg, res := e.export(VerifyOptions{})
	if !res.Report.OK || res.Artifacts != 5 || res.Size == 0 || len(res.SHA256) != 64 {
		t.Fatalf("export = %+v (report ok %v)", res, res.Report.OK)
	}
	r, err := VerifyBundle(context.Background(), pkg, VerifyOptions{}, e.pinned(), e.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	if fs := testaws.Failures(r.Findings); len(fs) != 0 || r.Checked.Subjects != 5 || r.Checked.Manifests != 2 {
		t.Fatalf("bundle: %+v %v", r.Checked, fs)
	}
	root := extract(t, pkg)
	for _, f := range []string{"README.md", "SHA256SUMS", "report.json", "chain-of-custody.md", "index.json"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("package lacks %s", f)
		}
	}
	doc, _ := os.ReadFile(filepath.Join(root, "chain-of-custody.md"))
	if !strings.Contains(string(doc), "| agent-1 | 2 | collect |") {
		t.Errorf("chain-of-custody document lacks the events:\n%s", doc)
	}
	// The recipient's standard tools: sha256sum -c over the whole package.
	cmd := exec.Command("sha256sum", "--quiet", "-c", "SHA256SUMS")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
}

func TestExportSelectsCase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, config.ModeCompliance)
	e.collect(e.chain, 2)
	run, err := e.chain.StartRun(ctx, "add")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Put(ctx, CaseKey("custody", "IR-7", e.clock.now(), run.ID, "notes.txt"), strings.NewReader("notes"), PutOptions{Kind: "file", Case: "IR-7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Seal(ctx, SealRequest{Event: EventAdd, Case: "IR-7"}, nil); err != nil {
		t.Fatal(err)
	}
	pkg, res := e.export(VerifyOptions{Case: "IR-7"})
	if res.Artifacts != 1 || !res.Report.OK {
		t.Fatalf("case export = %d artifacts, ok %v", res.Artifacts, res.Report.OK)
	}
	r, err := VerifyBundle(ctx, pkg, VerifyOptions{}, e.pinned(), e.clock.now)
	if err != nil || !r.OK || r.Checked.Subjects != 1 || r.Selection.Case != "IR-7" {
		t.Fatalf("case bundle: %+v %v %v", r.Checked, testaws.Failures(r.Findings), err)
	}
}

// writeEntry adds an entry, with body when it has one, to tw.
func writeEntry(t *testing.T, tw *tar.Writer, hdr *tar.Header, body []byte) {
	t.Helper()
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
}

// closeTar ends the archive and its compression.
func closeTar(t *testing.T, tw *tar.Writer, gw *gzip.Writer) {
	t.Helper()
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
}

// repack rewrites a package, letting edit change entries (nil drops one).
func repack(t *testing.T, pkg string, edit func(hdr *tar.Header, body []byte) []byte) string {
	t.Helper()
	f, err := os.Open(pkg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, _ := gzip.NewReader(f)
	tr := tar.NewReader(gz)
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		body = edit(hdr, body)
		if body == nil {
			continue // dropped
		}
		hdr.Size = int64(len(body))
		writeEntry(t, tw, hdr, body)
	}
	closeTar(t, tw, gw)
	out := filepath.Join(t.TempDir(), "edited.tar.gz")
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEditedPackageIsCaught(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, config.ModeCompliance)
	_, arts := e.collect(e.chain, 2)
	pkg, _ := e.export(VerifyOptions{})
	target := "objects/" + arts[0].Key
	edited := repack(t, pkg, func(hdr *tar.Header, body []byte) []byte {
		if strings.HasSuffix(hdr.Name, "/"+target) {
			body = append([]byte(nil), body...)
			body[0] ^= 1 // the same size: declared, but altered
		}
		return body
	})
	r, err := VerifyBundle(context.Background(), edited, VerifyOptions{}, e.pinned(), e.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	testaws.RequireFinding(t, r.Findings, "bundle-file-modified", target)
	testaws.RequireFinding(t, r.Findings, "artifact-digest-mismatch", arts[0].Key)
}

func TestUnsafePackagesAreRefused(t *testing.T) {
	t.Parallel()
	x := []byte("x")
	cases := map[string]func(tw *tar.Writer){
		"path traversal": func(tw *tar.Writer) {
			writeEntry(t, tw, &tar.Header{Name: "root/../../etc/passwd", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, x)
		},
		"absolute path": func(tw *tar.Writer) {
			writeEntry(t, tw, &tar.Header{Name: "/tmp/x", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, x)
		},
		"symlink": func(tw *tar.Writer) {
			writeEntry(t, tw, &tar.Header{Name: "root/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, nil)
		},
		"two roots": func(tw *tar.Writer) {
			for _, n := range []string{"a/x", "b/y"} {
				writeEntry(t, tw, &tar.Header{Name: n, Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, x)
			}
		},
		"oversized key before the statement is checked": func(tw *tar.Writer) {
			writeEntry(t, tw, &tar.Header{Name: "root/package.dsse.json", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, x)
			big := make([]byte, maxBundleKey+1)
			writeEntry(t, tw, &tar.Header{Name: "root/keys/a.pub", Typeflag: tar.TypeReg, Size: int64(len(big)), Mode: 0o644}, big)
		},
		"duplicate entry": func(tw *tar.Writer) {
			for i := 0; i < 2; i++ {
				writeEntry(t, tw, &tar.Header{Name: "root/x", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, x)
			}
		},
	}
	clock := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	for name, write := range cases {
		var buf bytes.Buffer
		gw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gw)
		write(tw)
		closeTar(t, tw, gw)
		pkg := filepath.Join(t.TempDir(), "bad.tar.gz")
		if err := os.WriteFile(pkg, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := VerifyBundle(context.Background(), pkg, VerifyOptions{}, Anchor{}, clock)
		if err != nil || r.OK || len(r.Findings) != 1 || (r.Findings[0].Kind != "bundle-unsafe" && r.Findings[0].Kind != "bundle-statement-missing") {
			t.Errorf("%s: %v, %+v; want one bundle-unsafe or bundle-statement-missing failure", name, err, r)
		}
	}
	garbage := filepath.Join(t.TempDir(), "garbage.tar.gz")
	if err := os.WriteFile(garbage, []byte("not gzip"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyBundle(context.Background(), garbage, VerifyOptions{}, Anchor{}, clock); !errors.Is(err, ErrBadBundle) {
		t.Errorf("garbage: err = %v", err)
	}
}

// TestCosignVerifiesManifest checks interoperability: cosign verifies a
// manifest envelope from a package against one of its artifacts, and the
// README's openssl recipe verifies the same signature.
func TestCosignVerifiesManifest(t *testing.T) {
	t.Parallel()
	cosign := testaws.Tool(t, "cosign", testaws.CosignVersion)
	e := newTestEnv(t, config.ModeCompliance)
	m, arts := e.collect(e.chain, 2)
	pkg, res := e.export(VerifyOptions{})
	root := extract(t, pkg)
	keyFile := filepath.Join("keys", keyFileName(res.Report.Keys[0]))
	run := func(args ...string) (string, error) {
		cmd := exec.Command(cosign, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "COSIGN_EXPERIMENTAL=0", "SIGSTORE_NO_CACHE=1", "TUF_ROOT="+t.TempDir(),
			"TUF_MIRROR=http://127.0.0.1:1") // cosign would fetch its TUF root from the internet: keep it on loopback
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	args := []string{"verify-blob-attestation", "--insecure-ignore-tlog", "--key", keyFile, "--type", PredicateType,
		"--signature", filepath.Join("objects", m.Key), filepath.Join("objects", arts[1].Key)}
	if out, err := run(args...); err != nil {
		t.Fatalf("cosign rejects a custody manifest: %v\n%s", err, out)
	}
	// And refuses a blob the manifest does not cover.
	other := filepath.Join(root, "other.bin")
	if err := os.WriteFile(other, []byte("not evidence"), 0o600); err != nil {
		t.Fatal(err)
	}
	args[len(args)-1] = "other.bin"
	if out, err := run(args...); err == nil {
		t.Fatalf("cosign accepted a blob the manifest does not list:\n%s", out)
	}

	script := `set -euo pipefail
env=objects/` + m.Key + `
jq -r .payload "$env" | base64 -d > /tmp/payload.$$.json
type=$(jq -r .payloadType "$env")
{ printf 'DSSEv1 %d %s %d ' "${#type}" "$type" "$(wc -c < /tmp/payload.$$.json)"; cat /tmp/payload.$$.json; } > /tmp/pae.$$.bin
jq -r '.signatures[0].sig' "$env" | base64 -d > /tmp/sig.$$.der
openssl dgst -sha256 -verify ` + keyFile + ` -signature /tmp/sig.$$.der /tmp/pae.$$.bin
jq -r '.subject[] | "\(.digest.sha256)  objects/\(.name)"' /tmp/payload.$$.json | sha256sum -c --quiet
rm -f /tmp/payload.$$.json /tmp/pae.$$.bin /tmp/sig.$$.der`
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's openssl recipe fails: %v\n%s", err, out)
	}
}
