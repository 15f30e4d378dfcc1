package custody

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/mod/sumdb/note"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
)

// A witness is a second place, in another bucket (another account or
// region) with its own Ed25519 key, that receives every checkpoint of a
// stream's log and countersigns it in the C2SP tlog-cosignature/v1
// format, so standard witness tooling can read its copies:
//
//	<checkpoint note text>
//
//	— <log origin> <the store's signature>
//	— <witness name> base64(key id[4] || time[8, big-endian] || Ed25519 signature[64])
//
// where the signed message is "cosignature/v1\ntime <unix seconds>\n"
// followed by the note text, and the key id is the first four bytes of
// SHA-256(name || 0x0A || 0x04 || public key). The witness keeps each
// stream's cosigned checkpoint at WitnessKey, every version under its
// bucket's default Object Lock retention, and never cosigns a tree
// smaller than one it holds (a rollback) or another root at the same size
// (a fork). Verify then needs only the two buckets and the public keys:
// a store whose tail was cut, or rewritten, disagrees with its witness.
const (
	witnessCheckpointName = "checkpoint"
	cosignatureV1Type     = 0x04
	cosignatureV1Header   = "cosignature/v1\ntime %d\n"
)

// ErrWitnessRefused means a witness would not cosign a checkpoint: it
// holds a larger tree of the stream, or another root at the same size.
var ErrWitnessRefused = errors.New("the witness refuses to cosign")

// Cosigner receives each checkpoint a Chain stores and countersigns it.
// Cosign gets the store's bucket and prefix, the stream and the signed
// note as stored; an error is reported (Chain.Warn) and does not fail the
// seal: the next checkpoint is handed again.
type Cosigner interface {
	Name() string
	Cosign(ctx context.Context, storeBucket, storePrefix, stream string, note []byte) error
}

// SetWitnesses has every checkpoint the chain stores handed to ws.
func (c *Chain) SetWitnesses(ws ...Cosigner) { c.witnesses = ws }

// witnessCheckpoint hands a stored checkpoint to each witness.
func (c *Chain) witnessCheckpoint(ctx context.Context, msg []byte) {
	for _, w := range c.witnesses {
		if err := w.Cosign(ctx, c.store.bucket, c.store.prefix, c.stream, msg); err != nil && c.Warn != nil {
			c.Warn(fmt.Errorf("witness %s did not cosign the checkpoint of stream %s (it is handed the next one again): %w", w.Name(), c.stream, err))
		}
	}
}

// witnessAPI is what a witness calls on its bucket: writing copies
// (s3:PutObject), and reading them back with every version
// (s3:ListBucketVersions, s3:GetObjectVersion).
type witnessAPI interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

var _ witnessAPI = (*s3.Client)(nil)

// S3Witness is a witness bucket: a Cosigner when it has its private key,
// and what verify reads with its public key alone.
type S3Witness struct {
	name   string
	bucket string
	prefix string
	api    witnessAPI
	pub    ed25519.PublicKey
	priv   ed25519.PrivateKey // nil: read only
	trust  []TrustedKey       // the log keys it accepts checkpoints from
	now    func() time.Time

	mu   sync.Mutex
	held map[string]LogCheckpoint // by copy key: the newest it cosigned
}

var _ Cosigner = (*S3Witness)(nil)

// NewS3Witness is the witness w, read and written through api, whose
// public key is pub.
func NewS3Witness(api witnessAPI, w config.Witness, pub ed25519.PublicKey) *S3Witness {
	return &S3Witness{name: w.Name, bucket: w.Bucket, prefix: w.KeyPrefix(), api: api, pub: pub, held: map[string]LogCheckpoint{}}
}

// WithKey makes the witness a cosigner: priv is its private key, trust
// the store's keys it checks a checkpoint's signature with, now its clock.
func (w *S3Witness) WithKey(priv ed25519.PrivateKey, trust []TrustedKey, now func() time.Time) (*S3Witness, error) {
	if !w.pub.Equal(priv.Public()) {
		return nil, fmt.Errorf("witness %s: its key and its public key are not a pair (check witnesses[].key and witnesses[].public)", w.name)
	}
	w.priv, w.trust, w.now = priv, trust, now
	return w, nil
}

// Name is the witness's key name.
func (w *S3Witness) Name() string { return w.name }

// WitnessKey is where a witness keeps its copy of a stream's checkpoint.
func WitnessKey(witnessPrefix, storeBucket, storePrefix, stream string) string {
	return witnessStoreDir(witnessPrefix, storeBucket, storePrefix) + segment(stream) + "/" + witnessCheckpointName
}

// witnessStoreDir is the folder of a store's copies in a witness bucket.
func witnessStoreDir(witnessPrefix, storeBucket, storePrefix string) string {
	dir := join(witnessPrefix, storeBucket)
	if p := strings.Trim(storePrefix, "/"); p != "" {
		dir += "/" + p
	}
	return dir + "/"
}

// Cosign checks the checkpoint's log signature, refuses a tree smaller
// than the one it holds for the stream or another root at the same size,
// and stores the checkpoint with its cosignature added.
func (w *S3Witness) Cosign(ctx context.Context, storeBucket, storePrefix, stream string, msg []byte) error {
	if w.priv == nil {
		return fmt.Errorf("witness %s has no private key here (set witnesses[].key)", w.name)
	}
	origin := LogOrigin(storeBucket, storePrefix, stream)
	n, err := note.Open(msg, logVerifiers(origin, w.trust))
	if err != nil {
		return fmt.Errorf("the checkpoint of %s is not signed by the store's key: %w", origin, err)
	}
	cp, err := parseLogCheckpoint(n.Text)
	if err == nil && cp.Origin != origin {
		err = fmt.Errorf("%w: origin %q, want %q", ErrMalformedCheckpoint, cp.Origin, origin)
	}
	if err != nil {
		return err
	}
	key := WitnessKey(w.prefix, storeBucket, storePrefix, stream)
	w.mu.Lock()
	defer w.mu.Unlock()
	held, ok := w.held[key]
	if !ok {
		if held, ok, err = w.readHeld(ctx, key); err != nil {
			return err
		}
	}
	switch {
	case ok && cp.Size < held.Size:
		return fmt.Errorf("%w: s3://%s/%s holds %d manifests of %s, the checkpoint only %d: the store's log was rolled back (run custody verify)",
			ErrWitnessRefused, w.bucket, key, held.Size, origin, cp.Size)
	case ok && cp.Size == held.Size && cp.Root != held.Root:
		return fmt.Errorf("%w: s3://%s/%s holds root %s at size %d of %s, the checkpoint root %s: the store's log was forked (run custody verify)",
			ErrWitnessRefused, w.bucket, key, held.Root, held.Size, origin, cp.Root)
	}
	cosigned, err := note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs}, cosigner{name: w.name, priv: w.priv, now: w.now})
	if err != nil {
		return fmt.Errorf("cosign the checkpoint of %s: %w", origin, err)
	}
	sum := sha256.Sum256(cosigned)
	// No retention here: the witness bucket's default retention locks the
	// copy, as its owner set it.
	if _, err := w.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(w.bucket), Key: aws.String(key), Body: bytes.NewReader(cosigned), ContentLength: aws.Int64(int64(len(cosigned))),
		ContentType: aws.String("text/plain; charset=utf-8"), ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	}); err != nil {
		return fmt.Errorf("store s3://%s/%s (grant s3:PutObject on the witness bucket): %w", w.bucket, key, err)
	}
	w.held[key] = cp
	return nil
}

// readHeld reads the newest copy the witness holds at key, if it carries
// the witness's own cosignature (a copy it did not sign moves nothing).
func (w *S3Witness) readHeld(ctx context.Context, key string) (LogCheckpoint, bool, error) {
	out, err := w.api.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(w.bucket), Prefix: aws.String(key)})
	if err != nil {
		return LogCheckpoint{}, false, fmt.Errorf("list s3://%s/%s (grant s3:ListBucketVersions on the witness bucket): %w", w.bucket, key, err)
	}
	for _, v := range out.Versions {
		if aws.ToString(v.Key) != key || !aws.ToBool(v.IsLatest) {
			continue
		}
		msg, err := w.read(ctx, key, aws.ToString(v.VersionId))
		if err != nil {
			return LogCheckpoint{}, false, err
		}
		n, err := note.Open(msg, note.VerifierList(cosignVerifier{name: w.name, pub: w.pub}))
		if err != nil {
			return LogCheckpoint{}, false, nil
		}
		cp, err := parseLogCheckpoint(n.Text)
		return cp, err == nil, nil
	}
	return LogCheckpoint{}, false, nil
}

// read reads one version of a copy.
func (w *S3Witness) read(ctx context.Context, key, versionID string) ([]byte, error) {
	out, err := w.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s?versionId=%s (grant s3:GetObjectVersion on the witness bucket): %w", w.bucket, key, versionID, err)
	}
	defer out.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(out.Body, maxLogCheckpointSize+1))
	if err == nil && len(msg) > maxLogCheckpointSize {
		err = fmt.Errorf("larger than %d bytes", maxLogCheckpointSize)
	}
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s?versionId=%s: %w", w.bucket, key, versionID, err)
	}
	return msg, nil
}

// logVerifiers are the note verifiers of trust's keys under origin.
func logVerifiers(origin string, trust []TrustedKey) note.Verifiers {
	var vs []note.Verifier
	seen := map[uint32]bool{}
	for _, k := range trust {
		if h := noteKeyHash(k.KeyID); !seen[h] {
			seen[h] = true
			vs = append(vs, noteVerifier{name: origin, key: k})
		}
	}
	return note.VerifierList(vs...)
}

// CosignatureKeyID is the key id of a tlog-cosignature/v1 key: the
// first four bytes of SHA-256(name || 0x0A || 0x04 || public key).
func CosignatureKeyID(name string, pub ed25519.PublicKey) [4]byte {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', cosignatureV1Type})
	h.Write(pub)
	var id [4]byte
	copy(id[:], h.Sum(nil))
	return id
}

// cosignatureMessage is what a cosignature/v1 signs at unix time t.
func cosignatureMessage(t uint64, text []byte) []byte {
	return append(fmt.Appendf(nil, cosignatureV1Header, t), text...)
}

// cosigner signs a note as a tlog-cosignature/v1 witness: the note
// package writes the key id, the signature is the time and the Ed25519
// signature of the cosignature message.
type cosigner struct {
	name string
	priv ed25519.PrivateKey
	now  func() time.Time
}

func (c cosigner) Name() string { return c.name }
func (c cosigner) KeyHash() uint32 {
	id := CosignatureKeyID(c.name, c.priv.Public().(ed25519.PublicKey))
	return binary.BigEndian.Uint32(id[:])
}
func (c cosigner) Sign(msg []byte) ([]byte, error) {
	t := uint64(c.now().Unix())
	sig := binary.BigEndian.AppendUint64(nil, t)
	return append(sig, ed25519.Sign(c.priv, cosignatureMessage(t, msg))...), nil
}

// cosignVerifier checks a witness's tlog-cosignature/v1 signatures.
type cosignVerifier struct {
	name string
	pub  ed25519.PublicKey
}

func (c cosignVerifier) Name() string { return c.name }
func (c cosignVerifier) KeyHash() uint32 {
	id := CosignatureKeyID(c.name, c.pub)
	return binary.BigEndian.Uint32(id[:])
}
func (c cosignVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(c.pub, cosignatureMessage(binary.BigEndian.Uint64(sig[:8]), msg), sig[8:])
}

// LoadWitnessPublic reads a witness's Ed25519 public key (PEM).
func LoadWitnessPublic(w config.Witness) (ed25519.PublicKey, error) {
	path := strings.TrimPrefix(w.Public, "file://")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("witness %s: read its public key: %w", w.Name, err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %s is not a PEM public key: %w", w.Name, path, err)
	}
	ed, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("witness %s: %s is a %T; an Ed25519 key is required (custody keygen --ed25519)", w.Name, path, pub)
	}
	return ed, nil
}

// LoadWitnessKey opens a witness's encrypted Ed25519 private key with the
// passphrase in the environment variable witnesses[].passphrase_env.
func LoadWitnessKey(w config.Witness, getenv func(string) string) (ed25519.PrivateKey, error) {
	path := strings.TrimPrefix(w.Key, "file://")
	pass, err := passphrase(config.Signer{PassphraseEnv: w.PassphraseEnvOrDefault()}, getenv)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", w.Name, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("witness %s: read its key: %w", w.Name, err)
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(b, cryptoutils.StaticPasswordFunc(pass))
	clear(pass)
	if err != nil {
		return nil, fmt.Errorf("witness %s: decrypt %s: %w (wrong passphrase, or not a key made by custody keygen --ed25519)", w.Name, path, err)
	}
	ed, ok := priv.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("witness %s: %s is a %T; an Ed25519 key is required (custody keygen --ed25519)", w.Name, path, priv)
	}
	return ed, nil
}

// KeygenEd25519 writes a new Ed25519 key pair, for a witness: the private
// key encrypted with pass (the sigstore format, as Keygen's) at privPath
// with mode 0600, the public key PEM beside it as .pub. It never
// overwrites a file, and never writes a key unprotected.
func KeygenEd25519(privPath string, pass []byte) (pubPath string, err error) {
	if len(pass) == 0 {
		return "", fmt.Errorf("%w: an empty passphrase would leave the key unprotected", ErrNoPassphrase)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	enc, err := cryptoutils.MarshalPrivateKeyToEncryptedDER(priv, cryptoutils.StaticPasswordFunc(pass))
	if err != nil {
		return "", fmt.Errorf("encrypt key: %w", err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return "", err
	}
	pubPath = strings.TrimSuffix(privPath, filepath.Ext(privPath)) + ".pub"
	if err := writeNew(privPath, cryptoutils.PEMEncode(cryptoutils.EncryptedSigstorePrivateKeyPEMType, enc), 0o600); err != nil {
		return "", err
	}
	if err := writeNew(pubPath, pubPEM, 0o644); err != nil {
		return "", err
	}
	return pubPath, nil
}

// checkWitnesses cross-checks the store against every witness's copies,
// every version: each must carry a trusted log signature and the
// witness's cosignature, and agree with the stream's log. A witness that
// has seen a larger tree than the store holds (or a stream the store
// lacks) is witness-ahead: the store was rolled back or truncated; one
// with another root at a size the store has is witness-fork. It returns
// an error only when witnesses are configured and none could be read.
func (v *Verifier) checkWitnesses(ctx context.Context, idx *storeIndex, chains map[string][]*ManifestRecord, r *Report) error {
	if len(v.Witnesses) == 0 || v.recorded != nil {
		return nil
	}
	var unreachable []error
	for _, w := range v.Witnesses {
		if err := v.checkWitness(ctx, w, idx, chains, r); err != nil {
			unreachable = append(unreachable, err)
			r.Findings.Warn(finding.WitnessUnreachable, "s3://"+w.bucket+"/"+witnessStoreDir(w.prefix, v.bucket, v.prefix),
				"grant the verifier s3:ListBucketVersions and s3:GetObjectVersion on the witness bucket, and check witnesses[] in the config",
				"witness %s could not be read: %v", w.name, err)
		}
	}
	if len(unreachable) == len(v.Witnesses) {
		return fmt.Errorf("no witness could be read, so the end of each stream is unproven: %w", errors.Join(unreachable...))
	}
	return nil
}

// checkWitness checks one witness's copies of this store's streams.
func (v *Verifier) checkWitness(ctx context.Context, w *S3Witness, idx *storeIndex, chains map[string][]*ManifestRecord, r *Report) error {
	dir := witnessStoreDir(w.prefix, v.bucket, v.prefix)
	var versions []ObjectVersion
	p := s3.NewListObjectVersionsPaginator(w.api, &s3.ListObjectVersionsInput{Bucket: aws.String(w.bucket), Prefix: aws.String(dir)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", w.bucket, dir, err)
		}
		for _, ov := range page.Versions {
			versions = append(versions, ObjectVersion{Key: aws.ToString(ov.Key), VersionID: aws.ToString(ov.VersionId), LastModified: aws.ToTime(ov.LastModified)})
		}
	}
	sort.SliceStable(versions, func(i, j int) bool { return versions[i].LastModified.Before(versions[j].LastModified) })
	trees := map[string]*logTree{}
	for _, ov := range versions {
		obj := objectName(w.bucket, ov.Key, ov.VersionID)
		stream, file, _ := strings.Cut(strings.TrimPrefix(ov.Key, dir), "/")
		if file != witnessCheckpointName || stream == "" || segment(stream) != stream {
			r.Findings.Fail(finding.WitnessInvalid, obj, "find who wrote to the witness bucket", "witness %s: not a checkpoint copy of a stream of s3://%s/%s", w.name, v.bucket, v.prefix)
			continue
		}
		msg, err := w.read(ctx, ov.Key, ov.VersionID)
		if err != nil {
			r.Findings.Warn(finding.WitnessUnreachable, obj, "grant the verifier s3:GetObjectVersion on the witness bucket", "witness %s: %v", w.name, err)
			continue
		}
		cp, signer, err := openLogCheckpoint(msg, LogOrigin(v.bucket, v.prefix, stream), v.trust)
		if err == nil && !signer.ValidAt(cp.Time) {
			err = fmt.Errorf("signed by trusted key %q, which was not valid at %s", signer.Name, cp.Time.UTC().Format(time.RFC3339))
		}
		if err == nil {
			_, err = note.Open(msg, note.VerifierList(cosignVerifier{name: w.name, pub: w.pub}))
			if err != nil {
				err = fmt.Errorf("no valid cosignature of witness %s: %w", w.name, err)
			}
		}
		if err != nil {
			r.Findings.Fail(finding.WitnessInvalid, obj, "treat this copy as forged: find who wrote to the witness bucket", "witness %s, stream %q: %v", w.name, stream, err)
			continue
		}
		chain := chains[stream]
		tree := trees[stream]
		if tree == nil {
			tree = streamTree(chain)
			trees[stream] = tree
		}
		var last int64
		for _, m := range chain {
			last = max(last, m.Sequence)
		}
		for seq := range idx.manifests[stream] {
			last = max(last, seq)
		}
		switch {
		case len(idx.manifests[stream]) == 0 && cp.Size > 0:
			r.Findings.Fail(finding.WitnessAhead, obj, "the stream was deleted from the store: "+remedyChain,
				"witness %s holds %d manifests of stream %q, which the store lacks entirely (0 manifests)", w.name, cp.Size, stream)
		case cp.Size > last:
			r.Findings.Fail(finding.WitnessAhead, obj, "the store's newest manifests of the stream were removed or rolled back: "+remedyChain,
				"witness %s holds %d manifests of stream %q; the store has %d: its log was truncated or rolled back", w.name, cp.Size, stream, last)
		case cp.Size <= tree.size:
			if root, err := tree.root(cp.Size); err != nil || root != cp.Root {
				r.Findings.Fail(finding.WitnessFork, obj, "the store's manifests of the stream were rewritten: "+remedyChain,
					"witness %s holds root %s at size %d of stream %q; the store's %d manifests hash to %s at that size: the log was forked or rewritten",
					w.name, cp.Root, cp.Size, stream, last, root)
			}
		}
	}
	return nil
}
