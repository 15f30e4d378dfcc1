package custody

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-ir/custody/custody/finding"
)

// Witness copies in a package. A stream's signed checkpoint in a package
// is the store's word alone: a holder of the current key could export a
// rewritten log with a checkpoint to match. The witnesses' cosigned
// copies, checked against their public keys pinned by the recipient,
// show that the recorded head is the log the witnesses saw:
//
//	witnesses/<witness>/<stream>.checkpoint  the witness's newest cosigned
//	                                         copy of the stream's checkpoint
//	witness-keys/<witness>.pub               its public key (informative only)
//
// Both are declared in package.json like every file. A copy of a smaller
// tree than the recorded head carries a consistency proof in package.json.
const (
	bundleWitnesses   = "witnesses/"
	bundleWitnessKeys = "witness-keys/"
)

// namedFile is a file a package holds outside objects/.
type namedFile struct {
	name string
	body []byte
}

// packageWitnesses reads, from each witness, its newest copy of the
// checkpoint of every stream the package proves that carries its
// cosignature and a trusted log signature, with a consistency proof from
// the copy's size to the recorded head when the copy is older. A witness
// whose copy cannot be read is a warning in r (verify, just before, has
// checked the witnesses against the store). It returns the statement's
// entries and the files to put in the package.
func (v *Verifier) packageWitnesses(ctx context.Context, p packagePlan, r *Report) ([]PackageWitness, []namedFile, error) {
	if len(v.Witnesses) == 0 {
		return nil, nil, nil
	}
	var out []PackageWitness
	var files []namedFile
	taken := map[string]bool{}
	for _, w := range v.Witnesses {
		dir := segment(w.name)
		for i := 2; taken[dir]; i++ {
			dir = fmt.Sprintf("%s-%d", segment(w.name), i)
		}
		taken[dir] = true
		pem, err := cryptoutils.MarshalPublicKeyToPEM(w.pub)
		if err != nil {
			return nil, nil, fmt.Errorf("witness %s: %w", w.name, err)
		}
		pw := PackageWitness{Name: w.name, KeyFile: bundleWitnessKeys + dir + ".pub", Copies: []PackageWitnessCopy{}}
		files = append(files, namedFile{pw.KeyFile, pem})
		for _, ps := range p.streams {
			tree := p.trees[ps.Stream]
			if ps.LogRoot == "" || tree == nil {
				continue
			}
			key := WitnessKey(w.prefix, v.bucket, v.prefix, ps.Stream)
			msg, cp, versionID, err := v.newestCopy(ctx, w, key, ps.Stream)
			if err != nil {
				r.Findings.Warn(finding.WitnessUnreachable, "s3://"+w.bucket+"/"+key, "grant the exporter s3:ListBucketVersions and s3:GetObjectVersion on the witness bucket",
					"witness %s: its copy of stream %q could not be read, so the package carries none: %v", w.name, ps.Stream, err)
				continue
			}
			if msg == nil {
				continue // a stream the witness has not cosigned yet
			}
			c := PackageWitnessCopy{Stream: ps.Stream, File: bundleWitnesses + dir + "/" + segment(ps.Stream) + ".checkpoint",
				Object: objectName(w.bucket, key, versionID), Size: cp.Size}
			if cp.Size > 0 && cp.Size < ps.Head {
				proof, err := tlog.ProveTree(ps.Head, cp.Size, tree)
				if err != nil {
					return nil, nil, fmt.Errorf("prove stream %q's log of %d manifests consistent with witness %s's copy of size %d: %w", ps.Stream, ps.Head, w.name, cp.Size, err)
				}
				for _, h := range proof {
					c.Consistency = append(c.Consistency, h.String())
				}
			}
			pw.Copies = append(pw.Copies, c)
			files = append(files, namedFile{c.File, msg})
		}
		out = append(out, pw)
	}
	return out, files, nil
}

// newestCopy is the newest version of a witness's copy at key that opens
// with the witness's cosignature and a trusted log signature for the
// stream; nil when there is none.
func (v *Verifier) newestCopy(ctx context.Context, w *S3Witness, key, stream string) ([]byte, LogCheckpoint, string, error) {
	var versions []ObjectVersion
	pg := s3.NewListObjectVersionsPaginator(w.api, &s3.ListObjectVersionsInput{Bucket: aws.String(w.bucket), Prefix: aws.String(key)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, LogCheckpoint{}, "", fmt.Errorf("list s3://%s/%s: %w", w.bucket, key, err)
		}
		for _, ov := range page.Versions {
			if aws.ToString(ov.Key) == key {
				versions = append(versions, ObjectVersion{Key: key, VersionID: aws.ToString(ov.VersionId), LastModified: aws.ToTime(ov.LastModified)})
			}
		}
	}
	sort.SliceStable(versions, func(i, j int) bool { return versions[i].LastModified.After(versions[j].LastModified) })
	origin := LogOrigin(v.bucket, v.prefix, stream)
	for _, ov := range versions {
		msg, err := w.read(ctx, key, ov.VersionID)
		if err != nil {
			return nil, LogCheckpoint{}, "", err
		}
		if _, err := note.Open(msg, note.VerifierList(cosignVerifier{name: w.name, pub: w.pub})); err != nil {
			continue
		}
		if cp, _, err := openLogCheckpoint(msg, origin, v.trust); err == nil {
			return msg, cp, ov.VersionID, nil
		}
	}
	return nil, LogCheckpoint{}, "", nil
}

// checkWitnessCopies checks the witness copies of the package, as
// extracted: each signed by a pinned signer for its stream and cosigned by
// its witness's pinned key, and consistent with the stream's recorded
// head (the same root at the same size; a smaller tree a prefix of it, by
// the consistency proof the statement gives; a larger tree is
// witness-ahead). A witness whose key is not pinned is a warning, never a
// pass; so is a statement that names witnesses but carries no copy.
func (b *bundleReader) checkWitnessCopies() {
	recorded := map[string]PackageStream{}
	proved := 0
	for _, s := range b.ps.Streams {
		recorded[s.Stream] = s
		if s.LogRoot != "" {
			proved++
		}
	}
	inPackage := map[string]bool{}
	copies := 0
	for _, w := range b.ps.Witnesses {
		inPackage[w.Name] = true
		copies += len(w.Copies)
		pub, pinned := b.anchor.Witnesses[w.Name]
		switch {
		case len(w.Copies) == 0 && proved > 0:
			b.warn(finding.WitnessUnreachable, bundlePackage, "ask the sender to export again once the witness has cosigned the streams' checkpoints",
				"the store had witness %s at export, but the package carries none of its copies", w.Name)
			continue
		case !pinned:
			b.warn(finding.WitnessNotPinned, w.KeyFile, "obtain the witness's public key from its operator by a separate channel and run custody verify --bundle with --witness-key "+w.Name+"=FILE",
				"witness %s is not pinned: its %d cop(ies) in the package were not checked, and prove nothing", w.Name, len(w.Copies))
			continue
		}
		for _, c := range w.Copies {
			b.checkWitnessCopy(w.Name, pub, c, recorded[c.Stream])
		}
	}
	if len(b.ps.Witnesses) > 0 && copies == 0 && proved > 0 {
		b.warn(finding.WitnessUnreachable, bundlePackage, "ask the sender why no witness cosigned the store's checkpoints",
			"the store had witnesses at export, but the package carries no witness copy: the recorded heads are the store's word alone")
	}
	names := make([]string, 0, len(b.anchor.Witnesses))
	for name := range b.anchor.Witnesses {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !inPackage[name] && proved > 0 {
			b.warn(finding.WitnessUnreachable, bundlePackage, "ask the sender whether the store had this witness at export",
				"witness %s is pinned, but the package carries none of its copies", name)
		}
	}
}

// checkWitnessCopy checks one copy against the pinned witness key pub and
// the stream's recorded head rs.
func (b *bundleReader) checkWitnessCopy(name string, pub ed25519.PublicKey, c PackageWitnessCopy, rs PackageStream) {
	obj := c.File
	if _, ok := b.sums[c.File]; !ok {
		return // bundle-file-missing already says so
	}
	root, err := tlog.ParseHash(rs.LogRoot)
	if err != nil {
		b.fail(finding.WitnessInvalid, obj, remedyBundle, "witness %s: a copy of stream %q, which the package's signed statement does not prove with a log root", name, c.Stream)
		return
	}
	msg, err := os.ReadFile(filepath.Join(b.dir, filepath.FromSlash(c.File)))
	if err == nil && len(msg) > maxLogCheckpointSize {
		err = fmt.Errorf("larger than %d bytes", maxLogCheckpointSize)
	}
	if err != nil {
		b.fail(finding.BundleFileUnreadable, obj, remedyBundle, "witness %s: %v", name, err)
		return
	}
	cp, signer, err := openLogCheckpoint(msg, LogOrigin(b.ps.Bucket, b.ps.Prefix, c.Stream), b.trust)
	if err == nil && !signer.ValidAt(cp.Time) {
		err = fmt.Errorf("signed by trusted key %q, which was not valid at %s", signer.Name, cp.Time.UTC().Format(time.RFC3339))
	}
	if err == nil {
		if _, err = note.Open(msg, note.VerifierList(cosignVerifier{name: name, pub: pub})); err != nil {
			err = fmt.Errorf("no valid cosignature by the pinned key of witness %s: %w", name, err)
		}
	}
	if err != nil {
		b.fail(finding.WitnessInvalid, obj, "treat this copy as forged: "+remedyBundle, "witness %s, stream %q: %v", name, c.Stream, err)
		return
	}
	switch {
	case cp.Size > rs.Head:
		b.fail(finding.WitnessAhead, obj, "the store's newest manifests of the stream were removed or rolled back before the export: "+remedyBundle,
			"witness %s cosigned %d manifests of stream %q; the package's signed statement records the store's head at %d: the store was behind its witness at export", name, cp.Size, c.Stream, rs.Head)
	case cp.Size == rs.Head && cp.Root != root:
		b.fail(finding.WitnessFork, obj, "the stream's log was rewritten: "+remedyBundle,
			"witness %s cosigned root %s at size %d of stream %q; the package's signed statement records root %s: the log was forked or rewritten", name, cp.Root, cp.Size, c.Stream, root)
	case cp.Size > 0 && cp.Size < rs.Head:
		var proof tlog.TreeProof
		for _, x := range c.Consistency {
			h, err := tlog.ParseHash(x)
			if err != nil {
				proof = nil
				break
			}
			proof = append(proof, h)
		}
		if proof == nil || tlog.CheckTree(proof, rs.Head, root, cp.Size, cp.Root) != nil {
			b.fail(finding.WitnessFork, obj, "the stream's log was rewritten: "+remedyBundle,
				"witness %s cosigned root %s at size %d of stream %q, and the package's signed statement gives no valid proof that its recorded log of %d manifests (root %s) extends it: the log was forked or rewritten",
				name, cp.Root, cp.Size, c.Stream, rs.Head, root)
		}
	}
}

func (b *bundleReader) warn(kind finding.Kind, object, remedy, format string, args ...any) {
	b.report.Findings.Warn(kind, object, remedy, format, args...)
}
