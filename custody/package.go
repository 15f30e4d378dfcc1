package custody

import (
	"crypto/ed25519"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The hand-off package's signed statement (docs/verify.md, "The export
// package"). The archive starts with the statement files, so that a
// verifier knows, before it writes a byte, what the package may hold:
//
//	package.dsse.json   the export event's manifest: a DSSE envelope over an
//	                    in-toto statement, signed by the store's signer and
//	                    chained like every other custody event; its
//	                    subjects are package.json, SHA256SUMS, index.json,
//	                    report.json and chain-of-custody.md
//	package.json        PackageStatement: the store, the selection, the
//	                    export-time verdict, each stream's recorded head,
//	                    every manifest and every file with its size
//	SHA256SUMS          every file but the three above, for sha256sum -c
//	index.json          every stored object version and its file
//	keys/               the signers' public keys (informative only: the
//	                    recipient pins the key id received separately)
//	tsa-chain.pem       the TSA's certificates, if timestamps are used
//
// and then README.md, report.json, chain-of-custody.md, the witnesses'
// copies (witnesses/) and public keys (witness-keys/, informative only:
// the recipient pins them), and objects/.
const (
	bundleStatement = "package.dsse.json"
	bundlePackage   = "package.json"
	packageFormat   = "custody-package/v1"

	// maxBundleMeta bounds the statement files, read into memory before
	// the statement is verified, in all; maxBundleKey each public key.
	maxBundleMeta = 256 << 20
	maxBundleKey  = 64 << 10
)

// PackageStatement is package.json: what the signed statement vouches for.
type PackageStatement struct {
	Format     string    `json:"format"`
	Bucket     string    `json:"bucket"`
	Prefix     string    `json:"prefix"`
	Region     string    `json:"region,omitempty"`
	ExportedAt time.Time `json:"exportedAt"`
	Selection  Selection `json:"selection"`
	// Verdict is custody verify's at export, on the store itself.
	Verdict PackageVerdict `json:"verdict"`
	// Streams are every stream of the store at export, with its head; a
	// stream whose manifests are in the package has First > 0: the
	// package holds its manifests First..Head, every one of them.
	Streams []PackageStream `json:"streams"`
	// Manifests are the manifest files the package holds.
	Manifests []PackageManifest `json:"manifests"`
	// Witnesses are the store's witnesses at export, each with its newest
	// cosigned copy of the checkpoint of every stream the package proves
	// (a stream with LogRoot).
	Witnesses []PackageWitness `json:"witnesses,omitempty"`
	// Files are every file of the package but package.dsse.json,
	// package.json and SHA256SUMS, with size and SHA-256.
	Files []PackageFile `json:"files"`
}

// PackageVerdict is the export-time verification result.
type PackageVerdict struct {
	OK       bool     `json:"ok"`
	Failures Findings `json:"failures"`
}

// PackageStream is one stream's recorded head, and the first of its
// manifests the package holds (0: none). With LogRoot, the stream's log
// at the head has that root (base64): the package holds only the
// selected manifests, each with its inclusion proof, and the stream's
// newest checkpoint; without, it holds every manifest from First to Head.
type PackageStream struct {
	Stream             string `json:"stream"`
	First              int64  `json:"first"`
	Head               int64  `json:"head"`
	HeadEnvelopeSHA256 string `json:"headEnvelopeSha256"`
	LogRoot            string `json:"logRoot,omitempty"`
}

// PackageManifest is one manifest file of the package. Proof, in a stream
// with a log, is its RFC 6962 inclusion proof (base64 hashes) at the
// stream's recorded head.
type PackageManifest struct {
	File      string   `json:"file"`
	Stream    string   `json:"stream"`
	Sequence  int64    `json:"sequence"`
	VersionID string   `json:"versionId"`
	Selected  bool     `json:"selected"`
	Proof     []string `json:"proof,omitempty"`
}

// PackageWitness is one witness of the store at export: its key name,
// the file of its public key (informative only), and the copies of it the
// package holds.
type PackageWitness struct {
	Name    string               `json:"name"`
	KeyFile string               `json:"keyFile"`
	Copies  []PackageWitnessCopy `json:"copies"`
}

// PackageWitnessCopy is a witness's newest cosigned copy of a stream's
// checkpoint at export, from Object. For a copy of a smaller tree than
// the stream's recorded head, Consistency is the RFC 6962 consistency
// proof (base64 hashes) from the copy's size and root to the head's.
type PackageWitnessCopy struct {
	Stream      string   `json:"stream"`
	File        string   `json:"file"`
	Object      string   `json:"object"`
	Size        int64    `json:"size"`
	Consistency []string `json:"consistency,omitempty"`
}

// PackageFile is one file of the package.
type PackageFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// sumsFile renders files as SHA256SUMS, in the format sha256sum -c reads,
// sorted by name.
func sumsFile(files []PackageFile) []byte {
	sorted := append([]PackageFile(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b strings.Builder
	for _, f := range sorted {
		fmt.Fprintf(&b, "%s  %s\n", f.SHA256, f.Name)
	}
	return []byte(b.String())
}

// Anchor is what a recipient trusts, obtained apart from the package:
// public keys they hold, or key ids (hex SHA-256 of the DER public key)
// given to them separately. An empty anchor pins nothing: verify --bundle
// then checks everything with the package's own keys and fails with
// signer-not-pinned.
//
// Witnesses are the witnesses' public keys the recipient pins, by key
// name: a witness copy in the package is checked against them, and one of
// a witness not pinned is a warning, never a pass.
type Anchor struct {
	Keys      []TrustedKey
	KeyIDs    []string
	Witnesses map[string]ed25519.PublicKey
}

// Empty reports whether the anchor pins nothing.
func (a Anchor) Empty() bool { return len(a.Keys) == 0 && len(a.KeyIDs) == 0 }

// ParseKeyID normalises a key id given on the command line: 64 hex digits
// (an optional "sha256:" prefix and spaces or colons are dropped).
func ParseKeyID(s string) (string, error) {
	id := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
	id = strings.NewReplacer(":", "", " ", "").Replace(id)
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", fmt.Errorf("key id %q: want the 64 hex digits of the SHA-256 of the public key's DER (openssl pkey -pubin -in KEY.pub -outform DER | sha256sum)", s)
	}
	return id, nil
}
