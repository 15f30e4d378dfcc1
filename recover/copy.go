package recovery

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // S3's ETag and Content-MD5
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithytime "github.com/aws/smithy-go/time"

	"github.com/custody-ir/custody/internal/awsclient"
)

const (
	defaultCopyLimit = 5 << 30   // CopyObject's limit
	defaultPartSize  = 512 << 20 // UploadPartCopy parts
)

// copyBack makes the version current at T the current version again, by
// a server-side copy that keeps its metadata, Content-* headers, tags,
// storage class, SSE-KMS key and checksum algorithm, and, in an Object
// Lock bucket, its retention and legal hold.
func (ap *Applier) copyBack(ctx context.Context, bucket string, a Action) error {
	b, k := aws.String(bucket), aws.String(a.Key)
	head, err := ap.API.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k, VersionId: aws.String(a.VersionID), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return fmt.Errorf("read version %s: %w", a.VersionID, err)
	}
	if aws.ToString(head.SSECustomerAlgorithm) != "" {
		return fmt.Errorf("version %s is encrypted with a customer key (SSE-C): it cannot be copied without that key", a.VersionID)
	}
	if err := ap.restoreArchived(ctx, bucket, a, head); err != nil {
		return err
	}
	src := url.PathEscape(bucket) + "/" + escapeKey(a.Key) + "?versionId=" + url.QueryEscape(a.VersionID)
	limit := ap.CopyLimit
	if limit == 0 {
		limit = defaultCopyLimit
	}
	if aws.ToInt64(head.ContentLength) <= limit {
		in := &s3.CopyObjectInput{Bucket: b, Key: k, CopySource: aws.String(src),
			MetadataDirective: types.MetadataDirectiveCopy, TaggingDirective: types.TaggingDirectiveCopy,
			StorageClass: types.StorageClass(head.StorageClass), ChecksumAlgorithm: checksumAlgorithm(head),
			ObjectLockMode: types.ObjectLockMode(head.ObjectLockMode), ObjectLockRetainUntilDate: head.ObjectLockRetainUntilDate,
			ObjectLockLegalHoldStatus: head.ObjectLockLegalHoldStatus}
		if head.ServerSideEncryption == types.ServerSideEncryptionAwsKms {
			in.ServerSideEncryption, in.SSEKMSKeyId = head.ServerSideEncryption, head.SSEKMSKeyId
		}
		return writeOnce(ctx, "copy version "+a.VersionID+" back", func(ctx context.Context) (bool, error) { return ap.copied(ctx, bucket, a) },
			func(ctx context.Context) error {
				if _, err := ap.API.CopyObject(ctx, in, noRetry); err != nil {
					return fmt.Errorf("copy version %s back: %w", a.VersionID, err)
				}
				return nil
			})
	}
	return ap.copyInParts(ctx, bucket, a, src, head)
}

func checksumAlgorithm(h *s3.HeadObjectOutput) types.ChecksumAlgorithm {
	switch {
	case aws.ToString(h.ChecksumSHA256) != "":
		return types.ChecksumAlgorithmSha256
	case aws.ToString(h.ChecksumSHA1) != "":
		return types.ChecksumAlgorithmSha1
	case aws.ToString(h.ChecksumCRC32C) != "":
		return types.ChecksumAlgorithmCrc32c
	case aws.ToString(h.ChecksumCRC32) != "":
		return types.ChecksumAlgorithmCrc32
	}
	return ""
}

// expires is the source's Expires header as the upload takes it: the
// response's unparsed ExpiresString read as an HTTP date, the way the SDK
// read it into the deprecated Expires field (nil when it is not a date).
func expires(h *s3.HeadObjectOutput) *time.Time {
	if h.ExpiresString == nil {
		return nil
	}
	t, err := smithytime.ParseHTTPDate(*h.ExpiresString)
	if err != nil {
		return nil
	}
	return &t
}

// copyInParts copies an object larger than CopyObject allows.
func (ap *Applier) copyInParts(ctx context.Context, bucket string, a Action, src string, head *s3.HeadObjectOutput) (err error) {
	b, k := aws.String(bucket), aws.String(a.Key)
	tags, err := ap.API.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: k, VersionId: aws.String(a.VersionID)})
	if err != nil {
		return fmt.Errorf("read tags of version %s: %w", a.VersionID, err)
	}
	var tagging []string
	for _, t := range tags.TagSet {
		tagging = append(tagging, url.QueryEscape(aws.ToString(t.Key))+"="+url.QueryEscape(aws.ToString(t.Value)))
	}
	sort.Strings(tagging)
	in := &s3.CreateMultipartUploadInput{Bucket: b, Key: k, Metadata: head.Metadata,
		ContentType: head.ContentType, ContentEncoding: head.ContentEncoding, ContentDisposition: head.ContentDisposition,
		ContentLanguage: head.ContentLanguage, CacheControl: head.CacheControl, Expires: expires(head),
		// No checksum algorithm: UploadPartCopy cannot send part checksums,
		// and some servers then refuse the parts. S3 still verifies each
		// copied part against its source.
		StorageClass:   types.StorageClass(head.StorageClass),
		ObjectLockMode: types.ObjectLockMode(head.ObjectLockMode), ObjectLockRetainUntilDate: head.ObjectLockRetainUntilDate,
		ObjectLockLegalHoldStatus: head.ObjectLockLegalHoldStatus}
	if len(tagging) > 0 {
		in.Tagging = aws.String(strings.Join(tagging, "&"))
	}
	if head.ServerSideEncryption == types.ServerSideEncryptionAwsKms {
		in.ServerSideEncryption, in.SSEKMSKeyId = head.ServerSideEncryption, head.SSEKMSKeyId
	}
	up, err := ap.API.CreateMultipartUpload(ctx, in)
	if err != nil {
		return fmt.Errorf("start multipart copy of version %s: %w", a.VersionID, err)
	}
	defer func() {
		if err != nil {
			_, _ = ap.API.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: b, Key: k, UploadId: up.UploadId})
		}
	}()
	size := aws.ToInt64(head.ContentLength)
	part := ap.PartSize
	if part == 0 {
		part = defaultPartSize
	}
	var parts []types.CompletedPart
	for n, off := int32(1), int64(0); off < size; n, off = n+1, off+part {
		end := min(off+part, size) - 1
		out, err := ap.API.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: k, UploadId: up.UploadId, PartNumber: aws.Int32(n),
			CopySource: aws.String(src), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end))})
		if err != nil {
			return fmt.Errorf("copy part %d of version %s: %w", n, a.VersionID, err)
		}
		cp := types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.CopyPartResult.ETag}
		if r := out.CopyPartResult; r != nil {
			cp.ChecksumSHA256, cp.ChecksumSHA1, cp.ChecksumCRC32, cp.ChecksumCRC32C = r.ChecksumSHA256, r.ChecksumSHA1, r.ChecksumCRC32, r.ChecksumCRC32C
		}
		parts = append(parts, cp)
	}
	return writeOnce(ctx, "complete the copy of version "+a.VersionID, func(ctx context.Context) (bool, error) { return ap.copied(ctx, bucket, a) },
		func(ctx context.Context) error {
			if _, err := ap.API.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: up.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}, noRetry); err != nil {
				return fmt.Errorf("complete multipart copy of version %s: %w", a.VersionID, err)
			}
			return nil
		})
}

// replicaAPI is what reading the replica needs.
type replicaAPI interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	GetObjectTagging(context.Context, *s3.GetObjectTaggingInput, ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
}

var _ replicaAPI = (*s3.Client)(nil)

// spoolLimit is the largest replica object held in memory while it is
// copied; larger ones go through a temporary file.
const spoolLimit = 64 << 20

// replicaCopy streams a version from the replica back into the source,
// with its metadata and tags. The bytes are checked twice: their MD5
// against the replica's ETag (single-part objects) while reading, and by
// S3 against Content-MD5 on the way in.
func (ap *Applier) replicaCopy(ctx context.Context, bucket string, a Action) error {
	if ap.Replica == nil {
		return fmt.Errorf("the plan needs the replica s3://%s, but no replica client is configured", ap.ReplicaBucket)
	}
	obj, err := awsclient.GetObject(ctx, ap.Replica, &s3.GetObjectInput{Bucket: aws.String(ap.ReplicaBucket), Key: aws.String(a.Key), VersionId: aws.String(a.VersionID)})
	if err != nil {
		return fmt.Errorf("read s3://%s/%s version %s from the replica: %w", ap.ReplicaBucket, a.Key, a.VersionID, err)
	}
	defer obj.Body.Close()
	if aws.ToString(obj.SSECustomerAlgorithm) != "" {
		return fmt.Errorf("the replica's version %s is encrypted with a customer key (SSE-C): it cannot be copied without that key", a.VersionID)
	}
	size := int64(-1) // no Content-Length: of unknown size, not empty
	if obj.ContentLength != nil {
		size = *obj.ContentLength
	}
	body, sum, cleanup, err := spool(obj.Body, size)
	if err != nil {
		return fmt.Errorf("read s3://%s/%s from the replica: %w", ap.ReplicaBucket, a.Key, err)
	}
	defer cleanup()
	etag := strings.Trim(a.ETag, `"`)
	if !strings.Contains(etag, "-") && etag != "" && hex.EncodeToString(sum) != etag {
		return fmt.Errorf("the replica's bytes of %s hash to MD5 %x, its ETag says %s: refusing to restore them", a.Key, sum, etag)
	}
	tags, err := ap.Replica.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(ap.ReplicaBucket), Key: aws.String(a.Key), VersionId: aws.String(a.VersionID)})
	if err != nil {
		return fmt.Errorf("read tags of %s on the replica: %w", a.Key, err)
	}
	var tagging []string
	for _, t := range tags.TagSet {
		tagging = append(tagging, url.QueryEscape(aws.ToString(t.Key))+"="+url.QueryEscape(aws.ToString(t.Value)))
	}
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(a.Key), Body: body, ContentLength: obj.ContentLength,
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum)), Metadata: obj.Metadata,
		ContentType: obj.ContentType, ContentEncoding: obj.ContentEncoding, ContentDisposition: obj.ContentDisposition,
		ContentLanguage: obj.ContentLanguage, CacheControl: obj.CacheControl, StorageClass: types.StorageClass(obj.StorageClass)}
	if len(tagging) > 0 {
		in.Tagging = aws.String(strings.Join(tagging, "&"))
	}
	return writeOnce(ctx, "restore "+a.Key+" from the replica", func(ctx context.Context) (bool, error) { return ap.restored(ctx, bucket, a) },
		func(ctx context.Context) error {
			if _, err := body.Seek(0, io.SeekStart); err != nil {
				return err
			}
			if _, err := ap.API.PutObject(ctx, in, noRetry); err != nil {
				return fmt.Errorf("restore %s from the replica: %w", a.Key, err)
			}
			return nil
		})
}

// spool makes r, of size bytes (-1: unknown), seekable (memory up to
// spoolLimit, else a temporary file) and returns its MD5. A body longer
// than its declared size is an error, never cut to it.
func spool(r io.Reader, size int64) (io.ReadSeeker, []byte, func(), error) {
	h := md5.New() //nolint:gosec // S3's ETag and Content-MD5
	if size >= 0 && size <= spoolLimit {
		b, err := io.ReadAll(io.TeeReader(io.LimitReader(r, size+1), h))
		if err != nil {
			return nil, nil, nil, err
		}
		if int64(len(b)) > size {
			return nil, nil, nil, fmt.Errorf("more bytes than the %d its Content-Length declares", size)
		}
		return bytes.NewReader(b), h.Sum(nil), func() {}, nil
	}
	f, err := os.CreateTemp("", "recover-replica-")
	if err != nil {
		return nil, nil, nil, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	if _, err := io.Copy(f, io.TeeReader(r, h)); err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return f, h.Sum(nil), cleanup, nil
}

// ErrPending means an action waits for S3: an archived version is being
// restored. recover --resume JOB finishes it once the restore is done.
var ErrPending = errors.New("waiting for an archived version to be restored")

// restoreArchived asks S3 to restore a version in an archival storage
// class (Glacier Flexible Retrieval, Deep Archive) and returns ErrPending
// until the restored copy can be read; nil when it can be copied.
func (ap *Applier) restoreArchived(ctx context.Context, bucket string, a Action, head *s3.HeadObjectOutput) error {
	switch head.StorageClass {
	case types.StorageClassGlacier, types.StorageClassDeepArchive:
	default:
		return nil
	}
	restore := aws.ToString(head.Restore)
	switch {
	case strings.Contains(restore, `ongoing-request="false"`):
		return nil
	case strings.Contains(restore, `ongoing-request="true"`):
		return ErrPending
	}
	days := ap.RestoreDays
	if days == 0 {
		days = 7
	}
	_, err := ap.API.RestoreObject(ctx, &s3.RestoreObjectInput{Bucket: aws.String(bucket), Key: aws.String(a.Key), VersionId: aws.String(a.VersionID),
		RestoreRequest: &types.RestoreRequest{Days: aws.Int32(days), GlacierJobParameters: &types.GlacierJobParameters{Tier: types.TierStandard}}})
	if err != nil {
		return fmt.Errorf("restore archived version %s: %w", a.VersionID, err)
	}
	return ErrPending
}
