package custody

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-ir/custody/custody/finding"
)

// maxBundleEntries bounds the entries of a package.
const maxBundleEntries = 10_000_000

// ErrBadBundle means a file is not a custody export package at all.
var ErrBadBundle = errors.New("not a valid custody export package")

const (
	remedyBundle  = "the package was altered after export: ask the sender for the package again, and check the key id with them"
	remedyPinning = "obtain the signer's key id from the sender by a separate channel (phone, signed letter, the case file) and run custody verify --bundle PACKAGE --key-id ID; a key's id is: openssl pkey -pubin -in keys/NAME.pub -outform DER | sha256sum"
)

// VerifyBundle checks an exported package offline. The package's signed
// statement is checked first, against the anchor, and says what the
// package may hold; the rest is then read once, in a stream: only the
// files the statement declares are written to a temporary folder, each
// no larger than declared, and hashed as they are written. The manifests,
// chain and artifacts are then verified as verify checks a bucket
// (without the Object Lock checks a file cannot show), bound to the
// statement's bucket and to each stream's recorded head.
//
// With an empty anchor, everything is checked with the package's own
// keys and the report fails with signer-not-pinned: a package cannot
// vouch for itself. Signer names come from the anchor, never from the
// package.
func VerifyBundle(ctx context.Context, pkg string, o VerifyOptions, anchor Anchor, now func() time.Time) (*Report, error) {
	return verifyBundle(ctx, pkg, o, anchor, now, nil)
}

// BundleFile opens one object version of a verified package.
type BundleFile func(key, versionID string) (io.ReadCloser, error)

// ReadBundle verifies a package as VerifyBundle does and, when the report
// is OK (its signer pinned, every file what the statement declares),
// calls use with the report and a reader of the package's files, before
// the unpacked files are removed: what custody search reads offline. A
// package that does not verify is never read.
func ReadBundle(ctx context.Context, pkg string, o VerifyOptions, anchor Anchor, now func() time.Time, use func(*Report, BundleFile) error) (*Report, error) {
	return verifyBundle(ctx, pkg, o, anchor, now, func(r *Report, src *bundleSource) error {
		if !r.OK {
			return nil
		}
		return use(r, func(key, versionID string) (io.ReadCloser, error) {
			rc, _, err := src.Open(ctx, key, versionID)
			return rc, err
		})
	})
}

func verifyBundle(ctx context.Context, pkg string, o VerifyOptions, anchor Anchor, now func() time.Time, after func(*Report, *bundleSource) error) (*Report, error) {
	f, err := os.Open(pkg)
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	defer f.Close()
	dir, err := os.MkdirTemp(o.TempDir, "custody-bundle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b := &bundleReader{pkg: pkg, dir: dir, anchor: anchor, seen: map[string]bool{}, sums: map[string]PackageFile{}}
	b.report = &Report{VerifiedAt: now().UTC(), Selection: Selection{Since: o.Since, Until: o.Until, Case: o.Case}, Findings: Findings{}}
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadBundle, pkg, err)
	}
	b.tr = tar.NewReader(gz)
	if !b.readStatement() || !b.extract(ctx) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		b.report.conclude()
		return b.report, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	r, src, err := b.verify(ctx, o, now)
	if err == nil && after != nil && src != nil {
		err = after(r, src)
	}
	return r, err
}

// bundleReader reads one package.
type bundleReader struct {
	pkg    string
	dir    string
	anchor Anchor
	report *Report
	tr     *tar.Reader
	root   string
	seen   map[string]bool
	// pending is an entry read past the statement files.
	pending *tar.Header

	statement Envelope
	predicate Predicate
	ps        PackageStatement
	index     BundleIndex
	trust     []TrustedKey
	tsa       []byte
	// declared are the files the statement declares and not yet read.
	declared map[string]PackageFile
	// sums are the files written, as hashed while writing.
	sums map[string]PackageFile
}

func (b *bundleReader) fail(kind finding.Kind, object, remedy, format string, args ...any) {
	b.report.Findings.Fail(kind, object, remedy, format, args...)
}

// next returns the next entry, checked for a safe name inside the one
// root folder; nil at the end. A damaged or unsafe archive is a
// bundle-unsafe failure and ends reading.
func (b *bundleReader) next() (*tar.Header, string, bool) {
	if h := b.pending; h != nil {
		b.pending = nil
		return h, b.rel(h.Name), true
	}
	for {
		hdr, err := b.tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, "", true
		}
		if err != nil {
			b.fail(finding.BundleUnsafe, b.pkg, remedyBundle, "the archive is damaged: %v; reading stopped", err)
			return nil, "", false
		}
		if len(b.seen) >= maxBundleEntries {
			b.fail(finding.BundleUnsafe, b.pkg, remedyBundle, "more than %d entries; reading stopped", maxBundleEntries)
			return nil, "", false
		}
		name := hdr.Name
		clean := path.Clean(name)
		if name == "" || path.IsAbs(name) || clean != strings.TrimSuffix(name, "/") || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(name, "\\") {
			b.fail(finding.BundleUnsafe, name, remedyBundle, "unsafe entry name %q; reading stopped", name)
			return nil, "", false
		}
		top, _, _ := strings.Cut(clean, "/")
		if b.root == "" {
			b.root = top
		} else if top != b.root {
			b.fail(finding.BundleUnsafe, name, remedyBundle, "entry %q is outside the package folder %q; reading stopped", name, b.root)
			return nil, "", false
		}
		if b.seen[clean] {
			b.fail(finding.BundleUnsafe, name, remedyBundle, "entry %q appears twice; reading stopped", name)
			return nil, "", false
		}
		b.seen[clean] = true
		switch hdr.Typeflag {
		case tar.TypeDir:
			continue // folders are implied by the files' names
		case tar.TypeReg:
			return hdr, b.rel(clean), true
		default:
			b.fail(finding.BundleUnsafe, name, remedyBundle, "entry %q is not a regular file (type %q): links and devices are refused; reading stopped", name, hdr.Typeflag)
			return nil, "", false
		}
	}
}

func (b *bundleReader) rel(name string) string {
	_, rel, _ := strings.Cut(path.Clean(name), "/")
	return rel
}

// readStatement reads the statement files at the head of the archive,
// verifies the statement against the anchor and its subjects against the
// files, and learns what the package may hold. It reports whether reading
// may go on.
func (b *bundleReader) readStatement() bool {
	meta := map[string][]byte{}
	var keyFiles []string
	var metaBytes int64 // read into memory before the statement is verified
	for {
		hdr, rel, ok := b.next()
		if !ok {
			return false
		}
		if hdr == nil {
			break
		}
		isMeta := rel == bundleStatement || rel == bundlePackage || rel == bundleSums || rel == bundleIndex || rel == bundleTSAChain ||
			(strings.HasPrefix(rel, bundleKeys) && !strings.Contains(strings.TrimPrefix(rel, bundleKeys), "/"))
		if len(meta) == 0 && rel != bundleStatement {
			b.fail(finding.BundleStatementMissing, bundleStatement, "ask the sender to export the package again with this version of custody",
				"the package does not start with its signed statement %s (it starts with %q): it was exported by an older custody or altered; nothing was extracted", bundleStatement, rel)
			return false
		}
		if !isMeta {
			b.pending = hdr
			break
		}
		limit := maxBundleMeta - metaBytes
		if strings.HasPrefix(rel, bundleKeys) {
			limit = min(limit, maxBundleKey)
		}
		if hdr.Size > limit {
			b.fail(finding.BundleUnsafe, rel, remedyBundle, "%d bytes: the statement files may take %d bytes in all, a key %d; reading stopped", hdr.Size, int64(maxBundleMeta), int64(maxBundleKey))
			return false
		}
		metaBytes += hdr.Size
		body, err := io.ReadAll(io.LimitReader(b.tr, hdr.Size))
		if err != nil {
			b.fail(finding.BundleUnsafe, rel, remedyBundle, "the archive is damaged: %v; reading stopped", err)
			return false
		}
		meta[rel] = body
		if strings.HasPrefix(rel, bundleKeys) {
			keyFiles = append(keyFiles, rel)
		}
	}
	if len(meta) == 0 {
		b.fail(finding.BundleStatementMissing, bundleStatement, "ask the sender for the package again", "the package is empty")
		return false
	}
	for _, name := range []string{bundlePackage, bundleSums, bundleIndex} {
		if meta[name] == nil {
			b.fail(finding.BundleStatementInvalid, name, remedyBundle, "the package has no %s beside its statement; nothing was extracted", name)
			return false
		}
	}
	b.trust = b.resolveTrust(meta, keyFiles)
	if !b.checkStatement(meta) {
		return false
	}
	b.tsa = meta[bundleTSAChain]
	// Every statement file but the three the statement signs directly
	// must be declared, and match.
	b.declared = map[string]PackageFile{}
	for _, pf := range b.ps.Files {
		b.declared[pf.Name] = pf
	}
	for name, body := range meta {
		if name == bundleStatement || name == bundlePackage || name == bundleSums {
			continue
		}
		b.take(name, packageFile(name, body))
	}
	return true
}

// take records a file that was read as pf against what was declared.
func (b *bundleReader) take(name string, got PackageFile) {
	want, ok := b.declared[name]
	if !ok {
		b.fail(finding.BundleUnlistedFile, name, remedyBundle, "not declared by the signed statement")
		return
	}
	delete(b.declared, name)
	b.sums[name] = got
	if got.SHA256 != want.SHA256 || got.Size != want.Size {
		b.fail(finding.BundleFileModified, name, remedyBundle, "hashes to %s (%d bytes); the signed statement declares %s (%d bytes)", got.SHA256, got.Size, want.SHA256, want.Size)
	}
}

// extract writes every remaining file the statement declares, hashing it
// as it is written. The first entry that is not declared, or is larger
// than declared, stops reading: no more than the declared bytes are ever
// written.
func (b *bundleReader) extract(ctx context.Context) bool {
	buf := make([]byte, 1<<20)
	for {
		if ctx.Err() != nil {
			return false
		}
		hdr, rel, ok := b.next()
		if !ok {
			return false
		}
		if hdr == nil {
			break
		}
		want, declared := b.declared[rel]
		switch {
		case !declared && b.sums[rel].Name != "":
			b.fail(finding.BundleUnsafe, rel, remedyBundle, "appears twice; reading stopped")
			return false
		case !declared:
			b.fail(finding.BundleUnsafe, rel, remedyBundle, "an entry of %d bytes the signed statement does not declare; reading stopped", hdr.Size)
			return false
		case hdr.Size != want.Size:
			b.fail(finding.BundleUnsafe, rel, remedyBundle, "an entry of %d bytes; the signed statement declares %d; reading stopped", hdr.Size, want.Size)
			return false
		}
		got, err := b.write(rel, hdr.Size, buf)
		if err != nil {
			b.fail(finding.BundleUnsafe, rel, remedyBundle, "%v; reading stopped", err)
			return false
		}
		b.take(rel, got)
	}
	names := make([]string, 0, len(b.declared))
	for n := range b.declared {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.fail(finding.BundleFileMissing, n, remedyBundle, "declared by the signed statement but not in the package")
	}
	return true
}

// write extracts one entry of size bytes, hashing it on the way.
func (b *bundleReader) write(rel string, size int64, buf []byte) (PackageFile, error) {
	target := filepath.Join(b.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return PackageFile{}, err
	}
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return PackageFile{}, err
	}
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(out, h), io.LimitReader(b.tr, size), buf)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("the archive ends after %d of %d bytes", n, size)
	}
	if err != nil {
		return PackageFile{}, fmt.Errorf("the archive is damaged: %w", err)
	}
	return PackageFile{Name: rel, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// verify checks the extracted manifests, chain and artifacts, then the
// export-time verdict the statement records.
func (b *bundleReader) verify(ctx context.Context, o VerifyOptions, now func() time.Time) (*Report, *bundleSource, error) {
	fromStatement := o.Since.IsZero() && o.Until.IsZero() && o.Case == ""
	if fromStatement {
		o.Since, o.Until, o.Case = b.ps.Selection.Since, b.ps.Selection.Until, b.ps.Selection.Case
	}
	src := &bundleSource{root: b.dir, byID: map[string]BundleEntry{}, sums: b.sums}
	for _, e := range b.index.Objects {
		clean := path.Clean(e.File)
		if !strings.HasPrefix(clean, bundleObjects) || strings.Contains(clean, "..") {
			b.fail(finding.BundleIndexMalformed, e.File, remedyBundle, "index entry for %s points outside objects/", e.Key)
			continue
		}
		e.File = clean
		src.entries = append(src.entries, e)
		src.byID[e.Key+"\x00"+e.VersionID] = e
	}
	sort.SliceStable(src.entries, func(i, j int) bool { return src.entries[i].Key < src.entries[j].Key })
	recorded := map[string]PackageStream{}
	for _, s := range b.ps.Streams {
		recorded[s.Stream] = s
	}
	proofs := map[string]map[int64]tlog.RecordProof{}
	for _, m := range b.ps.Manifests {
		p := tlog.RecordProof{} // a log of one manifest has an empty proof
		for _, x := range m.Proof {
			h, err := tlog.ParseHash(x)
			if err != nil {
				b.fail(finding.BundleStatementInvalid, bundlePackage, remedyBundle, "manifest %s: proof hash %q: %v", m.File, x, err)
				break
			}
			p = append(p, h)
		}
		if proofs[m.Stream] == nil {
			proofs[m.Stream] = map[int64]tlog.RecordProof{}
		}
		proofs[m.Stream][m.Sequence] = p
	}
	v := &Verifier{src: src, bucket: b.ps.Bucket, prefix: b.ps.Prefix, region: b.ps.Region, trust: b.trust, now: now, recorded: recorded, proofs: proofs,
		wholePackage: b.ps.Selection == (Selection{})}
	if b.tsa != nil {
		chain, err := ParseTSAChain(b.tsa)
		if err != nil {
			b.fail(finding.BundleStatementInvalid, bundleTSAChain, remedyBundle, "not a TSA certificate chain: %v", err)
		} else {
			v.TSA = &chain
		}
	}
	r, err := v.Verify(ctx, o)
	if errors.Is(err, ErrNoSuchCase) && fromStatement {
		// The signed selection names a case the package holds nothing
		// of: a conclusion about the package, not a usage error.
		b.fail(finding.CaseMissing, bundlePackage, remedyBundle, "the package's signed selection is case %q, and no manifest in the package is of it", o.Case)
		b.report.Selection = Selection{Since: o.Since, Until: o.Until, Case: o.Case}
		b.report.conclude()
		return b.report, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	b.checkStatementLink()
	b.checkWitnessCopies()
	if !b.ps.Verdict.OK {
		fails := b.ps.Verdict.Failures
		if len(fails) == 0 {
			b.fail(finding.BundleExportFailed, bundlePackage, "ask the sender for the export-time report (report.json)", "the verification at export failed")
		}
		for _, f := range fails {
			b.fail(finding.BundleExportFailed, f.Object, f.Remedy, "at export, verify found %s: %s", f.Kind, f.Message)
		}
	}
	r.Findings = append(b.report.Findings, r.Findings...)
	sort.SliceStable(r.Findings, func(i, j int) bool {
		return r.Findings[i].Severity != r.Findings[j].Severity && r.Findings[i].Severity == SeverityFailure
	})
	r.conclude()
	return r, src, nil
}

// bundleSource serves an extracted package as an evidence source; the
// files' digests were computed while extracting.
type bundleSource struct {
	root    string
	entries []BundleEntry
	byID    map[string]BundleEntry
	sums    map[string]PackageFile
}

func (s *bundleSource) Offline() bool { return true }

func (s *bundleSource) Versions(_ context.Context, prefix string, fn func(ObjectVersion) error) error {
	for _, e := range s.entries {
		if strings.HasPrefix(e.Key, prefix) {
			if err := fn(e.ObjectVersion); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *bundleSource) Open(_ context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, error) {
	e, ok := s.byID[key+"\x00"+versionID]
	if !ok {
		return nil, ObjectMeta{}, ErrVersionMissing
	}
	f, err := os.Open(filepath.Join(s.root, filepath.FromSlash(e.File)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ObjectMeta{}, ErrVersionMissing
	}
	if err != nil {
		return nil, ObjectMeta{}, err
	}
	return f, e.Meta, nil
}

// digest is the SHA-256 and size of a version's file, as hashed when it
// was extracted: verify need not read it again.
func (s *bundleSource) digest(key, versionID string) (string, int64, bool) {
	e, ok := s.byID[key+"\x00"+versionID]
	if !ok {
		return "", 0, false
	}
	pf, ok := s.sums[e.File]
	return pf.SHA256, pf.Size, ok
}
