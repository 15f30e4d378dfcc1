package contain

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// IdentityAPI looks up the unique ids of the principals a freeze allows.
type IdentityAPI interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	GetUser(context.Context, *iam.GetUserInput, ...func(*iam.Options)) (*iam.GetUserOutput, error)
}

// CallerAPI says who is running.
type CallerAPI interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

var (
	_ IdentityAPI = (*iam.Client)(nil)
	_ CallerAPI   = (*sts.Client)(nil)
)

// principalARN is an IAM role or user ARN: arn:PARTITION:iam::ACCOUNT:role/PATH/NAME.
var principalARN = regexp.MustCompile(`^arn:(` + partitionExpr + `):iam::(\d{12}):(role|user)/([\w+=,.@/-]*/)?([\w+=,.@-]{1,128})$`)

// uniqueID is an IAM unique id: letters and digits only, so that no id
// IAM hands back can put a wildcard into the deny statement's condition.
var uniqueID = regexp.MustCompile(`^[A-Za-z0-9]{8,128}$`)

// ResolveAllowed turns the ARNs a responder allows into the unique ids the
// deny statement matches, checking each exists as named; the caller is
// added (marked) unless already allowed, so that it can unfreeze. It
// returns the caller's partition too (FreezeOptions.Partition): an ARN of
// another partition is refused, since IAM would look up a namesake in the
// caller's.
func ResolveAllowed(ctx context.Context, ids IdentityAPI, caller CallerAPI, arns []string) (out []Allowed, partition string, err error) {
	me, err := caller.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, "", fmt.Errorf("who is running the freeze (sts:GetCallerIdentity): %w", err)
	}
	if partition, err = CallerPartition(aws.ToString(me.Arn)); err != nil {
		return nil, "", err
	}
	seen := map[string]bool{}
	for _, a := range arns {
		m := principalARN.FindStringSubmatch(a)
		if m == nil {
			return nil, "", fmt.Errorf("--allow-role %q: want the ARN of an IAM role or user (arn:%s:iam::111122223333:role/NAME), no wildcards; for a role session give its role's ARN", a, partition)
		}
		if m[1] != partition {
			return nil, "", fmt.Errorf("--allow-role %s is in partition %s, but the freeze runs as %s, of partition %s: give the ARN of a role or user of partition %s (the bucket's)", a, m[1], aws.ToString(me.Arn), partition, partition)
		}
		var arn, id string
		switch m[3] {
		case "role":
			r, err := ids.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(m[5])})
			if err != nil {
				return nil, "", fmt.Errorf("--allow-role %s: look up the role: %w", a, err)
			}
			arn, id = aws.ToString(r.Role.Arn), aws.ToString(r.Role.RoleId)+":*"
		case "user":
			u, err := ids.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(m[5])})
			if err != nil {
				return nil, "", fmt.Errorf("--allow-role %s: look up the user: %w", a, err)
			}
			arn, id = aws.ToString(u.User.Arn), aws.ToString(u.User.UserId)
		}
		if arn != a {
			return nil, "", fmt.Errorf("--allow-role %s: IAM knows it as %s (another account or path): give that ARN", a, arn)
		}
		if !uniqueID.MatchString(strings.TrimSuffix(id, ":*")) || !allowedPattern.MatchString(id) {
			return nil, "", fmt.Errorf("--allow-role %s: IAM gave it the unexpected unique id %q", a, id)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, Allowed{ARN: arn, UserID: id})
		}
	}
	id, err := callerPattern(aws.ToString(me.UserId))
	if err != nil {
		return nil, "", fmt.Errorf("who is running the freeze (sts:GetCallerIdentity, %s): %w", aws.ToString(me.Arn), err)
	}
	if !seen[id] {
		out = append(out, Allowed{ARN: aws.ToString(me.Arn), UserID: id, Caller: true})
	}
	return out, partition, nil
}

// callerPattern is the aws:userid pattern that lets the caller (its
// sts:GetCallerIdentity UserId) through: a role session's "AROA...:NAME"
// becomes "AROA...:*" (every session of the role, so that another session
// can unfreeze); a user's or root's id, and a federated user's
// "ACCOUNT:NAME", stay exact ("ACCOUNT:*" would let every federated user
// of the account through). An id with anything else (a wildcard in the
// answer) is refused.
func callerPattern(userID string) (string, error) {
	p := userID
	if role, _, ok := strings.Cut(userID, ":"); ok && strings.HasPrefix(role, "AROA") {
		p = role + ":*"
	}
	if !allowedPattern.MatchString(p) {
		return "", fmt.Errorf("unexpected unique id %q: run the freeze as an IAM role or user", userID)
	}
	return p, nil
}
