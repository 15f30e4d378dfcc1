package contain

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// BucketAPI is every call freeze and unfreeze make on the bucket they
// contain, reads and writes.
type BucketAPI interface {
	GetBucketPolicy(context.Context, *s3.GetBucketPolicyInput, ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error)
	PutBucketPolicy(context.Context, *s3.PutBucketPolicyInput, ...func(*s3.Options)) (*s3.PutBucketPolicyOutput, error)
	DeleteBucketPolicy(context.Context, *s3.DeleteBucketPolicyInput, ...func(*s3.Options)) (*s3.DeleteBucketPolicyOutput, error)
	GetPublicAccessBlock(context.Context, *s3.GetPublicAccessBlockInput, ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error)
	PutPublicAccessBlock(context.Context, *s3.PutPublicAccessBlockInput, ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error)
	DeletePublicAccessBlock(context.Context, *s3.DeletePublicAccessBlockInput, ...func(*s3.Options)) (*s3.DeletePublicAccessBlockOutput, error)
	GetBucketLifecycleConfiguration(context.Context, *s3.GetBucketLifecycleConfigurationInput, ...func(*s3.Options)) (*s3.GetBucketLifecycleConfigurationOutput, error)
	PutBucketLifecycleConfiguration(context.Context, *s3.PutBucketLifecycleConfigurationInput, ...func(*s3.Options)) (*s3.PutBucketLifecycleConfigurationOutput, error)
	DeleteBucketLifecycle(context.Context, *s3.DeleteBucketLifecycleInput, ...func(*s3.Options)) (*s3.DeleteBucketLifecycleOutput, error)
	GetObjectLockConfiguration(context.Context, *s3.GetObjectLockConfigurationInput, ...func(*s3.Options)) (*s3.GetObjectLockConfigurationOutput, error)
	GetObjectLegalHold(context.Context, *s3.GetObjectLegalHoldInput, ...func(*s3.Options)) (*s3.GetObjectLegalHoldOutput, error)
	PutObjectLegalHold(context.Context, *s3.PutObjectLegalHoldInput, ...func(*s3.Options)) (*s3.PutObjectLegalHoldOutput, error)
}

var _ BucketAPI = (*s3.Client)(nil)

// Settings are the bucket settings freeze changes, as S3 answered for
// them: what is sealed as the before-state and put back by unfreeze.
type Settings struct {
	// Policy is the bucket policy as S3 returned it; empty: none.
	Policy string `json:"policy,omitempty"`
	// PublicAccessBlock is the bucket's block; nil: none.
	PublicAccessBlock *s3types.PublicAccessBlockConfiguration `json:"publicAccessBlock,omitempty"`
	// PublicAccessBlockUnsupported: the S3 server does not implement it
	// (MinIO); freeze leaves it alone and says so.
	PublicAccessBlockUnsupported bool `json:"publicAccessBlockUnsupported,omitempty"`
	// Lifecycle are the lifecycle rules; nil: no configuration.
	Lifecycle []s3types.LifecycleRule `json:"lifecycle,omitempty"`
	// LifecycleTransitionDefault is the configuration's
	// TransitionDefaultMinimumObjectSize, put back with its rules (S3
	// would otherwise reset it to its default).
	LifecycleTransitionDefault s3types.TransitionDefaultMinimumObjectSize `json:"lifecycleTransitionDefault,omitempty"`
}

// readSettings reads the settings freeze changes.
func readSettings(ctx context.Context, api BucketAPI, bucket string) (Settings, error) {
	var s Settings
	b := aws.String(bucket)
	pol, err := api.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})
	switch {
	case err == nil:
		s.Policy = aws.ToString(pol.Policy)
	case code(err) != "NoSuchBucketPolicy":
		return s, fmt.Errorf("read the policy of bucket %s: %w", bucket, err)
	}
	pab, err := api.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b})
	switch {
	case err == nil:
		s.PublicAccessBlock = pab.PublicAccessBlockConfiguration
	case unsupported(err):
		s.PublicAccessBlockUnsupported = true
	case code(err) != "NoSuchPublicAccessBlockConfiguration":
		return s, fmt.Errorf("read the public access block of bucket %s: %w", bucket, err)
	}
	lc, err := api.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: b})
	switch {
	case err == nil:
		s.Lifecycle, s.LifecycleTransitionDefault = lc.Rules, lc.TransitionDefaultMinimumObjectSize
		if s.Lifecycle == nil {
			s.Lifecycle = []s3types.LifecycleRule{}
		}
	case code(err) != "NoSuchLifecycleConfiguration":
		return s, fmt.Errorf("read the lifecycle configuration of bucket %s: %w", bucket, err)
	}
	return s, nil
}

// blockAll is the public access block freeze turns on.
func blockAll() *s3types.PublicAccessBlockConfiguration {
	t := aws.Bool(true)
	return &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: t, BlockPublicPolicy: t, IgnorePublicAcls: t, RestrictPublicBuckets: t}
}

func samePAB(a, b *s3types.PublicAccessBlockConfiguration) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return aws.ToBool(a.BlockPublicAcls) == aws.ToBool(b.BlockPublicAcls) &&
		aws.ToBool(a.BlockPublicPolicy) == aws.ToBool(b.BlockPublicPolicy) &&
		aws.ToBool(a.IgnorePublicAcls) == aws.ToBool(b.IgnorePublicAcls) &&
		aws.ToBool(a.RestrictPublicBuckets) == aws.ToBool(b.RestrictPublicBuckets)
}

// removesVersions reports whether a lifecycle rule, while enabled, can
// expire, transition or clean up versions or delete markers: the rules
// that would race an examination or a restore.
func removesVersions(r s3types.LifecycleRule) bool {
	return r.Expiration != nil || r.NoncurrentVersionExpiration != nil ||
		len(r.Transitions) > 0 || len(r.NoncurrentVersionTransitions) > 0
}

// suspended are the rules with every enabled rule that removes versions
// disabled, and the ids of those it disabled.
func suspended(rules []s3types.LifecycleRule) ([]s3types.LifecycleRule, []string) {
	if rules == nil {
		return nil, nil
	}
	out := make([]s3types.LifecycleRule, len(rules))
	var ids []string
	for i, r := range rules {
		if r.Status == s3types.ExpirationStatusEnabled && removesVersions(r) {
			r.Status = s3types.ExpirationStatusDisabled
			ids = append(ids, aws.ToString(r.ID))
		}
		out[i] = r
	}
	return out, ids
}

// sameRules compares lifecycle rules by their JSON form.
func sameRules(a, b []s3types.LifecycleRule) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	return canonical(a) == canonical(b)
}

func putPolicy(ctx context.Context, api BucketAPI, bucket, policy string) error {
	var err error
	if policy == "" {
		_, err = api.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(bucket)})
	} else {
		_, err = api.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(policy)})
	}
	return err
}

func putPAB(ctx context.Context, api BucketAPI, bucket string, c *s3types.PublicAccessBlockConfiguration) error {
	var err error
	if c == nil {
		_, err = api.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String(bucket)})
	} else {
		_, err = api.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(bucket), PublicAccessBlockConfiguration: c})
	}
	return err
}

func putLifecycle(ctx context.Context, api BucketAPI, bucket string, rules []s3types.LifecycleRule, transitionDefault s3types.TransitionDefaultMinimumObjectSize) error {
	var err error
	if len(rules) == 0 {
		_, err = api.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: aws.String(bucket)})
	} else {
		_, err = api.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(bucket),
			LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: rules}, TransitionDefaultMinimumObjectSize: transitionDefault})
	}
	return err
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// unsupported reports an S3 server that does not implement a call.
func unsupported(err error) bool {
	var re *smithyhttp.ResponseError
	c := code(err)
	return c == "NotImplemented" || c == "XNotImplemented" || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotImplemented)
}
