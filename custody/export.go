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
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/ledger"
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
	// SignerKeyID is the key id that signed the package statement: the
	// sender gives it to the recipient by a separate channel.
	SignerKeyID string `json:"signerKeyId"`
	// Event is the export event's manifest (the package statement).
	Event Recorded `json:"-"`
}

// PackageSealer records the export as a custody event and reads back the
// event's signed envelope: the package statement. *Chain is one.
type PackageSealer interface {
	Record(ctx context.Context, e Event) (Recorded, error)
	Envelope(ctx context.Context, m ledger.Manifest) ([]byte, error)
	SignerKeyID() string
}

// Export verifies the selection and writes the hand-off package to out
// (layout in package.go): the signed package statement first, then the
// selected artifacts, the manifests that link them to each stream's head,
// the public keys, the verification report, the chain-of-custody document,
// SHA256SUMS and a README for the recipient. The export is recorded
// through seal as a custody event whose signed manifest is the package
// statement. Artifacts are streamed once, into a part file beside out;
// the statement, which vouches for their digests, is then written ahead
// of them. An interrupted or failed export leaves no file; an export
// event is recorded only once every artifact is in the part file.
func (v *Verifier) Export(ctx context.Context, o VerifyOptions, out string, seal PackageSealer) (*ExportResult, error) {
	res, err := v.export(ctx, o, out, seal)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return res, err
}

func (v *Verifier) export(ctx context.Context, o VerifyOptions, out string, seal PackageSealer) (*ExportResult, error) {
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
	part, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.part")
	if err != nil {
		f.Close()
		os.Remove(out)
		return nil, fmt.Errorf("create package %s: %w", out, err)
	}
	ok := false
	defer func() {
		part.Close()
		os.Remove(part.Name())
		if !ok {
			f.Close()
			os.Remove(out)
		}
	}()

	// The body: everything the statement vouches for, hashed as written.
	body := newBundleWriter(part, root, report.VerifiedAt)
	plan := v.packagePlan(report, idx)
	witnesses, witnessFiles, err := v.packageWitnesses(ctx, plan, report)
	if err != nil {
		return nil, err
	}
	ps := PackageStatement{Format: packageFormat, Bucket: v.bucket, Prefix: v.prefix, Region: v.region, ExportedAt: report.VerifiedAt,
		Selection: report.Selection, Verdict: PackageVerdict{OK: report.OK, Failures: failuresOf(report.Findings)}, Streams: plan.streams,
		Witnesses: witnesses}
	bi := BundleIndex{Format: bundleFormat, Bucket: v.bucket, Prefix: v.prefix, Selection: report.Selection}
	held := plan.held(report)
	docs := map[string][]byte{
		bundleReadme:  recipientReadme(held, v.prefix, seal.SignerKeyID()),
		bundleCustody: CustodyDocument(held),
	}
	if docs[bundleReport], err = json.MarshalIndent(held, "", "  "); err != nil {
		return nil, err
	}
	for _, name := range []string{bundleReadme, bundleReport, bundleCustody} {
		if err := body.addFile(name, docs[name]); err != nil {
			return nil, err
		}
	}
	for _, wf := range witnessFiles {
		if err := body.addFile(wf.name, wf.body); err != nil {
			return nil, err
		}
	}
	res := &ExportResult{Path: out, Report: report, SignerKeyID: seal.SignerKeyID()}
	for _, ov := range plan.chain {
		e, err := body.addObject(ctx, v.src, ov, "")
		if err != nil {
			return nil, err
		}
		if e == nil {
			continue
		}
		bi.Objects = append(bi.Objects, *e)
		if stream, seq, isManifest := ParseManifestKey(v.prefix, ov.Key); isManifest {
			ps.Manifests = append(ps.Manifests, PackageManifest{File: e.File, Stream: stream, Sequence: seq, VersionID: ov.VersionID,
				Selected: plan.selected[stream+"\x00"+ov.VersionID], Proof: plan.proofs[stream][seq]})
			res.Manifests++
		}
	}
	for _, m := range report.Manifests {
		if !m.Selected {
			continue
		}
		for _, s := range m.Subjects() {
			ov := ObjectVersion{Key: s.Name, VersionID: s.Annotations.VersionID, Size: s.Annotations.Size}
			ov.LastModified = lastModified(idx, ov) // offline verify compares it with its manifest's
			e, err := body.addObject(ctx, v.src, ov, s.Digest["sha256"])
			if err != nil {
				return nil, err
			}
			if e != nil {
				bi.Objects = append(bi.Objects, *e)
				res.Artifacts++
			}
		}
	}
	if err := body.close(); err != nil {
		return nil, err
	}

	// The head: the statement files, small, known now.
	head := newBundleWriter(f, root, report.VerifiedAt)
	head.sha = body.sha // one package digest over head and body, in order
	head.sha.Reset()
	meta := map[string][]byte{}
	if meta[bundleIndex], err = json.MarshalIndent(bi, "", "  "); err != nil {
		return nil, err
	}
	var extra []string
	for _, k := range report.Keys {
		name := bundleKeys + keyFileName(k)
		meta[name] = []byte(k.PEM)
		extra = append(extra, name)
	}
	if v.TSA != nil {
		meta[bundleTSAChain] = v.TSA.PEM
		extra = append(extra, bundleTSAChain)
	}
	ps.Files = body.files
	for _, name := range append([]string{bundleIndex}, extra...) {
		ps.Files = append(ps.Files, packageFile(name, meta[name]))
	}
	if meta[bundlePackage], err = json.MarshalIndent(ps, "", "  "); err != nil {
		return nil, err
	}
	meta[bundleSums] = sumsFile(ps.Files)
	// From here on an interrupt does not stop the export: an export event
	// recorded without its package would record a hand-off that did not
	// happen. Every AWS call is bounded, and what is left is local.
	ctx = context.WithoutCancel(ctx)
	rec, err := seal.Record(ctx, exportEvent(report, o, filepath.Base(out), res, meta, docs))
	if err != nil {
		return nil, fmt.Errorf("record the export event (no package was written): %w", err)
	}
	res.Event = rec
	env, err := seal.Envelope(ctx, rec.Manifest)
	if err != nil {
		return nil, fmt.Errorf("export recorded as manifest %d of stream %s, but no package was written: %w", rec.Seq, rec.Stream, err)
	}
	for _, name := range append([]string{bundleStatement, bundlePackage, bundleSums, bundleIndex}, extra...) {
		b := meta[name]
		if name == bundleStatement {
			b = env
		}
		if err := head.addFile(name, b); err != nil {
			return nil, err
		}
	}
	if err := head.flush(); err != nil {
		return nil, err
	}
	if _, err := part.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.MultiWriter(f, head.sha), part); err != nil {
		return nil, fmt.Errorf("write package %s: %w", out, err)
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
	res.SHA256, res.Size = hex.EncodeToString(head.sha.Sum(nil)), st.Size()
	return res, nil
}

// exportEvent is the export as a custody event: its records are the
// package's statement files, so that its signed manifest vouches for them.
func exportEvent(r *Report, o VerifyOptions, name string, res *ExportResult, meta, docs map[string][]byte) Event {
	rec := func(n string, b []byte, ct string) Record {
		return Record{Name: n, Kind: "export-record", Body: bytes.NewReader(b), ContentType: ct}
	}
	return Event{
		Type: EventExport, Case: o.Case, Description: "hand-off package exported",
		WindowStart: o.Since, WindowEnd: o.Until,
		Details: map[string]string{"package": name, "artifacts": fmt.Sprint(res.Artifacts), "manifests": fmt.Sprint(res.Manifests),
			"reportOk": fmt.Sprint(r.OK), "sha256sumsSha256": sha256Hex(meta[bundleSums])},
		Records: []Record{
			rec(bundlePackage, meta[bundlePackage], "application/json"),
			rec(bundleSums, meta[bundleSums], "text/plain"),
			rec(bundleIndex, meta[bundleIndex], "application/json"),
			rec(bundleReport, docs[bundleReport], "application/json"),
			rec(bundleCustody, docs[bundleCustody], "text/markdown"),
		},
	}
}

// held is the report as the package tells it: its counts and findings are
// the whole verification's, its manifests those the package holds, so
// that a case's package does not grow with the store.
func (p packagePlan) held(r *Report) *Report {
	h := *r
	h.Manifests = nil
	for _, m := range r.Manifests {
		if p.holds[m.Stream][m.Sequence] {
			h.Manifests = append(h.Manifests, m)
		}
	}
	return &h
}

// packagePlan is what a package holds of the chain.
type packagePlan struct {
	streams  []PackageStream
	chain    []ObjectVersion           // manifests, timestamps and latest checkpoints
	selected map[string]bool           // stream + "\x00" + manifest version id
	holds    map[string]map[int64]bool // the manifests held, by stream
	// proofs are the held manifests' inclusion proofs in their stream's
	// log at the recorded head, for streams with a log.
	proofs map[string]map[int64][]string
	// trees are the logs of the streams the package proves, whose
	// witness copies get consistency proofs against the recorded head.
	trees map[string]*logTree
}

// packagePlan picks what a package holds of each stream with a selected
// manifest: with a log checkpoint at the head, only the selected
// manifests, each with its inclusion proof (O(log n) hashes) against the
// recorded head's root, and the newest checkpoint; without one (a stream
// not yet moved to the log), every manifest from the first selected one
// to the head, which link them to it. Tokens of held manifests go too.
// It records the head of every stream.
func (v *Verifier) packagePlan(r *Report, idx *storeIndex) packagePlan {
	p := packagePlan{selected: map[string]bool{}, holds: map[string]map[int64]bool{}, proofs: map[string]map[int64][]string{}, trees: map[string]*logTree{}}
	heads := map[string]ManifestRecord{}
	first := map[string]int64{}
	byStream := map[string][]*ManifestRecord{}
	for i := range r.Manifests {
		m := &r.Manifests[i]
		byStream[m.Stream] = append(byStream[m.Stream], m)
		if h, ok := heads[m.Stream]; !ok || m.Sequence > h.Sequence {
			heads[m.Stream] = *m
		}
		if m.Selected {
			p.selected[m.Stream+"\x00"+m.VersionID] = true
			if f, ok := first[m.Stream]; !ok || m.Sequence < f {
				first[m.Stream] = m.Sequence
			}
		}
	}
	names := map[string]bool{}
	for s := range idx.manifests {
		names[s] = true
	}
	for s := range idx.checkpoints {
		names[s] = true
	}
	for s := range names {
		h := heads[s]
		ps := PackageStream{Stream: s, First: first[s], Head: h.Sequence, HeadEnvelopeSHA256: h.EnvelopeSHA256}
		if first[s] == 0 {
			p.streams = append(p.streams, ps)
			continue
		}
		var logCP *ObjectVersion
		for i, cp := range idx.logCheckpoints[s] {
			if cp.IsLatest && !cp.DeleteMarker {
				logCP = &idx.logCheckpoints[s][i]
			}
		}
		tree := streamTree(byStream[s])
		p.holds[s] = map[int64]bool{}
		if logCP != nil && tree.size == h.Sequence {
			root, _ := tree.root(h.Sequence)
			ps.LogRoot = root.String()
			p.trees[s] = tree
			p.proofs[s] = map[int64][]string{}
			for _, m := range byStream[s] {
				if !m.Selected {
					continue
				}
				proof, err := tlog.ProveRecord(h.Sequence, m.Sequence-1, tree)
				if err != nil {
					continue // verify --bundle then reports the manifest unproven
				}
				for _, x := range proof {
					p.proofs[s][m.Sequence] = append(p.proofs[s][m.Sequence], x.String())
				}
				p.holds[s][m.Sequence] = true
			}
			p.chain = append(p.chain, *logCP)
			if t, ok := idx.cpTokenOf[logCP.Key+"\x00"+logCP.VersionID]; ok { // the one verify checked
				p.chain = append(p.chain, t)
			}
		} else {
			for seq := first[s]; seq <= h.Sequence; seq++ {
				p.holds[s][seq] = true
			}
			for _, cps := range [][]ObjectVersion{idx.checkpoints[s], idx.logCheckpoints[s]} {
				for _, cp := range cps {
					if cp.IsLatest && !cp.DeleteMarker {
						p.chain = append(p.chain, cp)
						if t, ok := idx.cpTokenOf[cp.Key+"\x00"+cp.VersionID]; ok {
							p.chain = append(p.chain, t)
						}
					}
				}
			}
		}
		for seq, vs := range idx.manifests[s] {
			if p.holds[s][seq] || (ps.LogRoot == "" && seq >= first[s]) {
				p.chain = append(p.chain, vs...)
				if t := latestToken(idx.timestamps[s][seq]); t != nil { // the one verify checked
					p.chain = append(p.chain, *t)
				}
			}
		}
		p.streams = append(p.streams, ps)
	}
	sort.Slice(p.streams, func(i, j int) bool { return p.streams[i].Stream < p.streams[j].Stream })
	sortVersions(p.chain)
	return p
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

// bundleWriter writes package entries as one gzip member of a tar
// stream, recording each file's size and SHA-256 and the digest of the
// compressed bytes.
type bundleWriter struct {
	gz    *gzip.Writer
	tw    *tar.Writer
	sha   hash.Hash
	root  string
	files []PackageFile
	taken map[string]bool
	mtime time.Time
	seen  map[string]bool
}

func newBundleWriter(w io.Writer, root string, mtime time.Time) *bundleWriter {
	h := sha256.New()
	gz, _ := gzip.NewWriterLevel(io.MultiWriter(w, h), gzip.BestSpeed)
	return &bundleWriter{gz: gz, tw: tar.NewWriter(gz), sha: h, root: root, mtime: mtime, taken: map[string]bool{}, seen: map[string]bool{}}
}

// flush ends the gzip member without ending the tar stream: more entries
// follow in the next member.
func (w *bundleWriter) flush() error {
	if err := w.tw.Flush(); err != nil {
		return err
	}
	return w.gz.Close()
}

// close ends the tar stream and the gzip member.
func (w *bundleWriter) close() error {
	if err := w.tw.Close(); err != nil {
		return err
	}
	return w.gz.Close()
}

// failuresOf is the failures among fs.
func failuresOf(fs Findings) Findings {
	out := Findings{}
	for _, f := range fs {
		if f.Severity == SeverityFailure {
			out = append(out, f)
		}
	}
	return out
}

func packageFile(name string, body []byte) PackageFile {
	return PackageFile{Name: name, Size: int64(len(body)), SHA256: sha256Hex(body)}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (w *bundleWriter) addFile(name string, body []byte) error {
	w.files = append(w.files, packageFile(name, body))
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
	w.files = append(w.files, PackageFile{Name: file, Size: meta.Size, SHA256: sum})
	ov.Size = meta.Size
	return &BundleEntry{ObjectVersion: ov, File: file, Meta: meta}, nil
}

// ExportName suggests a package file name for a selection.
func ExportName(o VerifyOptions, now time.Time) string {
	name := "custody-export-" + now.UTC().Format("20060102T150405Z")
	if o.Case != "" {
		name += "-case-" + segment(o.Case)
	}
	return filepath.Clean(name + ".tar.gz")
}
