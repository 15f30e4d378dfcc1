package forge

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-ir/custody/custody"
)

// Splice copies one stream of another package into this one: its
// manifests, its checkpoint, the artifacts of its manifests, their
// index.json entries, and its entries in package.json's streams and
// manifests. Call Resum or Resign afterwards.
func (p *Package) Splice(from *Package, stream string) error {
	fromIdx, err := from.Index()
	if err != nil {
		return err
	}
	ms, err := from.Manifests()
	if err != nil {
		return err
	}
	files := map[string]bool{}
	for _, m := range ms {
		if m.Statement.Predicate.Stream != stream {
			continue
		}
		files[m.File] = true
		subj, err := from.SubjectFiles(m)
		if err != nil {
			return err
		}
		for _, f := range subj {
			files[f] = true
		}
	}
	if len(files) == 0 {
		return fmt.Errorf("splice: the other package has no manifest of stream %s", stream)
	}
	for f, cp := range from.checkpoints() {
		if cp.Stream == stream {
			files[f] = true
		}
	}
	idx, err := p.Index()
	if err != nil {
		return err
	}
	for _, name := range from.Files() {
		if files[name] {
			if p.Has(name) {
				return fmt.Errorf("splice: both packages hold %s", name)
			}
			b, _ := from.Get(name)
			p.Set(name, b)
		}
	}
	for _, o := range fromIdx.Objects {
		if files[o.File] {
			idx.Objects = append(idx.Objects, o)
		}
	}
	if err := p.SetIndex(idx); err != nil {
		return err
	}
	ps, err := p.Statement()
	if err != nil {
		return err
	}
	fromPS, err := from.Statement()
	if err != nil {
		return err
	}
	for _, s := range fromPS.Streams {
		if s.Stream == stream {
			ps.Streams = append(ps.Streams, s)
		}
	}
	for _, m := range fromPS.Manifests {
		if m.Stream == stream {
			ps.Manifests = append(ps.Manifests, m)
		}
	}
	return p.SetStatement(ps)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// refreshIndex drops index.json entries whose file is gone and gives the
// others their file's current size and S3 checksum (what an attacker
// regenerating the index would write). Zeros entries keep what is there.
func (p *Package) refreshIndex() error {
	bi, err := p.Index()
	if err != nil {
		return err
	}
	kept := bi.Objects[:0]
	for _, o := range bi.Objects {
		e := p.find(o.File)
		if e == nil {
			continue
		}
		if e.zeros == 0 {
			o.Size, o.Meta.Size = int64(len(e.body)), int64(len(e.body))
			if c := o.Meta.ChecksumSHA256; c != "" && !strings.Contains(c, "-") {
				sum := sha256.Sum256(e.body)
				o.Meta.ChecksumSHA256 = base64.StdEncoding.EncodeToString(sum[:])
			}
		}
		kept = append(kept, o)
	}
	bi.Objects = kept
	return p.SetIndex(bi)
}

// resum rewrites package.json (manifests whose file is gone dropped, each
// stream's head digest passed through remap, the files list recomputed)
// and SHA256SUMS.
func (p *Package) resum(remap map[string]string) error {
	ps, err := p.Statement()
	if err != nil {
		return err
	}
	for i, s := range ps.Streams {
		if n, ok := remap[s.HeadEnvelopeSHA256]; ok {
			ps.Streams[i].HeadEnvelopeSHA256 = n
		}
	}
	ms := ps.Manifests[:0]
	for _, m := range ps.Manifests {
		if p.Has(m.File) {
			ms = append(ms, m)
		}
	}
	ps.Manifests = ms
	declared := map[string]custody.PackageFile{}
	for _, f := range ps.Files {
		declared[f.Name] = f
	}
	ps.Files = ps.Files[:0]
	for _, e := range p.entries {
		switch {
		case e.dir || e.name == StatementFile || e.name == PackageFile || e.name == SumsFile:
		case e.zeros > 0:
			// An attacker declares what the bomb pretends to be.
			if f, ok := declared[e.name]; ok {
				ps.Files = append(ps.Files, f)
			}
		default:
			ps.Files = append(ps.Files, custody.PackageFile{Name: e.name, Size: int64(len(e.body)), SHA256: sha256Hex(e.body)})
		}
	}
	if err := p.SetStatement(ps); err != nil {
		return err
	}
	sorted := append([]custody.PackageFile(nil), ps.Files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b strings.Builder
	for _, f := range sorted {
		fmt.Fprintf(&b, "%s  %s\n", f.SHA256, f.Name)
	}
	p.Set(SumsFile, []byte(b.String()))
	return nil
}

// Resum regenerates what needs no key: index.json (entries of removed
// files dropped, sizes and checksums of changed ones updated),
// package.json's manifests and files lists, and SHA256SUMS. The package
// statement (package.dsse.json) is left as it is, so it no longer matches.
func (p *Package) Resum() error {
	if err := p.refreshIndex(); err != nil {
		return err
	}
	return p.resum(nil)
}

// Resign re-signs the package end to end with signer. After Resum's
// regeneration, every manifest whose subjects no longer match the files
// (or whose link to the one before changed, or whose signature signer
// does not make) is re-signed, in stream order, each next manifest
// linked to the new envelope; each checkpoint names the newest manifest
// of its stream the package holds; package.json's heads follow the new
// envelopes; and package.dsse.json is re-signed over the new root files.
// Manifests name signer's key id. With keyFile, the signer's public key
// is saved as keys/keyFile (replacing a file of that name).
func (p *Package) Resign(signer signature.Signer, keyFile string) error {
	pub, err := signer.PublicKey()
	if err != nil {
		return err
	}
	keyID, err := custody.KeyID(pub)
	if err != nil {
		return err
	}
	verifier, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return err
	}
	k := key{signer: signer, verifier: verifier, id: keyID}
	if keyFile != "" {
		pemBytes, err := cryptoutils.MarshalPublicKeyToPEM(pub)
		if err != nil {
			return err
		}
		p.Set(KeysDir+keyFile, pemBytes)
	}
	if err := p.refreshIndex(); err != nil {
		return err
	}
	bi, err := p.Index()
	if err != nil {
		return err
	}
	fileOf := map[string]string{}
	objOf := map[string]custody.BundleEntry{}
	for _, o := range bi.Objects {
		fileOf[o.Key+"\x00"+o.VersionID] = o.File
		objOf[o.File] = o
	}
	ms, err := p.Manifests()
	if err != nil {
		return err
	}
	remap := map[string]string{}
	newest := map[string]Manifest{}
	for _, m := range ms {
		st := m.Statement
		st.Subject = append([]custody.Subject(nil), st.Subject...)
		for i, s := range st.Subject {
			e := p.find(fileOf[s.Name+"\x00"+s.Annotations.VersionID])
			if e == nil || e.zeros > 0 {
				continue
			}
			st.Subject[i].Digest = map[string]string{"sha256": sha256Hex(e.body)}
			st.Subject[i].Annotations.Size = int64(len(e.body))
		}
		if m, err = p.resignManifest(m, st, k, remap); err != nil {
			return err
		}
		newest[st.Predicate.Stream] = m
	}
	for file, cp := range p.checkpoints() {
		head, ok := newest[cp.Stream]
		if !ok {
			continue
		}
		o := objOf[head.File]
		cp.Sequence, cp.EnvelopeSHA256 = head.Statement.Predicate.Sequence, head.Envelope.SHA256
		cp.ManifestKey, cp.ManifestVersion = o.Key, o.VersionID
		payload, err := json.Marshal(cp)
		if err != nil {
			return err
		}
		b, _ := p.Get(file)
		old, err := custody.ParseEnvelope(bytes.NewReader(b))
		if err != nil {
			return err
		}
		if bytes.Equal(old.Payload, payload) && old.VerifyWith(k.verifier) == nil {
			continue
		}
		env, err := custody.SignEnvelope(k.signer, custody.CheckpointPayloadType, payload)
		if err != nil {
			return err
		}
		p.Set(file, env)
	}
	if err := p.resignLogCheckpoints(k, bi, newest); err != nil {
		return err
	}
	if err := p.refreshIndex(); err != nil {
		return err
	}
	if err := p.resum(remap); err != nil {
		return err
	}
	return p.resignStatement(k, remap)
}

// resignLogCheckpoints re-signs each stream's log checkpoint with k, over
// the re-signed manifests when the package holds the stream from its
// first manifest (else its size and root stay as they were: a recipient
// cannot recompute them either).
func (p *Package) resignLogCheckpoints(k key, bi custody.BundleIndex, newest map[string]Manifest) error {
	ms, err := p.Manifests()
	if err != nil {
		return err
	}
	envs := map[string][][]byte{}
	leaves := map[string]map[int64]tlog.Hash{}
	for _, m := range ms {
		st := m.Statement.Predicate
		if int64(len(envs[st.Stream])) == st.Sequence-1 {
			envs[st.Stream] = append(envs[st.Stream], m.Envelope.Raw)
		}
		if leaves[st.Stream] == nil {
			leaves[st.Stream] = map[int64]tlog.Hash{}
		}
		leaves[st.Stream][st.Sequence-1] = custody.LeafHash(m.Envelope.Raw)
	}
	// Streams a package proves rather than holds: a log is made up around
	// the held manifests (the forger cannot know the others), and every
	// proof, the root and the checkpoint are made to agree with it.
	ps, err := p.Statement()
	if err != nil {
		return err
	}
	proved := map[string]custody.LogCheckpoint{}
	for i, rs := range ps.Streams {
		if rs.LogRoot == "" || len(leaves[rs.Stream]) == 0 {
			continue
		}
		root, front, proofs, err := custody.LogProofs(rs.Head, leaves[rs.Stream])
		if err != nil {
			return err
		}
		ps.Streams[i].LogRoot = root.String()
		for j, m := range ps.Manifests {
			if m.Stream == rs.Stream {
				ps.Manifests[j].Proof = proofs[m.Sequence-1]
			}
		}
		proved[rs.Stream] = custody.LogCheckpoint{Size: rs.Head, Root: root, Frontier: front}
	}
	if err := p.SetStatement(ps); err != nil {
		return err
	}
	for _, o := range bi.Objects {
		stream, ok := custody.IsLogCheckpointKey(bi.Prefix, o.Key)
		if !ok {
			continue
		}
		b, ok := p.Get(o.File)
		if !ok {
			continue
		}
		cp, err := custody.ParseLogCheckpoint(b)
		if err != nil {
			return fmt.Errorf("%s: %w", o.File, err)
		}
		if made, ok := proved[stream]; ok {
			cp.Size, cp.Root, cp.Frontier = made.Size, made.Root, made.Frontier
			if head, ok := newest[stream]; ok && head.Statement.Predicate.Sequence == made.Size {
				cp.HeadSHA = head.Envelope.SHA256
			}
		} else if head, ok := newest[stream]; ok && int64(len(envs[stream])) == head.Statement.Predicate.Sequence {
			cp.Size, cp.HeadSHA = head.Statement.Predicate.Sequence, head.Envelope.SHA256
			cp.Root, cp.Frontier = custody.LogOf(envs[stream])
		}
		msg, err := custody.SignLogCheckpoint(cp, k.signer)
		if err != nil {
			return err
		}
		p.Set(o.File, msg)
	}
	return nil
}

// key is the signer Resign uses, its verifier and its key id.
type key struct {
	signer   signature.Signer
	verifier signature.Verifier
	id       string
}

// resignManifest signs st in place of m when it differs from m's
// statement or m's signature is not signer's, and records the new
// envelope digest in remap.
func (p *Package) resignManifest(m Manifest, st custody.Statement, k key, remap map[string]string) (Manifest, error) {
	if n, ok := remap[st.Predicate.PreviousSHA256]; ok {
		st.Predicate.PreviousSHA256 = n
	}
	st.Predicate.Who.KeyID = k.id
	payload, err := json.Marshal(st)
	if err != nil {
		return m, err
	}
	oldPayload, err := json.Marshal(m.Statement)
	if err != nil {
		return m, err
	}
	if bytes.Equal(payload, oldPayload) && m.Envelope.VerifyWith(k.verifier) == nil {
		return m, nil
	}
	raw, err := custody.SignEnvelope(k.signer, custody.PayloadType, payload)
	if err != nil {
		return m, err
	}
	env, err := custody.ParseEnvelope(bytes.NewReader(raw))
	if err != nil {
		return m, err
	}
	remap[m.Envelope.SHA256] = env.SHA256
	p.Set(m.File, raw)
	return Manifest{File: m.File, Envelope: env, Statement: st}, nil
}

// resignStatement re-signs package.dsse.json: its subjects (the export's
// records, whose keys end in the root files' names) take the root files'
// digests, its link to the previous manifest follows remap.
func (p *Package) resignStatement(k key, remap map[string]string) error {
	b, ok := p.Get(StatementFile)
	if !ok {
		return nil // a package without a statement: nothing to re-sign
	}
	env, err := custody.ParseEnvelope(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s: %w", StatementFile, err)
	}
	st, err := env.Statement()
	if err != nil {
		return fmt.Errorf("%s: %w", StatementFile, err)
	}
	orig := st
	st.Subject = append([]custody.Subject(nil), st.Subject...)
	for i, s := range st.Subject {
		for _, e := range p.entries {
			if !e.dir && e.zeros == 0 && !strings.Contains(e.name, "/") && strings.HasSuffix(s.Name, "/"+e.name) {
				st.Subject[i].Digest = map[string]string{"sha256": sha256Hex(e.body)}
				st.Subject[i].Annotations.Size = int64(len(e.body))
			}
		}
	}
	_, err = p.resignManifest(Manifest{File: StatementFile, Envelope: env, Statement: orig}, st, k, remap)
	return err
}
