package custody

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/ledger"
)

// objectReader is what reading evidence back needs.
type objectReader interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

var _ objectReader = (*s3.Client)(nil)

// ErrChainConflict means another writer extended the stream's chain
// between our reading its head and writing the next manifest.
var ErrChainConflict = errors.New("manifest chain conflict")

// Chain seals runs of one stream into signed, hash-chained manifests. One
// process per stream may write at a time (see LockStreamAt); within the
// process, Seal is serialised.
type Chain struct {
	store  *Store
	reader objectReader
	ledger *ledger.Ledger
	signer Signer
	stream string
	who    Who
	now    func() time.Time
	tsa    *TSA

	// heartbeat is what the chain's checkpoints promise (0: closed).
	heartbeat time.Duration
	// front is the log's frontier at the last checkpoint written.
	front *frontier
	// witnesses cosign each checkpoint stored (see SetWitnesses).
	witnesses []Cosigner
	// registered: this chain recorded its stream in the store's registry.
	registered bool

	mu sync.Mutex
	// Warn receives problems that do not stop sealing (a TSA that did not
	// answer). Nil discards them.
	Warn func(error)
}

// SetTSA has every manifest timestamped by tsa (nil: none).
func (c *Chain) SetTSA(tsa *TSA) { c.tsa = tsa }

// NewChain returns the chain of stream. who describes the sealing agent;
// its KeyID is filled from the signer.
func NewChain(store *Store, reader objectReader, l *ledger.Ledger, signer Signer, stream string, who Who, now func() time.Time) (*Chain, error) {
	pub, err := signer.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", awsclient.AgentRole.Explain(err))
	}
	if who.KeyID, err = KeyID(pub); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return &Chain{store: store, reader: reader, ledger: l, signer: signer, stream: stream, who: who, now: now}, nil
}

// Stream is the chain's stream name.
func (c *Chain) Stream() string { return c.stream }

// SealRequest describes what a manifest seals.
type SealRequest struct {
	Event       string
	RunID       string
	Collector   string
	Description string
	Sources     []string
	WindowStart time.Time
	WindowEnd   time.Time
	Account     string
	Region      string
	Case        string
	Artifacts   []Artifact
	Findings    []Finding
	Resealed    []string
	Details     map[string]string
}

// Seal writes the next manifest of the stream over req's artifacts, after
// the artifacts themselves are stored: artifacts first, manifest last.
// Then it records the manifest in the ledger and writes the checkpoint. An
// access denial (signing with KMS, writing to the bucket) names the
// permission the agent's role lacks.
func (c *Chain) Seal(ctx context.Context, req SealRequest) (ledger.Manifest, error) {
	if len(req.Artifacts) == 0 {
		return ledger.Manifest{}, errors.New("seal: a manifest needs at least one artifact (Run.Seal stores a run record for empty runs)")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		m, err := c.sealOnce(ctx, req)
		if errors.Is(err, ErrChainConflict) && attempt < 2 {
			continue // adopt what the other writer wrote, then extend it
		}
		return m, awsclient.AgentRole.Explain(err)
	}
}

func (c *Chain) sealOnce(ctx context.Context, req SealRequest) (ledger.Manifest, error) {
	head, err := c.syncHead(ctx)
	if err != nil {
		return ledger.Manifest{}, err
	}
	now := c.now().UTC()
	p := Predicate{
		Stream: c.stream, Sequence: head.Seq + 1, PreviousSHA256: head.EnvelopeSHA256,
		Event: req.Event, RunID: req.RunID, Bucket: c.store.bucket, Case: req.Case, Who: c.who,
		What:     What{Collector: req.Collector, Description: req.Description, Sources: req.Sources},
		When:     When{WindowStart: req.WindowStart.UTC(), WindowEnd: req.WindowEnd.UTC(), SealedAt: now},
		Where:    Where{Account: req.Account, Region: req.Region},
		Resealed: req.Resealed, Findings: req.Findings, Details: req.Details,
	}
	st := NewStatement(p, req.Artifacts, c.store.retention.Mode)
	payload, err := json.Marshal(st)
	if err != nil {
		return ledger.Manifest{}, fmt.Errorf("encode manifest: %w", err)
	}
	env, err := SignEnvelope(c.signer, PayloadType, payload)
	if err != nil {
		return ledger.Manifest{}, err
	}
	key := ManifestKey(c.store.prefix, c.stream, p.Sequence)
	version, err := c.store.putLocked(ctx, key, env, "application/json", true)
	if err != nil {
		return ledger.Manifest{}, err
	}
	c.timestamp(ctx, env, p.Sequence)
	sum := sha256.Sum256(env)
	m := ledger.Manifest{
		Stream: c.stream, Seq: p.Sequence, Bucket: c.store.bucket, Key: key, VersionID: version,
		EnvelopeSHA256: fmt.Sprintf("%x", sum), PrevSHA256: head.EnvelopeSHA256, Event: req.Event, RunID: req.RunID, SignedAt: now,
	}
	if err := c.ledger.RecordManifest(ctx, m, refs(req.Artifacts)); err != nil {
		return m, err
	}
	return m, c.writeCheckpoint(ctx, m, env)
}

// timestamp stores an RFC 3161 token over the manifest's signature. A TSA
// that fails does not stop sealing: verify reports the missing token.
func (c *Chain) timestamp(ctx context.Context, env []byte, seq int64) {
	if c.tsa == nil {
		return
	}
	err := func() error {
		e, err := ParseEnvelope(bytes.NewReader(env))
		if err != nil {
			return err
		}
		sig, err := signatureBytes(e)
		if err != nil {
			return err
		}
		token, err := c.tsa.Stamp(ctx, sig)
		if err != nil {
			return err
		}
		_, err = c.store.putLocked(ctx, TimestampKey(c.store.prefix, c.stream, seq), token, "application/timestamp-reply", true)
		return err
	}()
	if err != nil && c.Warn != nil {
		c.Warn(fmt.Errorf("manifest %d of %s sealed without a timestamp: %w", seq, c.stream, err))
	}
}

func refs(arts []Artifact) []ledger.ArtifactRef {
	out := make([]ledger.ArtifactRef, len(arts))
	for i, a := range arts {
		out[i] = ledger.ArtifactRef{Bucket: a.Bucket, Key: a.Key, VersionID: a.VersionID}
	}
	return out
}

// syncHead returns the chain head, first adopting manifests that are in
// the bucket but not in the ledger (a crash after the manifest was written,
// or a ledger rebuilt from scratch). Adopted manifests must carry this
// signer's signature and the expected stream, sequence and link.
func (c *Chain) syncHead(ctx context.Context) (ledger.Manifest, error) {
	head, err := c.ledger.Head(ctx, c.stream)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return head, err
	}
	for {
		key := ManifestKey(c.store.prefix, c.stream, head.Seq+1)
		out, err := c.reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.store.bucket), Key: aws.String(key)})
		if httpStatus(err) == http.StatusNotFound {
			return head, nil
		}
		if err != nil {
			return head, fmt.Errorf("look for manifest s3://%s/%s: %w", c.store.bucket, key, err)
		}
		env, err := ParseEnvelope(out.Body)
		out.Body.Close()
		if err != nil {
			return head, fmt.Errorf("manifest s3://%s/%s: %w", c.store.bucket, key, err)
		}
		if err := env.VerifyWith(c.signer); err != nil {
			return head, fmt.Errorf("manifest s3://%s/%s is not signed by this agent's key (another agent writing stream %q?): %w", c.store.bucket, key, c.stream, err)
		}
		st, err := env.Statement()
		if err != nil {
			return head, fmt.Errorf("manifest s3://%s/%s: %w", c.store.bucket, key, err)
		}
		p := st.Predicate
		if p.Stream != c.stream || p.Sequence != head.Seq+1 || p.PreviousSHA256 != head.EnvelopeSHA256 {
			return head, fmt.Errorf("manifest s3://%s/%s does not extend the chain (stream %q seq %d prev %s; expected seq %d prev %s): run custody verify", c.store.bucket, key, p.Stream, p.Sequence, p.PreviousSHA256, head.Seq+1, head.EnvelopeSHA256)
		}
		m := ledger.Manifest{Stream: c.stream, Seq: p.Sequence, Bucket: c.store.bucket, Key: key, VersionID: aws.ToString(out.VersionId),
			EnvelopeSHA256: env.SHA256, PrevSHA256: p.PreviousSHA256, Event: p.Event, RunID: p.RunID, SignedAt: p.When.SealedAt}
		var sealed []ledger.ArtifactRef
		for _, s := range st.Subject {
			sealed = append(sealed, ledger.ArtifactRef{Bucket: p.Bucket, Key: s.Name, VersionID: s.Annotations.VersionID})
		}
		if err := c.ledger.RecordManifest(ctx, m, sealed); err != nil {
			return head, err
		}
		head = m
	}
}

// writeCheckpoint extends the stream's log with manifest m (whose
// envelope is env) and writes the signed log checkpoint over it.
func (c *Chain) writeCheckpoint(ctx context.Context, m ledger.Manifest, env []byte) error {
	prev := m
	prev.Seq, prev.EnvelopeSHA256 = m.Seq-1, m.PrevSHA256
	f, migrated, err := c.logFrontier(ctx, prev)
	if err != nil {
		return err
	}
	f.append(leafHash(env))
	c.front = f
	if err := c.putLogCheckpoint(ctx, m, migrated); err != nil {
		return err
	}
	if !c.registered {
		c.register(ctx) // the stream's first checkpoint from this chain
	}
	return nil
}

// putLogCheckpoint signs and stores the checkpoint of the log as c.front
// holds it, with head m.
func (c *Chain) putLogCheckpoint(ctx context.Context, m ledger.Manifest, migrated *Checkpoint) error {
	cp := LogCheckpoint{
		Origin: LogOrigin(c.store.bucket, c.store.prefix, c.stream), Size: c.front.size, Root: c.front.root(),
		Time: c.now().UTC().Truncate(time.Second), Heartbeat: c.heartbeat, Closed: c.heartbeat == 0,
		HeadSHA: m.EnvelopeSHA256, Frontier: c.front.nodes, Stamped: c.tsa != nil,
	}
	if migrated != nil {
		cp.MigratedSeq, cp.MigratedSHA = migrated.Sequence, migrated.EnvelopeSHA256
	}
	msg, err := signLogCheckpoint(cp, c.signer)
	if err != nil {
		return fmt.Errorf("sign the checkpoint of stream %s: %w", c.stream, err)
	}
	if _, err = c.store.putLocked(ctx, LogCheckpointKey(c.store.prefix, c.stream), msg, "text/plain; charset=utf-8", false); err == nil {
		c.stampCheckpoint(ctx, msg)
		c.witnessCheckpoint(ctx, msg)
	}
	return err
}

// stampCheckpoint stores an RFC 3161 token over a checkpoint's bytes: the
// timestamp authority is a witness of when the log had that size and
// root, which no key holder can backdate. A TSA that fails does not stop
// sealing: verify reports the missing token (the checkpoint says one was
// due).
func (c *Chain) stampCheckpoint(ctx context.Context, msg []byte) {
	if c.tsa == nil {
		return
	}
	token, err := c.tsa.Stamp(ctx, msg)
	if err == nil {
		_, err = c.store.putLocked(ctx, LogCheckpointTimestampKey(c.store.prefix, c.stream, sha256.Sum256(msg)), token, "application/timestamp-reply", true)
	}
	if err != nil && c.Warn != nil {
		c.Warn(fmt.Errorf("checkpoint of %s written without a timestamp: %w", c.stream, err))
	}
}

// Heartbeat writes a fresh checkpoint of the stream's log even when
// nothing new was sealed, so that a verifier anywhere can tell a live
// stream from one whose tail was cut (stream-stale).
func (c *Chain) Heartbeat(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	head, err := c.syncHead(ctx)
	if err != nil || head.Seq == 0 {
		return err
	}
	f, migrated, err := c.logFrontier(ctx, head)
	if err != nil {
		return err
	}
	c.front = f
	if err := c.putLogCheckpoint(ctx, head, migrated); err != nil {
		return awsclient.AgentRole.Explain(err)
	}
	c.register(ctx) // the registry keeps recent heads
	return nil
}

// SetHeartbeat makes the chain's checkpoints promise a new one at least
// every d (the agent's); 0, the default, closes the stream at each seal
// (one-shot commands: nothing more is promised).
func (c *Chain) SetHeartbeat(d time.Duration) { c.heartbeat = d }

// logFrontier returns the log's frontier at head: the cached one, else
// the one the newest checkpoint records (signed by this chain's key, at
// head's size and envelope), else rebuilt from the manifests, each
// checked to link to the one before. migrated is the DSSE checkpoint of
// a stream that has no log checkpoint yet.
func (c *Chain) logFrontier(ctx context.Context, head ledger.Manifest) (*frontier, *Checkpoint, error) {
	if c.front != nil && c.front.size == head.Seq {
		return c.front, nil, nil
	}
	if head.Seq == 0 {
		return &frontier{}, nil, nil
	}
	own, err := c.ownKey()
	if err != nil {
		return nil, nil, err
	}
	key := LogCheckpointKey(c.store.prefix, c.stream)
	out, err := c.reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.store.bucket), Key: aws.String(key)})
	var migrated *Checkpoint
	switch {
	case err == nil:
		msg, rerr := io.ReadAll(io.LimitReader(out.Body, maxLogCheckpointSize))
		out.Body.Close()
		if rerr == nil {
			cp, _, oerr := openLogCheckpoint(msg, LogOrigin(c.store.bucket, c.store.prefix, c.stream), []TrustedKey{own})
			if f, ok := frontierOf(cp); oerr == nil && ok && cp.Size == head.Seq && cp.HeadSHA == head.EnvelopeSHA256 {
				return f, nil, nil
			}
		}
	case httpStatus(err) == http.StatusNotFound:
		migrated = c.legacyCheckpoint(ctx, own)
	default:
		return nil, nil, fmt.Errorf("read the checkpoint s3://%s/%s: %w", c.store.bucket, key, err)
	}
	f, err := c.rebuildFrontier(ctx, head)
	return f, migrated, err
}

// maxLogCheckpointSize bounds what is read of a log checkpoint.
const maxLogCheckpointSize = 64 << 10

// ownKey is the chain's signer as a trusted key.
func (c *Chain) ownKey() (TrustedKey, error) {
	pub, err := c.signer.PublicKey()
	if err != nil {
		return TrustedKey{}, err
	}
	return NewTrustedKey("signer", pub, time.Time{}, time.Time{})
}

// legacyCheckpoint is the stream's DSSE checkpoint, signed by own, if any.
func (c *Chain) legacyCheckpoint(ctx context.Context, own TrustedKey) *Checkpoint {
	out, err := c.reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.store.bucket), Key: aws.String(CheckpointKey(c.store.prefix, c.stream))})
	if err != nil {
		return nil
	}
	defer out.Body.Close()
	env, err := ParseEnvelope(out.Body)
	if err != nil || env.DSSE.PayloadType != CheckpointPayloadType || env.VerifyWith(own.Verifier) != nil {
		return nil
	}
	var cp Checkpoint
	if json.Unmarshal(env.Payload, &cp) != nil || cp.Stream != c.stream {
		return nil
	}
	return &cp
}

// rebuildFrontier reads manifests 1..head of the stream and hashes them
// into the log, checking that each links to the one before and that the
// last is head.
func (c *Chain) rebuildFrontier(ctx context.Context, head ledger.Manifest) (*frontier, error) {
	f := &frontier{}
	prev := ""
	for seq := int64(1); seq <= head.Seq; seq++ {
		key := ManifestKey(c.store.prefix, c.stream, seq)
		out, err := c.reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.store.bucket), Key: aws.String(key)})
		if err != nil {
			return nil, fmt.Errorf("rebuild the log of stream %s: read s3://%s/%s: %w", c.stream, c.store.bucket, key, err)
		}
		env, err := ParseEnvelope(out.Body)
		out.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("rebuild the log of stream %s: s3://%s/%s: %w", c.stream, c.store.bucket, key, err)
		}
		st, err := env.Statement()
		if err != nil || st.Predicate.PreviousSHA256 != prev {
			return nil, fmt.Errorf("rebuild the log of stream %s: s3://%s/%s does not link to manifest %d (%v): run custody verify", c.stream, c.store.bucket, key, seq-1, err)
		}
		f.append(leafHash(env.Raw))
		prev = env.SHA256
	}
	if prev != head.EnvelopeSHA256 {
		return nil, fmt.Errorf("rebuild the log of stream %s: manifest %d hashes to %s, the head is %s: run custody verify", c.stream, head.Seq, prev, head.EnvelopeSHA256)
	}
	return f, nil
}

// putLocked writes a small object (manifest, checkpoint) with the store's
// retention and a SHA-256 checksum. With exclusive, the write fails with
// ErrChainConflict if the key exists already (If-None-Match: *).
func (s *Store) putLocked(ctx context.Context, key string, body []byte, contentType string, exclusive bool) (string, error) {
	sum := sha256.Sum256(body)
	until := s.now().UTC().Add(s.retention.Period()).Truncate(time.Second).Add(time.Second)
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ContentType: aws.String(contentType), ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		ObjectLockMode: types.ObjectLockMode(s.retention.Mode), ObjectLockRetainUntilDate: aws.Time(until),
	}
	if exclusive {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := s.api.PutObject(ctx, in)
	if exclusive && (httpStatus(err) == http.StatusPreconditionFailed || httpStatus(err) == http.StatusConflict) {
		return "", fmt.Errorf("%w: s3://%s/%s exists", ErrChainConflict, s.bucket, key)
	}
	if err != nil {
		return "", fmt.Errorf("store s3://%s/%s: %w", s.bucket, key, err)
	}
	return aws.ToString(out.VersionId), nil
}
