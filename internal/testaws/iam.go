package testaws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// IAMCreator is the part of the IAM client CreateRole and CreateUser use.
type IAMCreator interface {
	CreateRole(context.Context, *iam.CreateRoleInput, ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	CreateUser(context.Context, *iam.CreateUserInput, ...func(*iam.Options)) (*iam.CreateUserOutput, error)
	GetUser(context.Context, *iam.GetUserInput, ...func(*iam.Options)) (*iam.GetUserOutput, error)
}

// CreateRole is IAM's CreateRole for tests, whose role names are their
// own: a role that already exists with the path and trust policy asked
// for is the one an earlier attempt of this call created (on a loaded
// machine the SDK may retry a create whose answer was lost), and is
// returned; one that differs is the create's error.
func CreateRole(ctx context.Context, api IAMCreator, in *iam.CreateRoleInput) (*iam.CreateRoleOutput, error) {
	out, err := api.CreateRole(ctx, in)
	if !alreadyExists(err) {
		return out, err
	}
	got, gerr := api.GetRole(ctx, &iam.GetRoleInput{RoleName: in.RoleName})
	if gerr != nil {
		return nil, errors.Join(err, gerr)
	}
	if want := aws.ToString(in.Path); want != "" && aws.ToString(got.Role.Path) != want {
		return nil, fmt.Errorf("%w (and it has path %s, not %s)", err, aws.ToString(got.Role.Path), want)
	}
	if !sameJSON(aws.ToString(got.Role.AssumeRolePolicyDocument), aws.ToString(in.AssumeRolePolicyDocument)) {
		return nil, fmt.Errorf("%w (and its trust policy is not the one asked for)", err)
	}
	return &iam.CreateRoleOutput{Role: got.Role}, nil
}

// CreateUser is CreateRole's counterpart for users.
func CreateUser(ctx context.Context, api IAMCreator, in *iam.CreateUserInput) (*iam.CreateUserOutput, error) {
	out, err := api.CreateUser(ctx, in)
	if !alreadyExists(err) {
		return out, err
	}
	got, gerr := api.GetUser(ctx, &iam.GetUserInput{UserName: in.UserName})
	if gerr != nil {
		return nil, errors.Join(err, gerr)
	}
	if want := aws.ToString(in.Path); want != "" && aws.ToString(got.User.Path) != want {
		return nil, fmt.Errorf("%w (and it has path %s, not %s)", err, aws.ToString(got.User.Path), want)
	}
	return &iam.CreateUserOutput{User: got.User}, nil
}

// sameJSON reports whether two policy documents (IAM returns them
// URL-encoded) say the same, whitespace aside.
func sameJSON(got, want string) bool {
	if u, err := url.QueryUnescape(got); err == nil {
		got = u
	}
	var g, w any
	if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return got == want
	}
	return reflect.DeepEqual(g, w)
}

func alreadyExists(err error) bool {
	var e *iamtypes.EntityAlreadyExistsException
	return errors.As(err, &e)
}
