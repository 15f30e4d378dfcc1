package contain

import (
	"context"
	"fmt"
	"regexp"
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
	// Frozen: the policy holds freeze's own deny statement, exactly (as
	// FreezeStatement writes it for this bucket and these patterns).
	Frozen bool
	// LookAlike: the policy has a statement named FreezeSid that is not
	// freeze's own (narrowed, widened, a wildcard among the patterns, an
	// extra condition): it does not freeze the bucket, and must not pass
	// for a freeze.
	LookAlike bool
	// Allowed are the aws:userid patterns the freeze lets through.
	Allowed []string
}

// allowedPattern is an aws:userid pattern a freeze writes: a unique id
// (AIDA..., or a root's account id), a role's unique id (AROA...) with
// ":*" (every session of the role), or a federated user's exact
// "ACCOUNT:name" (never "ACCOUNT:*": that is every federated user of the
// account). No other wildcard.
var allowedPattern = regexp.MustCompile(`^[A-Za-z0-9]{8,128}$|^AROA[A-Z0-9]{4,124}:\*$|^\d{12}:[\w+=,.@-]{2,64}$`)

// ReadFreeze reads whether the bucket carries a freeze's deny statement,
// and whom it allows. A statement with freeze's Sid counts only when it
// is exactly the statement freeze writes for the patterns it lists, with
// the bucket's ARNs in partition (the caller's, CallerPartition): a
// look-alike (another Effect, fewer actions or resources, another bucket
// or partition, an extra condition, a wildcard pattern) is reported as
// such, not as a freeze.
func ReadFreeze(ctx context.Context, api PolicyAPI, partition, bucket string) (FreezeStatus, error) {
	if !partitionRE.MatchString(partition) {
		return FreezeStatus{}, fmt.Errorf("bucket %s: cannot tell whether it is frozen: the caller's AWS partition is unknown (%q)", bucket, partition)
	}
	d, err := bucketPolicy(ctx, api, bucket)
	if err != nil {
		return FreezeStatus{}, err
	}
	var res FreezeStatus
	for _, st := range d.statements() {
		if sid(st) != FreezeSid {
			continue
		}
		ids, ok := freezePatterns(st)
		if ok {
			allowed := make([]Allowed, len(ids))
			for i, id := range ids {
				allowed[i] = Allowed{UserID: id}
			}
			ok = sameStatement(st, FreezeStatement(partition, bucket, allowed))
		}
		if !ok {
			res.LookAlike = true
			continue
		}
		res.Frozen, res.Allowed = true, ids
	}
	return res, nil
}

// bucketPolicy reads the bucket's policy (none: no statements).
func bucketPolicy(ctx context.Context, api PolicyAPI, bucket string) (policyDoc, error) {
	out, err := api.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	if code(err) == "NoSuchBucketPolicy" {
		return policyDoc{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the policy of bucket %s: %w", bucket, err)
	}
	d, err := parseBucketPolicy(aws.ToString(out.Policy))
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return d, nil
}

// HasFreezeStatement reports whether the bucket's policy has a statement named
// FreezeSid: freeze's own or a look-alike, in any partition.
func HasFreezeStatement(ctx context.Context, api PolicyAPI, bucket string) (bool, error) {
	d, err := bucketPolicy(ctx, api, bucket)
	if err != nil {
		return false, err
	}
	for _, st := range d.statements() {
		if sid(st) == FreezeSid {
			return true, nil
		}
	}
	return false, nil
}

// freezePatterns are the aws:userid patterns of a statement written the
// way freeze writes them; ok is false when any is not a pattern freeze
// writes.
func freezePatterns(st any) ([]string, bool) {
	m, _ := st.(map[string]any)
	cond, _ := m["Condition"].(map[string]any)
	like, _ := cond["StringNotLike"].(map[string]any)
	var ids []string
	switch t := like["aws:userid"].(type) {
	case string:
		ids = append(ids, t)
	case []any:
		for _, x := range t {
			s, ok := x.(string)
			if !ok {
				return nil, false
			}
			ids = append(ids, s)
		}
	}
	if len(ids) == 0 {
		return nil, false
	}
	for _, id := range ids {
		if !allowedPattern.MatchString(id) {
			return nil, false
		}
	}
	return ids, true
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

// Partition is the AWS partition of whoever runs with caller's
// credentials (CallerPartition of sts:GetCallerIdentity's ARN): what
// ReadFreeze needs.
func Partition(ctx context.Context, caller CallerAPI) (string, error) {
	me, err := caller.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("who is running (sts:GetCallerIdentity): %w", err)
	}
	return CallerPartition(aws.ToString(me.Arn))
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
