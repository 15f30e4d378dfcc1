package custody_test

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/custody-ir/custody/internal/awsclient"
)

// containJobs: custody contain key deactivates a user's key and custody
// contain role revokes a role's sessions, in the member account's moto,
// sealing into the evidence bucket as the writer. Every ContainKey grant
// of contain-policy.json is exercised by one of them.
func (f *callsFixture) containJobs() {
	t := f.t
	ctx := context.Background()
	setup, err := awsclient.Load(ctx, awsclient.Options{Region: callsRegion, Endpoint: f.motoEndpoint,
		Credentials: credentials.NewStaticCredentialsProvider("calls", "calls", "")})
	if err != nil {
		t.Fatal(err)
	}
	ic := iam.NewFromConfig(setup.AWS)
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("calls-compromised")}); err != nil {
		t.Fatal(err)
	}
	k, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("calls-compromised")})
	if err != nil {
		t.Fatal(err)
	}
	role, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("calls-app"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	f.values["CONTAIN_ROLE_NAME"] = []string{"custody-contain"}
	cfg := []string{"CUSTODY_CONFIG=" + filepath.Join(f.dir, "custody.yaml")}
	out, code := f.run(f.newJob("contain key", "writer", "contain"), cfg, f.custody, "contain", "key", "--access-key", aws.ToString(k.AccessKey.AccessKeyId), "--case", "IR-C", "--yes")
	if code != 0 || !strings.Contains(out, "deactivated") {
		t.Fatalf("contain key: exit %d\n%s", code, out)
	}
	out, code = f.run(f.newJob("contain role", "writer", "contain"), cfg, f.custody, "contain", "role", "--role", aws.ToString(role.Role.Arn), "--case", "IR-C", "--yes")
	if code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("contain role: exit %d\n%s", code, out)
	}
}
