package custody

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Each stream is an append-only Merkle log (RFC 6962, as the Go checksum
// database and Certificate Transparency keep theirs): manifest n is leaf
// n-1, whose hash is tlog.RecordHash of its envelope's bytes. The stream's
// checkpoint is a signed note in the C2SP tlog-checkpoint format, stored
// at LogCheckpointKey with every version kept under Object Lock:
//
//	s3://<bucket>/<prefix>/manifests/<stream>     origin
//	<size>                                        manifests in the log
//	<base64 root hash>
//	custody-time <RFC 3339>                       when it was signed
//	custody-heartbeat <duration> | custody-closed the writer's promise
//	custody-head <size> <hex envelope SHA-256>    the newest manifest
//	custody-frontier <base64 hash>...             the log's right edge
//	custody-migrated <seq> <hex envelope SHA-256> the last DSSE checkpoint
//	custody-stamped                               an RFC 3161 token follows
//
// signed by the store's signer (signature type 0x02, ECDSA, key id the
// first four bytes of custody's key id). The frontier (the roots of the
// complete subtrees, left to right) lets the next writer extend the log
// without reading every manifest; a verifier recomputes everything.
const (
	logCheckpointName  = "checkpoint"
	noteSigECDSA       = 0x02
	checkpointExtTime  = "custody-time "
	checkpointExtBeat  = "custody-heartbeat "
	checkpointExtClose = "custody-closed"
	checkpointExtHead  = "custody-head "
	checkpointExtFront = "custody-frontier"
	checkpointExtMigr  = "custody-migrated "
	checkpointExtStamp = "custody-stamped"
)

// LogCheckpointKey is the key of a stream's log checkpoint.
func LogCheckpointKey(prefix, stream string) string {
	return join(prefix, manifestDir, segment(stream), logCheckpointName)
}

// LogCheckpointTimestampKey is the key of the RFC 3161 token over the
// checkpoint version whose bytes hash (SHA-256) to sum: one key per
// version, since the checkpoint's key has many.
func LogCheckpointTimestampKey(prefix, stream string, sum [sha256.Size]byte) string {
	return join(prefix, manifestDir, segment(stream), logCheckpointName+"-"+hex.EncodeToString(sum[:])+timestampSuffix)
}

// IsLogCheckpointTimestampKey reports whether key is the token of a
// checkpoint version, and of which stream and checkpoint hash.
func IsLogCheckpointTimestampKey(prefix, key string) (stream, sum string, ok bool) {
	rest, found := strings.CutPrefix(key, ManifestPrefix(prefix))
	if !found {
		return "", "", false
	}
	stream, file, _ := strings.Cut(rest, "/")
	hexSum, found := strings.CutSuffix(strings.TrimPrefix(file, logCheckpointName+"-"), timestampSuffix)
	if !found || !strings.HasPrefix(file, logCheckpointName+"-") || len(hexSum) != 2*sha256.Size || stream == "" || segment(stream) != stream {
		return "", "", false
	}
	if _, err := hex.DecodeString(hexSum); err != nil || strings.ToLower(hexSum) != hexSum {
		return "", "", false
	}
	return stream, hexSum, true
}

// IsLogCheckpointKey reports whether key is a stream's log checkpoint.
func IsLogCheckpointKey(prefix, key string) (stream string, ok bool) {
	rest, found := strings.CutPrefix(key, ManifestPrefix(prefix))
	if !found {
		return "", false
	}
	stream, file, _ := strings.Cut(rest, "/")
	return stream, file == logCheckpointName && stream != "" && segment(stream) == stream
}

// LogOrigin names a stream's log: its checkpoints are valid for that
// bucket, prefix and stream only.
func LogOrigin(bucket, prefix, stream string) string {
	return "s3://" + bucket + "/" + join(prefix, manifestDir, segment(stream))
}

// LogCheckpoint is a parsed log checkpoint.
type LogCheckpoint struct {
	Origin    string
	Size      int64
	Root      tlog.Hash
	Time      time.Time
	Heartbeat time.Duration // 0 with Closed
	Closed    bool
	HeadSHA   string // envelope SHA-256 of manifest Size
	Frontier  []tlog.Hash
	// MigratedSeq and MigratedSHA are the last DSSE checkpoint's head, on
	// the first log checkpoint of a stream that had one.
	MigratedSeq int64
	MigratedSHA string
	// Stamped says the writer had a timestamp authority: an RFC 3161
	// token over this checkpoint's bytes is stored beside it
	// (LogCheckpointTimestampKey), and its absence is a failure.
	Stamped bool
}

// body renders the checkpoint's note text.
func (c LogCheckpoint) body() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
	fmt.Fprintf(&b, "%s%s\n", checkpointExtTime, c.Time.UTC().Format(time.RFC3339))
	if c.Closed {
		b.WriteString(checkpointExtClose + "\n")
	} else {
		fmt.Fprintf(&b, "%s%s\n", checkpointExtBeat, c.Heartbeat)
	}
	fmt.Fprintf(&b, "%s%d %s\n", checkpointExtHead, c.Size, c.HeadSHA)
	b.WriteString(checkpointExtFront)
	for _, h := range c.Frontier {
		b.WriteString(" " + base64.StdEncoding.EncodeToString(h[:]))
	}
	b.WriteString("\n")
	if c.MigratedSeq > 0 {
		fmt.Fprintf(&b, "%s%d %s\n", checkpointExtMigr, c.MigratedSeq, c.MigratedSHA)
	}
	if c.Stamped {
		b.WriteString(checkpointExtStamp + "\n")
	}
	return b.String()
}

// ErrMalformedCheckpoint means bytes are not a log checkpoint custody wrote.
var ErrMalformedCheckpoint = errors.New("malformed log checkpoint")

// parseLogCheckpoint parses a checkpoint's note text (signatures already
// checked by the caller).
func parseLogCheckpoint(text string) (LogCheckpoint, error) {
	bad := func(format string, args ...any) (LogCheckpoint, error) {
		return LogCheckpoint{}, fmt.Errorf("%w: %s", ErrMalformedCheckpoint, fmt.Sprintf(format, args...))
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return bad("fewer than 3 lines")
	}
	var c LogCheckpoint
	c.Origin = lines[0]
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return bad("size %q", lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return bad("root hash %q", lines[2])
	}
	copy(c.Root[:], root)
	var seen struct{ time, beat, head, front bool }
	for _, l := range lines[3:] {
		switch {
		case strings.HasPrefix(l, checkpointExtTime):
			if c.Time, err = time.Parse(time.RFC3339, strings.TrimPrefix(l, checkpointExtTime)); err != nil {
				return bad("time: %v", err)
			}
			seen.time = true
		case strings.HasPrefix(l, checkpointExtBeat):
			if c.Heartbeat, err = time.ParseDuration(strings.TrimPrefix(l, checkpointExtBeat)); err != nil || c.Heartbeat <= 0 {
				return bad("heartbeat %q", l)
			}
			seen.beat = true
		case l == checkpointExtClose:
			c.Closed, seen.beat = true, true
		case strings.HasPrefix(l, checkpointExtHead):
			n, sha, ok := strings.Cut(strings.TrimPrefix(l, checkpointExtHead), " ")
			if !ok || n != lines[1] || len(sha) != 64 && size > 0 {
				return bad("head %q", l)
			}
			c.HeadSHA, seen.head = sha, true
		case l == checkpointExtFront || strings.HasPrefix(l, checkpointExtFront+" "):
			for _, f := range strings.Fields(strings.TrimPrefix(l, checkpointExtFront)) {
				h, err := base64.StdEncoding.DecodeString(f)
				if err != nil || len(h) != tlog.HashSize {
					return bad("frontier hash %q", f)
				}
				c.Frontier = append(c.Frontier, tlog.Hash(h))
			}
			seen.front = true
		case strings.HasPrefix(l, checkpointExtMigr):
			n, sha, ok := strings.Cut(strings.TrimPrefix(l, checkpointExtMigr), " ")
			if c.MigratedSeq, err = strconv.ParseInt(n, 10, 64); !ok || err != nil || len(sha) != 64 {
				return bad("migrated %q", l)
			}
			c.MigratedSHA = sha
		case l == checkpointExtStamp:
			c.Stamped = true
		}
	}
	if !seen.time || !seen.beat || !seen.head || !seen.front {
		return bad("a custody-time, custody-heartbeat (or custody-closed), custody-head and custody-frontier line are required")
	}
	return c, nil
}

// frontier is a log's right edge: the roots of the complete subtrees of
// its leaves, left to right, largest first; appending is a binary count.
type frontier struct {
	size  int64
	nodes []tlog.Hash
}

func (f *frontier) append(leaf tlog.Hash) {
	f.nodes = append(f.nodes, leaf)
	for n := f.size; n&1 == 1; n >>= 1 {
		l := len(f.nodes)
		f.nodes = append(f.nodes[:l-2], tlog.NodeHash(f.nodes[l-2], f.nodes[l-1]))
	}
	f.size++
}

// root is the RFC 6962 tree hash of the leaves appended so far.
func (f *frontier) root() tlog.Hash {
	if len(f.nodes) == 0 {
		return tlog.Hash(sha256.Sum256(nil))
	}
	h := f.nodes[len(f.nodes)-1]
	for i := len(f.nodes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(f.nodes[i], h)
	}
	return h
}

// valid reports whether the frontier has the shape of size's.
func (f *frontier) valid() bool {
	n := 0
	for s := f.size; s > 0; s >>= 1 {
		n += int(s & 1)
	}
	return n == len(f.nodes)
}

// leafHash is a manifest's leaf hash in its stream's log.
func leafHash(envelope []byte) tlog.Hash { return tlog.RecordHash(envelope) }

// logTree is a stream's whole log in memory, built by a verifier or an
// exporter that read every manifest: its stored hashes answer tree hashes
// and proofs for any size up to its own.
type logTree struct {
	size   int64
	stored []tlog.Hash
}

func (t *logTree) append(leaf tlog.Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(t.size, leaf, t)
	if err != nil {
		return err
	}
	t.stored = append(t.stored, hs...)
	t.size++
	return nil
}

// ReadHashes serves the stored hashes to tlog.
func (t *logTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.stored)) {
			return nil, fmt.Errorf("log: stored hash %d of %d", x, len(t.stored))
		}
		out[i] = t.stored[x]
	}
	return out, nil
}

// root is the tree hash at size n <= t.size.
func (t *logTree) root(n int64) (tlog.Hash, error) {
	if n == 0 {
		return tlog.Hash(sha256.Sum256(nil)), nil
	}
	return tlog.TreeHash(n, t)
}

// noteSigner signs checkpoints as note signatures of type 0x02 (ECDSA)
// with the store's signer, under the log's origin.
type noteSigner struct {
	name string
	hash uint32
	s    signature.Signer
}

func newNoteSigner(origin string, s signature.Signer) (*noteSigner, error) {
	pub, err := s.PublicKey()
	if err != nil {
		return nil, err
	}
	id, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	return &noteSigner{name: origin, hash: noteKeyHash(id), s: s}, nil
}

// noteKeyHash is a note key id for signature type 0x02: the first four
// bytes of the SHA-256 of the public key's DER, custody's key id.
func noteKeyHash(keyID string) uint32 {
	b, _ := hex.DecodeString(keyID)
	if len(b) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(b[:4])
}

func (n *noteSigner) Name() string    { return n.name }
func (n *noteSigner) KeyHash() uint32 { return n.hash }
func (n *noteSigner) Sign(msg []byte) ([]byte, error) {
	return n.s.SignMessage(bytes.NewReader(msg))
}

// noteVerifier checks note signatures of a trusted key under an origin.
type noteVerifier struct {
	name string
	key  TrustedKey
}

func (n noteVerifier) Name() string    { return n.name }
func (n noteVerifier) KeyHash() uint32 { return noteKeyHash(n.key.KeyID) }
func (n noteVerifier) Verify(msg, sig []byte) bool {
	return n.key.Verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)) == nil
}

// signNote signs text as a note under origin (the key name) with s.
func signNote(origin, text string, s signature.Signer) ([]byte, error) {
	ns, err := newNoteSigner(origin, s)
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: text}, ns)
}

// openNote verifies a note signed under origin by a key of trust and
// returns its text and the key that signed.
func openNote(msg []byte, origin string, trust []TrustedKey) (string, TrustedKey, error) {
	var vs []note.Verifier
	seen := map[uint32]bool{}
	for _, k := range trust {
		if h := noteKeyHash(k.KeyID); !seen[h] {
			seen[h] = true
			vs = append(vs, noteVerifier{name: origin, key: k})
		}
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		return "", TrustedKey{}, err
	}
	var signer TrustedKey
	for _, k := range trust {
		if noteKeyHash(k.KeyID) == n.Sigs[0].Hash {
			signer = k
		}
	}
	return n.Text, signer, nil
}

// signLogCheckpoint renders and signs c.
func signLogCheckpoint(c LogCheckpoint, s signature.Signer) ([]byte, error) {
	return signNote(c.Origin, c.body(), s)
}

// openLogCheckpoint verifies a checkpoint's signature against trust and
// parses it; it returns the key that signed.
func openLogCheckpoint(msg []byte, origin string, trust []TrustedKey) (LogCheckpoint, TrustedKey, error) {
	text, signer, err := openNote(msg, origin, trust)
	if err != nil {
		return LogCheckpoint{}, TrustedKey{}, err
	}
	c, err := parseLogCheckpoint(text)
	if err != nil {
		return c, TrustedKey{}, err
	}
	if c.Origin != origin {
		return c, TrustedKey{}, fmt.Errorf("%w: origin %q, want %q", ErrMalformedCheckpoint, c.Origin, origin)
	}
	return c, signer, nil
}

// frontierOf is the frontier a checkpoint records, if it has the shape
// of the checkpoint's size and hashes to its root.
func frontierOf(c LogCheckpoint) (*frontier, bool) {
	f := &frontier{size: c.Size, nodes: c.Frontier}
	return f, f.valid() && f.root() == c.Root
}

// ParseLogCheckpoint parses a log checkpoint without checking its
// signatures: for tools that inspect or re-sign one. Nothing in it is to
// be trusted before openLogCheckpoint (verify) has checked it.
func ParseLogCheckpoint(msg []byte) (LogCheckpoint, error) {
	text, _, ok := strings.Cut(string(msg), "\n\n")
	if !ok {
		return LogCheckpoint{}, fmt.Errorf("%w: no signature block", ErrMalformedCheckpoint)
	}
	return parseLogCheckpoint(text + "\n")
}

// SignLogCheckpoint signs c with s under c's origin.
func SignLogCheckpoint(c LogCheckpoint, s signature.Signer) ([]byte, error) {
	return signLogCheckpoint(c, s)
}

// LogOf is the root and frontier of a log over envelopes, leaf 0 first.
func LogOf(envelopes [][]byte) (tlog.Hash, []tlog.Hash) {
	f := &frontier{}
	for _, e := range envelopes {
		f.append(leafHash(e))
	}
	return f.root(), f.nodes
}

// LogProofs builds a log of size leaves of which only some are given (by
// 0-based index; the others are placeholders) and returns its root, its
// frontier and the inclusion proofs (base64 hashes) of the given leaves:
// for tools that rewrite packages, such as the tests' forger. Never for
// verification.
func LogProofs(size int64, leaves map[int64]tlog.Hash) (tlog.Hash, []tlog.Hash, map[int64][]string, error) {
	tree, f := &logTree{}, &frontier{}
	for i := int64(0); i < size; i++ {
		h, ok := leaves[i]
		if !ok {
			h = tlog.RecordHash([]byte(fmt.Sprintf("placeholder %d", i)))
		}
		if err := tree.append(h); err != nil {
			return tlog.Hash{}, nil, nil, err
		}
		f.append(h)
	}
	proofs := map[int64][]string{}
	for i := range leaves {
		p, err := tlog.ProveRecord(size, i, tree)
		if err != nil {
			return tlog.Hash{}, nil, nil, err
		}
		proofs[i] = []string{}
		for _, h := range p {
			proofs[i] = append(proofs[i], h.String())
		}
	}
	return f.root(), f.nodes, proofs, nil
}

// LeafHash is a manifest envelope's leaf hash in its stream's log.
func LeafHash(envelope []byte) tlog.Hash { return leafHash(envelope) }
