package testaws

import (
	"context"
	"errors"
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

func (retriedIAM) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	return &iam.GetRoleOutput{Role: &iamtypes.Role{RoleName: in.RoleName, Path: aws.String("/ir/"), RoleId: aws.String("AROAEXAMPLE")}}, nil
}

// A create retried after its answer was lost finds its own entity: the
// role is returned; one of another path is still an error.
func TestCreateRoleRetried(t *testing.T) {
	out, err := CreateRole(context.Background(), retriedIAM{}, &iam.CreateRoleInput{RoleName: aws.String("r"), Path: aws.String("/ir/")})
	if err != nil || aws.ToString(out.Role.RoleId) != "AROAEXAMPLE" {
		t.Fatalf("retried create: %+v, %v", out, err)
	}
	_, err = CreateRole(context.Background(), retriedIAM{}, &iam.CreateRoleInput{RoleName: aws.String("r"), Path: aws.String("/other/")})
	var exists *iamtypes.EntityAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("a role of another path: %v, want the create's error", err)
	}
}
