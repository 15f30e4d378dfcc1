package contain

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/custody-ir/custody/internal/testaws"
)

// TestResolveAllowed against moto's IAM: a role resolves to its unique
// id with ":*" (every session of it), a user to its id; the caller is
// added, marked; an ARN with a wildcard, of an assumed-role session, of a
// role that does not exist or under another path is refused by name.
func TestResolveAllowed(t *testing.T) {
	ctx := context.Background()
	cfg := testaws.Require(t).Config(t)
	ic, sc := iam.NewFromConfig(cfg.AWS), cfg.STS()
	suffix := testaws.BucketName(t)[len(testaws.BucketName(t))-8:]
	role, err := testaws.CreateRole(ctx, ic, &iam.CreateRoleInput{RoleName: aws.String("responder-" + suffix), Path: aws.String("/ir/"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	user, err := testaws.CreateUser(ctx, ic, &iam.CreateUserInput{UserName: aws.String("analyst-" + suffix)})
	if err != nil {
		t.Fatal(err)
	}
	got, partition, err := ResolveAllowed(ctx, ic, sc, []string{aws.ToString(role.Role.Arn), aws.ToString(user.User.Arn), aws.ToString(role.Role.Arn)})
	if err != nil {
		t.Fatal(err)
	}
	if partition != "aws" {
		t.Errorf("the partition of moto's caller: %q, want aws", partition)
	}
	if len(got) != 3 || got[0].UserID != aws.ToString(role.Role.RoleId)+":*" || got[1].UserID != aws.ToString(user.User.UserId) || !got[2].Caller || got[0].Caller {
		t.Fatalf("resolved %+v", got)
	}
	me, err := sc.GetCallerIdentity(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := (FreezeStatus{Frozen: true, Allowed: []string{got[0].UserID, got[2].UserID}}); !st.Allows(aws.ToString(role.Role.RoleId)+":session-1") || !st.Allows(aws.ToString(me.UserId)) || st.Allows(aws.ToString(user.User.UserId)) {
		t.Errorf("Allows: a session of the role and the caller pass, the user (not listed) does not")
	}
	for arn, want := range map[string]string{
		"arn:aws:iam::123456789012:role/*":                       "no wildcards",
		"arn:aws:sts::123456789012:assumed-role/responder/alice": "role's ARN",
		"arn:aws:iam::123456789012:role/no-such-role":            "no-such-role",
		"arn:aws:iam::123456789012:role/responder-" + suffix:     "another account or path",
		"AROAEXAMPLE": "want the ARN",
	} {
		if _, _, err := ResolveAllowed(ctx, ic, sc, []string{arn}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--allow-role %s: %v, want an error saying %q", arn, err, want)
		}
	}
}
