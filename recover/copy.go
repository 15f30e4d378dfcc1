package recovery

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
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
		if _, err := ap.API.CopyObject(ctx, in); err != nil {
			return fmt.Errorf("copy version %s back: %w", a.VersionID, err)
		}
		return nil
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
		ContentLanguage: head.ContentLanguage, CacheControl: head.CacheControl, Expires: head.Expires,
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
	if _, err = ap.API.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		return fmt.Errorf("complete multipart copy of version %s: %w", a.VersionID, err)
	}
	return nil
}
