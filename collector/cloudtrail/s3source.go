package cloudtrail

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/custody-ir/custody/internal/awsclient"
)

// bucketAPI is what reading a trail's bucket needs.
type bucketAPI interface {
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ bucketAPI = (*s3.Client)(nil)

// BucketSource reads a trail's files from a bucket that holds them at
// their original keys: the trail's own bucket, or a copy of it.
type BucketSource struct {
	API    bucketAPI
	Bucket string
}

// List lists every key under prefix.
func (b BucketSource) List(ctx context.Context, prefix string, fn func(string) error) error {
	p := s3.NewListObjectsV2Paginator(b.API, &s3.ListObjectsV2Input{Bucket: aws.String(b.Bucket), Prefix: aws.String(prefix)})
	token := ""
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", b.Bucket, prefix, err)
		}
		if err := awsclient.ObjectsAdvance(&token, page); err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", b.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(aws.ToString(o.Key)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Get returns an object and its user metadata.
func (b BucketSource) Get(ctx context.Context, key string) (io.ReadCloser, map[string]string, error) {
	out, err := awsclient.GetObject(ctx, b.API, &s3.GetObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(key)})
	var nsk *types.NoSuchKey
	var re *smithyhttp.ResponseError
	if errors.As(err, &nsk) || (errors.As(err, &re) && re.HTTPStatusCode() == 404) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	return out.Body, out.Metadata, nil
}
