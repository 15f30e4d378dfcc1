package custody

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/custody-ir/custody/custody/finding"
)

// Package layout (docs/export.md). Every path is relative to the package
// root folder inside the tar.gz.
const (
	bundleIndex   = "index.json"
	bundleSums    = "SHA256SUMS"
	bundleReport  = "report.json"
	bundleCustody = "chain-of-custody.md"
	bundleReadme  = "README.md"
	bundleKeys    = "keys/"
	bundleObjects = "objects/"
	// bundleTSAChain holds the TSA's certificates, outside keys/.
	bundleTSAChain = "tsa-chain.pem"
)

// BundleIndex maps every stored object in a package to its file, with the
// Object Lock metadata S3 reported at export time.
type BundleIndex struct {
	Format    string        `json:"format"`
	Bucket    string        `json:"bucket"`
	Prefix    string        `json:"prefix"`
	Selection Selection     `json:"selection"`
	Objects   []BundleEntry `json:"objects"`
}

// BundleEntry is one object version in a package.
type BundleEntry struct {
	ObjectVersion
	File string     `json:"file"`
	Meta ObjectMeta `json:"meta"`
}

const bundleFormat = "custody-export/v1"

// ExportResult describes a written package.
type ExportResult struct {
	Path      string  `json:"path"`
	SHA256    string  `json:"sha256"`
	Size      int64   `json:"size"`
	Report    *Report `json:"-"`
	Artifacts int     `json:"artifacts"`
	Manifests int     `json:"manifests"`
}

// Export verifies the selection and writes the hand-off package to out: the
// selected artifacts, every manifest and checkpoint of their streams, the
// public keys, the verification report, the chain-of-custody document,
// SHA256SUMS and a README for the recipient. It streams every artifact.
// An interrupted export returns the context's error and leaves no file.
func (v *Verifier) Export(ctx context.Context, o VerifyOptions, out string) (*ExportResult, error) {
	res, err := v.export(ctx, o, out)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return res, err
}

func (v *Verifier) export(ctx context.Context, o VerifyOptions, out string) (*ExportResult, error) {
	report, idx, err := v.verify(ctx, o)
	if err != nil {
		return nil, err
	}
	for _, f := range report.Findings {
		if f.Kind == finding.CaseMissing {
			// Nothing of the case to hand off; the chain's failures are
			// for verify to show.
			return nil, fmt.Errorf("nothing to export: %s (run custody verify to see the failures): %w", f.Message, ErrEvidenceFailed)
		}
	}
	root := "custody-export-" + report.VerifiedAt.Format("20060102T150405Z")
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create package %s: %w", out, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(out)
		}
	}()
	h := sha256.New()
	gz := gzip.NewWriter(io.MultiWriter(f, h))
	tw := tar.NewWriter(gz)
	w := &bundleWriter{tw: tw, root: root, sums: map[string]string{}, mtime: report.VerifiedAt}

	bi := BundleIndex{Format: bundleFormat, Bucket: v.bucket, Prefix: v.prefix, Selection: report.Selection}
	streams := map[string]bool{}
	for _, m := range report.Manifests {
		streams[m.Stream] = true
	}
	// The whole chain of every stream, so the recipient can check it.
	var chainObjs []ObjectVersion
	for stream := range streams {
		for _, vs := range idx.manifests[stream] {
			chainObjs = append(chainObjs, vs...)
		}
		for _, vs := range idx.timestamps[stream] {
			chainObjs = append(chainObjs, vs...)
		}
		chainObjs = append(chainObjs, idx.checkpoints[stream]...)
	}
	sortVersions(chainObjs)
	for _, ov := range chainObjs {
		e, err := w.addObject(ctx, v.src, ov, "")
		if err != nil {
			return nil, err
		}
		if e != nil {
			bi.Objects = append(bi.Objects, *e)
		}
	}
	res := &ExportResult{Path: out, Report: report, Manifests: len(chainObjs)}
	for _, m := range report.Manifests {
		if !m.Selected {
			continue
		}
		for _, s := range m.Subjects() {
			ov := ObjectVersion{Key: s.Name, VersionID: s.Annotations.VersionID, Size: s.Annotations.Size}
			e, err := w.addObject(ctx, v.src, ov, s.Digest["sha256"])
			if err != nil {
				return nil, err
			}
			if e != nil {
				bi.Objects = append(bi.Objects, *e)
				res.Artifacts++
			}
		}
	}
	for _, k := range report.Keys {
		if err := w.addFile(bundleKeys+keyFileName(k), []byte(k.PEM)); err != nil {
			return nil, err
		}
	}
	if v.TSA != nil {
		if err := w.addFile(bundleTSAChain, v.TSA.PEM); err != nil {
			return nil, err
		}
	}
	for name, body := range map[string]func() ([]byte, error){
		bundleIndex:   func() ([]byte, error) { return json.MarshalIndent(bi, "", "  ") },
		bundleReport:  func() ([]byte, error) { return json.MarshalIndent(report, "", "  ") },
		bundleCustody: func() ([]byte, error) { return CustodyDocument(report), nil },
		bundleReadme:  func() ([]byte, error) { return recipientReadme(report, bi), nil },
	} {
		b, err := body()
		if err != nil {
			return nil, err
		}
		if err := w.addFile(name, b); err != nil {
			return nil, err
		}
	}
	if err := w.addFile(bundleSums, w.sumsFile()); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	ok = true
	res.SHA256, res.Size = hex.EncodeToString(h.Sum(nil)), st.Size()
	return res, nil
}

// Subjects are the manifest's subjects.
func (m ManifestRecord) Subjects() []Subject { return m.statement.Subject }

func keyFileName(k KeyRecord) string {
	return segment(k.Name) + "-" + k.KeyID[:12] + ".pub"
}

// objectFile is where an object version goes in a package: its key under
// objects/, with the version id appended only for the second and later
// versions of one key.
func objectFile(key, version string, taken map[string]bool) string {
	p := bundleObjects + key
	if c := path.Clean(key); c != key || strings.HasPrefix(c, "/") || c == ".." || strings.HasPrefix(c, "../") || strings.Contains(c, "/../") {
		sum := sha256.Sum256([]byte(key))
		p = bundleObjects + "unsafe-key-" + hex.EncodeToString(sum[:8])
	}
	if taken[p] {
		p += ".version-" + segment(version)
	}
	taken[p] = true
	return p
}

type bundleWriter struct {
	tw    *tar.Writer
	root  string
	sums  map[string]string
	taken map[string]bool
	mtime time.Time
	seen  map[string]bool
}

func (w *bundleWriter) addFile(name string, body []byte) error {
	sum := sha256.Sum256(body)
	w.sums[name] = hex.EncodeToString(sum[:])
	return w.write(name, int64(len(body)), bytes.NewReader(body))
}

func (w *bundleWriter) write(name string, size int64, r io.Reader) error {
	hdr := &tar.Header{Name: path.Join(w.root, name), Mode: 0o444, Size: size, ModTime: w.mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("package %s: %w", name, err)
	}
	n, err := io.Copy(w.tw, r)
	if err != nil {
		return fmt.Errorf("package %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("package %s: %d bytes read, %d expected", name, n, size)
	}
	return nil
}

// addObject streams one object version into the package; with wantSHA it
// refuses bytes that do not hash to it. Delete markers and versions
// already added are skipped (nil entry).
func (w *bundleWriter) addObject(ctx context.Context, src evidenceSource, ov ObjectVersion, wantSHA string) (*BundleEntry, error) {
	if w.taken == nil {
		w.taken, w.seen = map[string]bool{}, map[string]bool{}
	}
	id := ov.Key + "\x00" + ov.VersionID
	if ov.DeleteMarker || w.seen[id] {
		return nil, nil
	}
	w.seen[id] = true
	rc, meta, err := src.Open(ctx, ov.Key, ov.VersionID)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w (run custody verify to see why)", objectName("", ov.Key, ov.VersionID), err)
	}
	defer rc.Close()
	file := objectFile(ov.Key, ov.VersionID, w.taken)
	h := sha256.New()
	if err := w.write(file, meta.Size, io.TeeReader(rc, h)); err != nil {
		return nil, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if wantSHA != "" && sum != wantSHA {
		return nil, fmt.Errorf("export %s: bytes hash to %s, sealed as %s; refusing to export altered evidence (run custody verify)", ov.Key, sum, wantSHA)
	}
	w.sums[file] = sum
	ov.Size = meta.Size
	return &BundleEntry{ObjectVersion: ov, File: file, Meta: meta}, nil
}

// sumsFile is SHA256SUMS in the format sha256sum -c reads.
func (w *bundleWriter) sumsFile() []byte {
	names := make([]string, 0, len(w.sums))
	for n := range w.sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", w.sums[n], n)
	}
	return []byte(b.String())
}

// ExportName suggests a package file name for a selection.
func ExportName(o VerifyOptions, now time.Time) string {
	name := "custody-export-" + now.UTC().Format("20060102T150405Z")
	if o.Case != "" {
		name += "-case-" + segment(o.Case)
	}
	return filepath.Clean(name + ".tar.gz")
}
