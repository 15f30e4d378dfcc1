package testaws

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// retriedIAM answers every create as a retried one would: the entity
// exists (with path /ir/).
type retriedIAM struct{ IAMCreator }

func (retriedIAM) CreateRole(context.Context, *iam.CreateRoleInput, ...func(*iam.Options)) (*iam.CreateRoleOutput, error) {
	return nil, &iamtypes.EntityAlreadyExistsException{Message: aws.String("Role with name r already exists.")}
}

const trust = `{"Version":"2012-10-17","Statement":[]}`

func (retriedIAM) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	return &iam.GetRoleOutput{Role: &iamtypes.Role{RoleName: in.RoleName, Path: aws.String("/ir/"), RoleId: aws.String("AROAEXAMPLE"),
		AssumeRolePolicyDocument: aws.String(url.QueryEscape(trust))}}, nil
}

func (retriedIAM) CreateUser(context.Context, *iam.CreateUserInput, ...func(*iam.Options)) (*iam.CreateUserOutput, error) {
	return nil, &iamtypes.EntityAlreadyExistsException{Message: aws.String("User with name u already exists.")}
}

func (retriedIAM) GetUser(_ context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	return &iam.GetUserOutput{User: &iamtypes.User{UserName: in.UserName, Path: aws.String("/"), UserId: aws.String("AIDAEXAMPLE")}}, nil
}

// A create retried after its answer was lost finds its own entity: the
// role or user is returned; one of another path or trust policy is still
// an error.
func TestCreateRoleRetried(t *testing.T) {
	ctx := context.Background()
	out, err := CreateRole(ctx, retriedIAM{}, &iam.CreateRoleInput{RoleName: aws.String("r"), Path: aws.String("/ir/"), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil || aws.ToString(out.Role.RoleId) != "AROAEXAMPLE" {
		t.Fatalf("retried create: %+v, %v", out, err)
	}
	var exists *iamtypes.EntityAlreadyExistsException
	for name, in := range map[string]*iam.CreateRoleInput{
		"another path":         {RoleName: aws.String("r"), Path: aws.String("/other/"), AssumeRolePolicyDocument: aws.String(trust)},
		"another trust policy": {RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}`)},
	} {
		if _, err := CreateRole(ctx, retriedIAM{}, in); !errors.As(err, &exists) {
			t.Errorf("a role of %s: %v, want the create's error", name, err)
		}
	}
	u, err := CreateUser(ctx, retriedIAM{}, &iam.CreateUserInput{UserName: aws.String("u")})
	if err != nil || aws.ToString(u.User.UserId) != "AIDAEXAMPLE" {
		t.Fatalf("retried user create: %+v, %v", u, err)
	}
	if _, err := CreateUser(ctx, retriedIAM{}, &iam.CreateUserInput{UserName: aws.String("u"), Path: aws.String("/ir/")}); !errors.As(err, &exists) {
		t.Errorf("a user of another path: %v, want the create's error", err)
	}
}
