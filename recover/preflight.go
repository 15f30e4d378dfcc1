package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/versionlist"
)

// versioningAPI is what the pre-flight asks of the bucket to recover.
type versioningAPI interface {
	GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
}

// listIndex finds preserved artifacts: the ledger is one. It returns
// every part of the newest list of kind about bucket stored at or before
// t, each with its sealed SHA-256, or nil when none was.
type listIndex interface {
	LatestBySourceBucket(ctx context.Context, kind, bucket string, t time.Time) ([]ledger.Artifact, error)
}

// objectGetter reads preserved objects from the evidence store.
type objectGetter interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var (
	_ versioningAPI = (*s3.Client)(nil)
	_ objectGetter  = (*s3.Client)(nil)
	_ listIndex     = (*ledger.Ledger)(nil)
)

// Preflight is what recover checks and finds before it plans: that the
// bucket has versions to go back to, and the version list custody
// preserved of it, if any.
type Preflight struct {
	API versioningAPI // the bucket's S3
	// Index finds preserved version lists; nil when there is no ledger,
	// and so nothing preserved.
	Index listIndex
	// Store opens the evidence store's client; it is called only once a
	// preserved list is found.
	Store func(context.Context) (objectGetter, error)
}

// NewPreflight is a Preflight over an S3 client, a ledger (nil for none)
// and the evidence store's S3 client, made when first needed.
func NewPreflight(api *s3.Client, index *ledger.Ledger, store func(context.Context) (*s3.Client, error)) Preflight {
	p := Preflight{API: api}
	if index != nil {
		p.Index = index
	}
	if store != nil {
		p.Store = func(ctx context.Context) (objectGetter, error) { return store(ctx) }
	}
	return p
}

// ErrNeverVersioned means the bucket never had versioning enabled: no
// earlier version exists to recover.
var ErrNeverVersioned = errors.New("there are no earlier versions to recover; only a replica or a backup can help")

// CheckVersioning fails unless bucket's versioning is enabled or
// suspended (then its versions from before are still there).
func (p Preflight) CheckVersioning(ctx context.Context, bucket string) error {
	ver, err := p.API.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil {
		return fmt.Errorf("read versioning of s3://%s: %w", bucket, err)
	}
	if ver.Status != types.BucketVersioningStatusEnabled && ver.Status != types.BucketVersioningStatusSuspended {
		return fmt.Errorf("s3://%s has never had versioning enabled: %w", bucket, ErrNeverVersioned)
	}
	return nil
}

// Evidence finds the newest version list of bucket that custody sealed
// at or before t and opens its parts from the evidence store, each
// checked against its sealed SHA-256 as it is read. It returns nil, and
// no error, when none was preserved.
func (p Preflight) Evidence(ctx context.Context, bucket string, t time.Time) (*Evidence, error) {
	if p.Index == nil {
		return nil, nil
	}
	arts, err := p.Index.LatestBySourceBucket(ctx, versionlist.Kind, bucket, t)
	if err != nil || len(arts) == 0 {
		return nil, err
	}
	if p.Store == nil {
		return nil, fmt.Errorf("the version list of s3://%s preserved at %s: no evidence store to read it from", bucket, arts[0].StoredAt.Format(time.RFC3339))
	}
	store, err := p.Store(ctx)
	if err != nil {
		return nil, err
	}
	ev := &Evidence{At: arts[0].StoredAt, Name: fmt.Sprintf("the version list preserved at %s (run %s)", arts[0].StoredAt.Format(time.RFC3339), arts[0].RunID)}
	for _, a := range arts {
		ev.Parts = append(ev.Parts, func(ctx context.Context) (io.ReadCloser, error) {
			out, err := store.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(a.Key), VersionId: aws.String(a.VersionID)})
			if err != nil {
				return nil, fmt.Errorf("read s3://%s/%s: %w", a.Bucket, a.Key, err)
			}
			return custody.VerifyingReader(out.Body, a.SHA256, "s3://"+a.Bucket+"/"+a.Key), nil
		})
	}
	return ev, nil
}
