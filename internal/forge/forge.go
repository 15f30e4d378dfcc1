// Package forge rewrites custody export packages the way a hostile
// examiner would, for the tests that check verify --bundle catches them.
// It reads a package into memory, lets a test remove, replace or add
// files, splice in another package's stream or plant a gzip bomb, and
// writes it back. Resum regenerates everything an attacker without the
// signing key can (package.json's lists, index.json, SHA256SUMS); Resign
// goes further, as an insider with the genuine key or a forger with their
// own: it re-signs every manifest whose statement changed or whose
// signature the given key does not make, relinks the chain, re-signs the
// checkpoints and the package statement (package.dsse.json).
//
// RFC 3161 timestamps (.tsr files) are left as they are: a forger cannot
// make a TSA sign for them, and the tests that use this package run
// without a TSA.
//
// Only _test.go files import it.
package forge

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custody-ir/custody/custody"
)

// The package's root files (docs/verify.md, "The export package").
const (
	StatementFile = "package.dsse.json"
	PackageFile   = "package.json"
	SumsFile      = "SHA256SUMS"
	IndexFile     = "index.json"
	KeysDir       = "keys/"
	TSAChainFile  = "tsa-chain.pem"
	ObjectsDir    = "objects/"
)

// maxRead bounds what Read holds in memory: the packages it reads are the
// small ones the tests export.
const maxRead = 1 << 30

// Package is an export package held in memory, entries in archive order.
type Package struct {
	// Root is the package's root folder inside the archive.
	Root    string
	entries []*entry
}

type entry struct {
	name  string // relative to Root
	dir   bool
	body  []byte
	zeros int64 // > 0: the entry is this many zero bytes, never held in memory
	mode  int64
	mtime time.Time
}

// Read loads a tar.gz package (one or several gzip members) into memory.
func Read(file string) (*Package, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("read package %s: %w", file, err)
	}
	tr := tar.NewReader(zr)
	p := &Package{}
	var total int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read package %s: %w", file, err)
		}
		top, rest, _ := strings.Cut(strings.TrimPrefix(hdr.Name, "./"), "/")
		if p.Root == "" {
			p.Root = top
		} else if top != p.Root {
			return nil, fmt.Errorf("read package %s: entry %q is outside the root folder %q", file, hdr.Name, p.Root)
		}
		if rest == "" {
			continue // the root folder itself
		}
		e := &entry{name: rest, mode: hdr.Mode, mtime: hdr.ModTime}
		switch hdr.Typeflag {
		case tar.TypeDir:
			e.dir = true
		case tar.TypeReg:
			if total += hdr.Size; total > maxRead {
				return nil, fmt.Errorf("read package %s: larger than %d bytes: forge holds packages in memory", file, maxRead)
			}
			if e.body, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("read package %s: entry %s: %w", file, hdr.Name, err)
			}
		default:
			return nil, fmt.Errorf("read package %s: entry %s has type %q", file, hdr.Name, hdr.Typeflag)
		}
		p.entries = append(p.entries, e)
	}
	if p.Root == "" {
		return nil, fmt.Errorf("read package %s: no entries", file)
	}
	return p, nil
}

// rank puts the statement files first, in the order the design gives.
func rank(name string) int {
	switch {
	case name == StatementFile:
		return 0
	case name == PackageFile:
		return 1
	case name == SumsFile:
		return 2
	case name == IndexFile:
		return 3
	case strings.HasPrefix(name, KeysDir):
		return 4
	case name == TSAChainFile:
		return 5
	}
	return 6
}

// Write writes the package as tar.gz: the statement files first, then the
// rest in their order. An entry set with SetZeros is written as gzip
// members of zeros compressed once, so a bomb of gigabytes takes a moment
// and a few megabytes.
func (p *Package) Write(file string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := p.write(f); err != nil {
		f.Close()
		return fmt.Errorf("write package %s: %w", file, err)
	}
	return f.Close()
}

func (p *Package) write(w io.Writer) error {
	out := bufio.NewWriter(w)
	ordered := append([]*entry(nil), p.entries...)
	sort.SliceStable(ordered, func(i, j int) bool { return rank(ordered[i].name) < rank(ordered[j].name) })

	// The tar stream is built in buf and flushed as one gzip member at a
	// time; a zeros entry ends a member after its header, so that its
	// bytes can follow as members of their own.
	var buf bytes.Buffer
	member := func() error {
		if buf.Len() == 0 {
			return nil
		}
		zw, err := gzip.NewWriterLevel(out, gzip.BestSpeed)
		if err != nil {
			return err
		}
		if _, err := zw.Write(buf.Bytes()); err != nil {
			return err
		}
		buf.Reset()
		return zw.Close()
	}
	tw := tar.NewWriter(&buf)
	for _, e := range ordered {
		hdr := &tar.Header{Name: path.Join(p.Root, e.name), Mode: e.mode, ModTime: e.mtime, Typeflag: tar.TypeReg, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if hdr.Mode == 0 {
			hdr.Mode = 0o444
		}
		switch {
		case e.dir:
			hdr.Typeflag, hdr.Size, hdr.Name = tar.TypeDir, 0, hdr.Name+"/"
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		case e.zeros > 0:
			hdr.Size = e.zeros
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			// This tar writer still expects the entry's bytes: it is
			// dropped, and a fresh one carries on after them.
			if err := member(); err != nil {
				return err
			}
			if err := writeZeros(out, e.zeros+(-e.zeros&511)); err != nil {
				return err
			}
			tw = tar.NewWriter(&buf)
		default:
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := tw.Write(e.body); err != nil {
				return err
			}
		}
		if buf.Len() > 8<<20 {
			if err := tw.Flush(); err != nil {
				return err
			}
			if err := member(); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := member(); err != nil {
		return err
	}
	return out.Flush()
}

// zeroChunk is one gzip member of zeroChunkSize zero bytes.
var zeroChunk = sync.OnceValues(func() ([]byte, error) { return gzipZeros(zeroChunkSize, gzip.BestCompression) })

const zeroChunkSize = 64 << 20

func gzipZeros(n int64, level int) ([]byte, error) {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(zw, zeroReader{}, n); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// writeZeros writes n zero bytes as gzip members.
func writeZeros(w io.Writer, n int64) error {
	chunk, err := zeroChunk()
	if err != nil {
		return err
	}
	for ; n >= zeroChunkSize; n -= zeroChunkSize {
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
	if n == 0 {
		return nil
	}
	rest, err := gzipZeros(n, gzip.BestCompression)
	if err != nil {
		return err
	}
	_, err = w.Write(rest)
	return err
}

func (p *Package) find(name string) *entry {
	for _, e := range p.entries {
		if e.name == name && !e.dir {
			return e
		}
	}
	return nil
}

// Files lists the package's files (relative to Root), in archive order.
func (p *Package) Files() []string {
	var out []string
	for _, e := range p.entries {
		if !e.dir {
			out = append(out, e.name)
		}
	}
	return out
}

// Get returns a file's bytes (nil for a zeros entry).
func (p *Package) Get(name string) ([]byte, bool) {
	e := p.find(name)
	if e == nil {
		return nil, false
	}
	return e.body, true
}

// Has reports whether the package holds a file.
func (p *Package) Has(name string) bool { return p.find(name) != nil }

// Set replaces a file's bytes, or adds the file at the end.
func (p *Package) Set(name string, body []byte) {
	if e := p.find(name); e != nil {
		e.body, e.zeros = body, 0
		return
	}
	p.entries = append(p.entries, &entry{name: name, body: body, mode: 0o444, mtime: p.mtime()})
}

// SetZeros makes a file n zero bytes (a gzip bomb when n is large), added
// at the end if the package does not hold it.
func (p *Package) SetZeros(name string, n int64) {
	p.Set(name, nil)
	p.find(name).zeros = n
}

// Remove drops files; a name that is not there is ignored.
func (p *Package) Remove(names ...string) {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	kept := p.entries[:0]
	for _, e := range p.entries {
		if e.dir || !drop[e.name] {
			kept = append(kept, e)
		}
	}
	p.entries = kept
}

func (p *Package) mtime() time.Time {
	for _, e := range p.entries {
		if !e.mtime.IsZero() {
			return e.mtime
		}
	}
	return time.Unix(0, 0).UTC()
}

// DeclaredSize is the sum of the sizes package.json declares, plus the
// sizes of the files it does not list (package.dsse.json, package.json,
// SHA256SUMS): what a verifier that unpacks only what the statement
// declares may write at most.
func (p *Package) DeclaredSize() (int64, error) {
	ps, err := p.Statement()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, f := range ps.Files {
		n += f.Size
	}
	for _, name := range []string{StatementFile, PackageFile, SumsFile} {
		b, _ := p.Get(name)
		n += int64(len(b))
	}
	return n, nil
}

func (p *Package) getJSON(name string, v any) error {
	b, ok := p.Get(name)
	if !ok {
		return fmt.Errorf("package has no %s", name)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	return nil
}

func (p *Package) setJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	p.Set(name, b)
	return nil
}

// Statement decodes package.json.
func (p *Package) Statement() (custody.PackageStatement, error) {
	var ps custody.PackageStatement
	return ps, p.getJSON(PackageFile, &ps)
}

// SetStatement replaces package.json.
func (p *Package) SetStatement(ps custody.PackageStatement) error { return p.setJSON(PackageFile, ps) }

// Index decodes index.json.
func (p *Package) Index() (custody.BundleIndex, error) {
	var bi custody.BundleIndex
	return bi, p.getJSON(IndexFile, &bi)
}

// SetIndex replaces index.json.
func (p *Package) SetIndex(bi custody.BundleIndex) error { return p.setJSON(IndexFile, bi) }

// Manifest is one manifest file of the package.
type Manifest struct {
	File      string
	Envelope  custody.Envelope
	Statement custody.Statement
}

// Manifests decodes every manifest under objects/, ordered by stream and
// sequence.
func (p *Package) Manifests() ([]Manifest, error) {
	var out []Manifest
	for _, e := range p.entries {
		if e.dir || e.zeros > 0 || !strings.HasPrefix(e.name, ObjectsDir) || !strings.HasSuffix(e.name, ".dsse.json") {
			continue
		}
		env, err := custody.ParseEnvelope(bytes.NewReader(e.body))
		if err != nil || env.DSSE.PayloadType != custody.PayloadType {
			continue // a checkpoint, or an artifact that happens to end so
		}
		st, err := env.Statement()
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", e.name, err)
		}
		out = append(out, Manifest{File: e.name, Envelope: env, Statement: st})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Statement.Predicate, out[j].Statement.Predicate
		if a.Stream != b.Stream {
			return a.Stream < b.Stream
		}
		return a.Sequence < b.Sequence
	})
	return out, nil
}

// checkpoints are the files under objects/ that hold a signed checkpoint.
func (p *Package) checkpoints() map[string]custody.Checkpoint {
	out := map[string]custody.Checkpoint{}
	for _, e := range p.entries {
		if e.dir || e.zeros > 0 || !strings.HasPrefix(e.name, ObjectsDir) || !strings.HasSuffix(e.name, ".dsse.json") {
			continue
		}
		env, err := custody.ParseEnvelope(bytes.NewReader(e.body))
		if err != nil || env.DSSE.PayloadType != custody.CheckpointPayloadType {
			continue
		}
		var cp custody.Checkpoint
		if json.Unmarshal(env.Payload, &cp) == nil {
			out[e.name] = cp
		}
	}
	return out
}

// SubjectFiles are the files of the package that hold a manifest's
// subjects, as index.json maps them.
func (p *Package) SubjectFiles(m Manifest) ([]string, error) {
	bi, err := p.Index()
	if err != nil {
		return nil, err
	}
	byID := map[string]string{}
	for _, o := range bi.Objects {
		byID[o.Key+"\x00"+o.VersionID] = o.File
	}
	var out []string
	for _, s := range m.Statement.Subject {
		if f, ok := byID[s.Name+"\x00"+s.Annotations.VersionID]; ok && p.Has(f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// NewKey makes a fresh ECDSA P-256 signer: a forger's key.
func NewKey() (signature.SignerVerifier, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
}

// LoadKey opens a key file made by custody keygen (encrypted PEM): the
// genuine key, for an insider's forgery.
func LoadKey(file string, passphrase []byte) (signature.SignerVerifier, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(b, cryptoutils.StaticPasswordFunc(passphrase))
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", file, err)
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T, not an ECDSA key", file, priv)
	}
	return signature.LoadECDSASignerVerifier(ec, crypto.SHA256)
}
