package custody

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
)

// objectWriter is what writing evidence needs. Every write carries an
// explicit retention; nothing here deletes, shortens retention or lifts a
// legal hold.
type objectWriter interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	// AbortMultipartUpload discards the parts of an upload that never
	// completed; it cannot touch a stored object.
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	// HeadObject tells whether a write whose answer was lost landed.
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

var _ objectWriter = (*s3.Client)(nil)

// Artifact is a stored object as the ledger and manifests record it.
type Artifact = ledger.Artifact

// PutOptions describe an artifact being stored.
type PutOptions struct {
	RunID         string
	Kind          string
	Account       string
	Region        string
	Source        string // where the bytes came from
	SourceVersion string // its version id or ETag there
	Case          string // a case id puts the artifact under legal hold
	ContentType   string
	// Metadata is the source object's user metadata worth keeping (a
	// CloudTrail digest's signature): stored as x-amz-meta-* on the
	// artifact and recorded, signed, in the manifest.
	Metadata map[string]string
	// keepSourceVersion stores SourceVersion on the artifact too, as
	// x-amz-meta-custody-source-version (not in Metadata, nor in the
	// manifest's metadata): set by Run.Put when the upload's intent was
	// recorded without it (Run.Intend), so that a copy whose answer is
	// lost is sealed with its source version all the same (locate).
	keepSourceVersion bool
}

// sourceVersionKey is the user metadata key under which an artifact
// keeps its source version when its intent does not (keepSourceVersion).
const sourceVersionKey = "custody-source-version"

// storedMetadata is the user metadata to store an artifact with: its
// Metadata, and its source version when o says so and it is a valid
// header value (printable ASCII: version ids and ETags are).
func storedMetadata(a Artifact, o PutOptions) map[string]string {
	if !o.keepSourceVersion || a.SourceVersion == "" || strings.IndexFunc(a.SourceVersion, func(r rune) bool { return r < ' ' || r > '~' }) >= 0 {
		return a.Metadata
	}
	m := maps.Clone(a.Metadata)
	if m == nil {
		m = map[string]string{}
	}
	m[sourceVersionKey] = a.SourceVersion
	return m
}

// fromStoredMetadata sets what an artifact's object was stored with (read
// back from the bucket) on a: its Metadata, and its source version when
// the ledger did not have it, taken out of the metadata so that the
// manifest says what it says of a copy sealed normally.
func fromStoredMetadata(a *Artifact, m map[string]string) {
	if v, ok := m[sourceVersionKey]; ok {
		if a.SourceVersion == "" {
			a.SourceVersion = v
		}
		m = maps.Clone(m)
		delete(m, sourceVersionKey)
	}
	if len(m) > 0 {
		a.Metadata = m
	}
}

const (
	// DefaultPartSize is the multipart part size: objects larger than one
	// part are uploaded in parts of this size.
	DefaultPartSize = 8 << 20
	// DefaultPartConcurrency is how many parts are in flight at once;
	// memory use is bounded by PartSize * (PartConcurrency + 1).
	DefaultPartConcurrency = 4
)

// Journal records uploads: an intent before, the stored version after.
// The ledger is one; nil keeps no record.
type Journal interface {
	AddIntent(context.Context, ledger.Artifact) error
	StoreArtifact(context.Context, ledger.Artifact) error
}

// Store writes artifacts to the evidence bucket.
type Store struct {
	api       objectWriter
	bucket    string
	prefix    string
	retention config.Retention
	now       func() time.Time

	PartSize        int64
	PartConcurrency int

	bufs   sync.Pool // *[]byte of PartSize, shared by every Put
	smalls sync.Pool // *[]byte of smallPut, the head every Put reads first
	reg    registryWriter
}

// smallPut is how much of an artifact Put reads before it takes a whole
// part buffer.
const smallPut = 256 << 10

func (s *Store) buffer() []byte {
	if b, ok := s.bufs.Get().(*[]byte); ok && int64(len(*b)) == s.PartSize {
		return *b
	}
	return make([]byte, s.PartSize)
}

// smallBuffer is a buffer of smallPut bytes (or PartSize, if less) from
// the pool: every Put reads its head into one.
func (s *Store) smallBuffer() []byte {
	size := min(smallPut, s.PartSize)
	if b, ok := s.smalls.Get().(*[]byte); ok && int64(len(*b)) == size {
		return *b
	}
	return make([]byte, size)
}

func (s *Store) releaseSmall(b []byte) { s.smalls.Put(&b) }

// release returns a part buffer to the pool. The pool holds pointers
// (staticcheck SA6002): a slice put in as an interface value is copied.
func (s *Store) release(b []byte) {
	s.bufs.Put(&b)
}

// OpenStore checks that the bucket can hold evidence (versioning and
// Object Lock enabled) and returns a Store writing to it.
func OpenStore(ctx context.Context, api interface {
	objectWriter
	bucketAPI
}, st config.Store, now func() time.Time) (*Store, error) {
	ver, err := api.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(st.Bucket)})
	if err != nil {
		return nil, fmt.Errorf("evidence bucket %s: read versioning: %w", st.Bucket, err)
	}
	lock, lerr := api.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(st.Bucket)})
	if lerr != nil && !answered(lerr) {
		return nil, fmt.Errorf("evidence bucket %s: read Object Lock configuration: %w", st.Bucket, lerr)
	}
	if ver.Status != types.BucketVersioningStatusEnabled || lerr != nil || lock.ObjectLockConfiguration == nil ||
		lock.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return nil, fmt.Errorf("evidence bucket %s: %w; refusing to write evidence there (run custody store init with a new bucket)", st.Bucket, ErrNoObjectLock)
	}
	if err := retentionFloor(st, lock.ObjectLockConfiguration.Rule); err != nil {
		return nil, err
	}
	return newStore(api, st, now), nil
}

// retentionFloor refuses a configured retention weaker than the bucket's
// default retention: the default is the policy the bucket's owner set,
// and a run configured below it (CUSTODY_STORE_RETENTION_DAYS=1, say)
// would write locks that expire before the policy says. A configuration
// problem of store.retention (exit 2), naming both.
func retentionFloor(st config.Store, rule *types.ObjectLockRule) error {
	if rule == nil || rule.DefaultRetention == nil {
		return nil
	}
	d := rule.DefaultRetention
	days := int(aws.ToInt32(d.Days))
	if y := int(aws.ToInt32(d.Years)); y > 0 {
		days = y * 365
	}
	mode := string(d.Mode)
	if lockStrength(st.Retention.Mode) >= lockStrength(mode) && st.Retention.Days >= days {
		return nil
	}
	return config.Problems{{Path: "store.retention", Message: fmt.Sprintf(
		"%s %s, the default retention of bucket %s is %s %s: refusing to write weaker locks (configure at least the bucket's, or unset CUSTODY_STORE_RETENTION_* if it overrides the file)",
		st.Retention.Mode, plural(st.Retention.Days, "day"), st.Bucket, mode, plural(days, "day"))}}
}

func plural(n int, unit string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, unit)
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func newStore(api objectWriter, st config.Store, now func() time.Time) *Store {
	return &Store{api: api, bucket: st.Bucket, prefix: st.Prefix, retention: st.Retention, now: now,
		PartSize: DefaultPartSize, PartConcurrency: DefaultPartConcurrency}
}

// Bucket is the evidence bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// Prefix is the key prefix of everything custody writes.
func (s *Store) Prefix() string { return s.prefix }

// Put streams r to key with an explicit retention (and a legal hold for a
// case), an x-amz-checksum-sha256 S3 verifies, and records it in the
// journal: first as an intent, then as stored. Objects larger than one
// part go up in parts, each with its own checksum, so memory stays
// bounded whatever the size.
func (s *Store) Put(ctx context.Context, j Journal, key string, r io.Reader, o PutOptions) (Artifact, error) {
	a := Artifact{Bucket: s.bucket, Key: key, RunID: o.RunID, Kind: o.Kind, Account: o.Account, Region: o.Region,
		Source: o.Source, SourceVersion: o.SourceVersion, Case: o.Case, LegalHold: o.Case != "", Metadata: o.Metadata}
	if j != nil {
		if err := j.AddIntent(ctx, a); err != nil {
			return a, err
		}
	}
	a.RetainUntil = s.now().UTC().Add(s.retention.Period()).Truncate(time.Second).Add(time.Second)
	hdr := putHeaders{mode: types.ObjectLockMode(s.retention.Mode), until: a.RetainUntil, hold: a.LegalHold, meta: storedMetadata(a, o)}

	// Most artifacts are small: read a small head first, and take a whole
	// part buffer only for what does not fit in it, so that many
	// concurrent small Puts do not each hold PartSize bytes.
	small := s.smallBuffer()
	head := small
	n, err := io.ReadFull(r, head)
	if err == nil && int64(n) < s.PartSize {
		first := s.buffer()
		copy(first, head)
		var m int
		m, err = io.ReadFull(r, first[n:])
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the head was read: a short part
		}
		head, n = first, n+m
	}
	pooled := int64(len(head)) == s.PartSize
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		err = s.putSingle(ctx, &a, head[:n], o.ContentType, hdr)
		if pooled {
			s.release(head)
		}
	case err != nil:
		if pooled {
			s.release(head)
		}
		s.releaseSmall(small)
		return a, fmt.Errorf("read artifact for %s: %w", key, err)
	default:
		err = s.putMultipart(ctx, &a, head, r, o.ContentType, hdr)
	}
	s.releaseSmall(small)
	if err != nil {
		return a, err
	}
	a.StoredAt = s.now().UTC()
	if j != nil {
		if err := j.StoreArtifact(ctx, a); err != nil {
			return a, err
		}
	}
	return a, nil
}

// putHeaders are the headers of an upload besides its content: Object
// Lock's, and the user metadata.
type putHeaders struct {
	mode  types.ObjectLockMode
	until time.Time
	hold  bool
	meta  map[string]string
}

func (l putHeaders) legalHold() types.ObjectLockLegalHoldStatus {
	if l.hold {
		return types.ObjectLockLegalHoldStatusOn
	}
	return ""
}

// putSingle stores body in one PUT. The key is new (it names the run), so
// the PUT is conditional (If-None-Match: *): when the SDK retries a PUT
// whose answer was lost, S3 refuses the second copy instead of adding a
// version no manifest would seal, and the version that landed is adopted
// once its checksum proves it is these bytes.
func (s *Store) putSingle(ctx context.Context, a *Artifact, body []byte, contentType string, hdr putHeaders) error {
	sum := sha256.Sum256(body)
	checksum := base64.StdEncoding.EncodeToString(sum[:])
	out, err := s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:                    aws.String(s.bucket),
		Key:                       aws.String(a.Key),
		Body:                      bytes.NewReader(body),
		ContentLength:             aws.Int64(int64(len(body))),
		ContentType:               nonEmpty(contentType),
		Metadata:                  hdr.meta,
		ChecksumSHA256:            aws.String(checksum),
		IfNoneMatch:               aws.String("*"),
		ObjectLockMode:            hdr.mode,
		ObjectLockRetainUntilDate: aws.Time(hdr.until),
		ObjectLockLegalHoldStatus: hdr.legalHold(),
	})
	version := ""
	switch st := httpStatus(err); {
	case err == nil:
		version = aws.ToString(out.VersionId)
	case st == http.StatusPreconditionFailed || st == http.StatusConflict:
		if version, err = s.landed(ctx, a.Key, checksum); err != nil {
			return err
		}
	default:
		return fmt.Errorf("store s3://%s/%s: %w", s.bucket, a.Key, err)
	}
	if version == "" {
		return fmt.Errorf("store s3://%s/%s: the bucket returned no version id (versioning is off?)", s.bucket, a.Key)
	}
	a.VersionID = version
	a.SHA256 = hex.EncodeToString(sum[:])
	a.Size = int64(len(body))
	return nil
}

// landed returns the version at key when it holds the bytes with this
// SHA-256 checksum: a write that landed though its answer was lost.
func (s *Store) landed(ctx context.Context, key, checksum string) (string, error) {
	h, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return "", fmt.Errorf("store s3://%s/%s: it exists already and cannot be read: %w", s.bucket, key, err)
	}
	if aws.ToString(h.ChecksumSHA256) != checksum {
		return "", fmt.Errorf("store s3://%s/%s: another object is already there (SHA-256 %s, ours %s); it was not overwritten: find who wrote it",
			s.bucket, key, aws.ToString(h.ChecksumSHA256), checksum)
	}
	return aws.ToString(h.VersionId), nil
}

// putMultipart uploads first (a full part) and the rest of r in parts;
// it takes ownership of first.
func (s *Store) putMultipart(ctx context.Context, a *Artifact, first []byte, r io.Reader, contentType string, hdr putHeaders) (err error) {
	created, err := s.api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:                    aws.String(s.bucket),
		Key:                       aws.String(a.Key),
		ContentType:               nonEmpty(contentType),
		Metadata:                  hdr.meta,
		ChecksumAlgorithm:         types.ChecksumAlgorithmSha256,
		ObjectLockMode:            hdr.mode,
		ObjectLockRetainUntilDate: aws.Time(hdr.until),
		ObjectLockLegalHoldStatus: hdr.legalHold(),
	})
	if err != nil {
		return fmt.Errorf("start multipart upload of s3://%s/%s: %w", s.bucket, a.Key, err)
	}
	uploadID := created.UploadId
	defer func() {
		if err != nil {
			// A half-written upload leaves no object; drop its parts.
			_, _ = s.api.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(a.Key), UploadId: uploadID})
		}
	}()

	whole := sha256.New()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.PartConcurrency)
	var mu sync.Mutex
	var parts []types.CompletedPart
	var size int64
	for num := int32(1); ; num++ {
		var buf []byte
		var n int
		var rerr error
		if num == 1 {
			buf, n = first, len(first)
		} else {
			buf = s.buffer()
			n, rerr = io.ReadFull(r, buf)
		}
		if n == 0 {
			s.release(buf)
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				err = errors.Join(fmt.Errorf("read artifact for %s: %w", a.Key, rerr), g.Wait())
				return err
			}
		}
		part := buf[:n]
		whole.Write(part)
		size += int64(n)
		sum := sha256.Sum256(part)
		checksum := base64.StdEncoding.EncodeToString(sum[:])
		partNum := num
		g.Go(func() error {
			defer s.release(buf)
			out, err := s.api.UploadPart(gctx, &s3.UploadPartInput{
				Bucket: aws.String(s.bucket), Key: aws.String(a.Key), UploadId: uploadID,
				PartNumber: aws.Int32(partNum), Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
				ChecksumSHA256: aws.String(checksum),
			})
			if err != nil {
				return fmt.Errorf("upload part %d of s3://%s/%s: %w", partNum, s.bucket, a.Key, err)
			}
			mu.Lock()
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(partNum), ETag: out.ETag, ChecksumSHA256: aws.String(checksum)})
			mu.Unlock()
			return nil
		})
		if rerr != nil { // a short last part
			if !errors.Is(rerr, io.ErrUnexpectedEOF) {
				return errors.Join(fmt.Errorf("read artifact for %s: %w", a.Key, rerr), g.Wait())
			}
			break
		}
		if gctx.Err() != nil {
			break
		}
	}
	if err = g.Wait(); err != nil {
		return err
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	sortParts(parts)
	done, err := s.api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(a.Key), UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return fmt.Errorf("complete multipart upload of s3://%s/%s: %w", s.bucket, a.Key, err)
	}
	if aws.ToString(done.VersionId) == "" {
		return fmt.Errorf("store s3://%s/%s: the bucket returned no version id (versioning is off?)", s.bucket, a.Key)
	}
	a.VersionID = aws.ToString(done.VersionId)
	a.SHA256 = hex.EncodeToString(whole.Sum(nil))
	a.Size = size
	a.PartSize = s.PartSize
	return nil
}

func sortParts(p []types.CompletedPart) {
	sort.Slice(p, func(i, j int) bool { return aws.ToInt32(p[i].PartNumber) < aws.ToInt32(p[j].PartNumber) })
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// CompositeSHA256 computes S3's checksum of a multipart object: the
// SHA-256 of the parts' SHA-256 digests, "-" and the number of parts. The
// hasher returned takes the object's bytes in order.
type CompositeSHA256 struct {
	partSize int64
	inPart   int64
	part     hash.Hash
	outer    hash.Hash
	parts    int
}

// NewCompositeSHA256 returns a composite hasher for partSize.
func NewCompositeSHA256(partSize int64) *CompositeSHA256 {
	return &CompositeSHA256{partSize: partSize, part: sha256.New(), outer: sha256.New()}
}

func (c *CompositeSHA256) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := c.partSize - c.inPart
		chunk := p
		if int64(len(chunk)) > room {
			chunk = chunk[:room]
		}
		c.part.Write(chunk)
		c.inPart += int64(len(chunk))
		p = p[len(chunk):]
		if c.inPart == c.partSize {
			c.endPart()
		}
	}
	return n, nil
}

func (c *CompositeSHA256) endPart() {
	c.outer.Write(c.part.Sum(nil))
	c.part.Reset()
	c.inPart = 0
	c.parts++
}

// Sum returns the checksum as S3 prints it: base64 digest "-" parts.
func (c *CompositeSHA256) Sum() string {
	if c.inPart > 0 {
		c.endPart()
	}
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(c.outer.Sum(nil)), c.parts)
}

// VerifyingReader passes r through and fails at its end if the bytes do not
// hash to wantSHA256 (hex): a reader of sealed evidence that cannot be fed
// altered bytes unnoticed.
func VerifyingReader(r io.ReadCloser, wantSHA256, name string) io.ReadCloser {
	return &verifyingReader{r: r, h: sha256.New(), want: wantSHA256, name: name}
}

type verifyingReader struct {
	r    io.ReadCloser
	h    hash.Hash
	want string
	name string
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, fmt.Errorf("%s hashes to %s, sealed as %s: run custody verify", v.name, got, v.want)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.r.Close() }
