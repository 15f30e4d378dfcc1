package contain

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// PolicyAPI reads a bucket policy.
type PolicyAPI interface {
	GetBucketPolicy(context.Context, *s3.GetBucketPolicyInput, ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error)
}

// FreezeStatus is what a bucket's policy says of a freeze.
type FreezeStatus struct {
	Frozen bool
	// Allowed are the aws:userid patterns the freeze lets through.
	Allowed []string
}

// ReadFreeze reads whether the bucket carries a freeze's deny statement,
// and whom it allows.
func ReadFreeze(ctx context.Context, api PolicyAPI, bucket string) (FreezeStatus, error) {
	out, err := api.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	if code(err) == "NoSuchBucketPolicy" {
		return FreezeStatus{}, nil
	}
	if err != nil {
		return FreezeStatus{}, fmt.Errorf("read the policy of bucket %s: %w", bucket, err)
	}
	d, err := parseBucketPolicy(aws.ToString(out.Policy))
	if err != nil {
		return FreezeStatus{}, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	for _, st := range d.statements() {
		if sid(st) != FreezeSid {
			continue
		}
		m, _ := st.(map[string]any)
		cond, _ := m["Condition"].(map[string]any)
		like, _ := cond["StringNotLike"].(map[string]any)
		var ids []string
		for k, v := range like {
			if strings.EqualFold(k, "aws:userid") {
				switch t := v.(type) {
				case string:
					ids = append(ids, t)
				case []any:
					for _, x := range t {
						if s, ok := x.(string); ok {
							ids = append(ids, s)
						}
					}
				}
			}
		}
		return FreezeStatus{Frozen: true, Allowed: ids}, nil
	}
	return FreezeStatus{}, nil
}

// Allows reports whether the freeze lets the caller with this unique id
// (sts:GetCallerIdentity's UserId: AIDA..., or AROA...:session) through.
func (s FreezeStatus) Allows(userID string) bool {
	for _, p := range s.Allowed {
		if p == userID || strings.HasSuffix(p, ":*") && strings.HasPrefix(userID, strings.TrimSuffix(p, "*")) {
			return true
		}
	}
	return false
}

// CheckCaller says whether whoever runs with caller's credentials may
// write to the bucket under its freeze: nil when the bucket is not frozen
// or the caller is allowed.
func CheckCaller(ctx context.Context, s FreezeStatus, caller CallerAPI, bucket string) (string, error) {
	if !s.Frozen {
		return "", nil
	}
	me, err := caller.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("bucket %s is frozen; who is running (sts:GetCallerIdentity): %w", bucket, err)
	}
	if !s.Allows(aws.ToString(me.UserId)) {
		return aws.ToString(me.Arn), fmt.Errorf("bucket %s is frozen (custody freeze) and this runs as %s, which the freeze does not allow (it allows %s): its writes would be denied; run under one of the allowed roles", bucket, aws.ToString(me.Arn), strings.Join(s.Allowed, ", "))
	}
	return aws.ToString(me.Arn), nil
}
