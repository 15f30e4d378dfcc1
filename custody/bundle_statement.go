package custody

import (
	"bytes"
	"encoding/json"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/custody-ir/custody/custody/finding"
)

// The package's signed statement and the trust anchor it is checked
// against: the part of verify --bundle that decides whether anything in
// the package may be believed.

// resolveTrust turns the anchor into the keys signatures are checked
// with. Keys the recipient holds are used as given; a pinned key id picks
// the package key of that id; a package key that is not pinned is a
// signer-mismatch. With an empty anchor the package's keys are used, and
// the report fails with signer-not-pinned.
func (b *bundleReader) resolveTrust(meta map[string][]byte, keyFiles []string) []TrustedKey {
	sort.Strings(keyFiles)
	pinnedIDs := map[string]bool{}
	for _, id := range b.anchor.KeyIDs {
		pinnedIDs[id] = true
	}
	held := map[string]bool{}
	trust := append([]TrustedKey(nil), b.anchor.Keys...)
	for _, k := range b.anchor.Keys {
		held[k.KeyID] = true
	}
	var found []string
	foundIDs := map[string]bool{}
	for _, name := range keyFiles {
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(meta[name])
		if err != nil {
			b.fail(finding.SignerMismatch, name, remedyBundle, "not a PEM public key")
			continue
		}
		id, err := KeyID(pub)
		if err != nil {
			b.fail(finding.SignerMismatch, name, remedyBundle, "unusable public key: %v", err)
			continue
		}
		found = append(found, id)
		foundIDs[id] = true
		switch {
		case b.anchor.Empty():
			k, err := NewTrustedKey("unpinned key "+id[:16], pub, time.Time{}, time.Time{})
			if err == nil {
				trust = append(trust, k)
			}
		case held[id]:
		case pinnedIDs[id]:
			k, err := NewTrustedKey("pinned key id "+id[:16], pub, time.Time{}, time.Time{})
			if err == nil {
				trust = append(trust, k)
			}
		default:
			b.fail(finding.SignerMismatch, name, "this key is not the signer you were given: treat every signature by it as forged and ask the sender, by a separate channel, for the key id",
				"the package carries key id %s, which is not a pinned signer (pinned: %s)", id, strings.Join(b.pinned(), ", "))
		}
	}
	for _, id := range b.anchor.KeyIDs {
		if !foundIDs[id] && !held[id] {
			b.fail(finding.SignerMismatch, bundleKeys, "the package was not signed by the key you were given: ask the sender, by a separate channel, which key signed it",
				"no key of the package has the pinned key id %s (the package's keys: %s)", id, orNone(found))
		}
	}
	if b.anchor.Empty() {
		b.fail(finding.SignerNotPinned, bundleKeys, remedyPinning,
			"no trust anchor was given, so the package's own keys were used and nothing proves who signed it (key ids found: %s)", orNone(found))
	}
	return trust
}

func (b *bundleReader) pinned() []string {
	out := append([]string(nil), b.anchor.KeyIDs...)
	for _, k := range b.anchor.Keys {
		out = append(out, k.KeyID+" ("+k.Name+")")
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// checkStatement verifies package.dsse.json: a manifest of the export
// event signed by a trusted key, whose subjects are package.json,
// SHA256SUMS and index.json as they are; then decodes package.json.
func (b *bundleReader) checkStatement(meta map[string][]byte) bool {
	bad := func(format string, args ...any) bool {
		b.fail(finding.BundleStatementInvalid, bundleStatement, remedyBundle, format+"; nothing was extracted", args...)
		return false
	}
	env, err := ParseEnvelope(bytes.NewReader(meta[bundleStatement]))
	if err != nil {
		return bad("%v", err)
	}
	st, err := env.Statement()
	if err != nil {
		return bad("%v", err)
	}
	p := st.Predicate
	if p.Event != EventExport {
		return bad("a manifest of a %q event, not of an export", p.Event)
	}
	if _, kind, msg := verifyEnvelope(env, b.trust, p.When.SealedAt); kind != "" {
		return bad("%s: %s", kind, msg)
	}
	subjects := map[string]string{}
	for _, s := range st.Subject {
		subjects[path.Base(s.Name)] = strings.ToLower(s.Digest["sha256"])
	}
	for _, name := range []string{bundlePackage, bundleSums, bundleIndex} {
		if got := sha256Hex(meta[name]); subjects[name] != got {
			b.fail(finding.BundleStatementInvalid, name, remedyBundle, "hashes to %s; the signed statement seals %q; nothing was extracted", got, subjects[name])
			return false
		}
	}
	var ps PackageStatement
	if err := json.Unmarshal(meta[bundlePackage], &ps); err != nil || ps.Format != packageFormat {
		return bad("%s is not a %s statement (%v)", bundlePackage, packageFormat, err)
	}
	if ps.Bucket != p.Bucket {
		return bad("%s names bucket %q, the signed manifest %q", bundlePackage, ps.Bucket, p.Bucket)
	}
	if !bytes.Equal(meta[bundleSums], sumsFile(ps.Files)) {
		return bad("%s does not list exactly the files of %s", bundleSums, bundlePackage)
	}
	if err := json.Unmarshal(meta[bundleIndex], &b.index); err != nil || b.index.Format != bundleFormat {
		return bad("%s is not a %s index (%v)", bundleIndex, bundleFormat, err)
	}
	if b.index.Bucket != ps.Bucket || b.index.Prefix != ps.Prefix {
		return bad("%s is of s3://%s/%s, the statement of s3://%s/%s", bundleIndex, b.index.Bucket, b.index.Prefix, ps.Bucket, ps.Prefix)
	}
	b.statement, b.predicate, b.ps = env, p, ps
	b.report.Bucket, b.report.Prefix = ps.Bucket, ps.Prefix
	return true
}

// checkStatementLink checks that the statement, a manifest of its stream,
// is the next one after the head the package records for that stream (or
// the first of a stream the store did not have): a statement further on
// would hide manifests sealed between the recorded head and the export.
func (b *bundleReader) checkStatementLink() {
	p := b.predicate
	var head PackageStream
	for _, s := range b.ps.Streams {
		if s.Stream == p.Stream {
			head = s
		}
	}
	switch {
	case p.Sequence != head.Head+1:
		b.fail(finding.BundleStatementInvalid, bundleStatement, remedyBundle,
			"the statement is manifest %d of stream %q, but the head it records for that stream is %d: it must be the next manifest, %d", p.Sequence, p.Stream, head.Head, head.Head+1)
	case p.PreviousSHA256 != head.HeadEnvelopeSHA256:
		b.fail(finding.BundleStatementInvalid, bundleStatement, remedyBundle,
			"the statement links to previous envelope %q, but the recorded head of stream %q hashes to %q", p.PreviousSHA256, p.Stream, head.HeadEnvelopeSHA256)
	}
}
