package custody_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/internal/awsclient"
)

// freezeJobs runs custody freeze and unfreeze as the containment role on
// a bucket in moto's S3; their custody events go to the evidence bucket
// as the writer. Not --hold-versions: moto applies a bucket policy's deny
// to object PUTs without the caller's identity (no aws:userid), so it
// refuses the holds a freeze places after its deny even to the allowed
// caller (see notExercised; MinIO, which evaluates it, runs them in
// contain/freeze_test.go).
func (f *callsFixture) freezeJobs() {
	t := f.t
	ctx := context.Background()
	setup, err := awsclient.Load(ctx, awsclient.Options{Region: callsRegion, Endpoint: f.motoEndpoint, S3Endpoint: f.motoEndpoint,
		Credentials: credentials.NewStaticCredentialsProvider("calls", "calls", "")})
	if err != nil {
		t.Fatal(err)
	}
	c := setup.S3()
	bucket := fmt.Sprintf("calls-frozen-%d", time.Now().UnixNano()%1e9)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(bucket), LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{
		{ID: aws.String("expire"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("")}, NoncurrentVersionExpiration: &s3types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}},
	}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a.txt"), Body: strings.NewReader("good")}); err != nil {
		t.Fatal(err)
	}
	role, err := iam.NewFromConfig(setup.AWS).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("calls-responder"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	f.values["FROZEN_BUCKET"] = []string{bucket}
	cfg := []string{"CUSTODY_CONFIG=" + filepath.Join(f.dir, "custody.yaml")}
	out, code := f.run(f.newJob("freeze", "writer", "contain"), cfg, f.custody, "freeze", "--bucket", bucket, "--case", "IR-F",
		"--allow-role", aws.ToString(role.Role.Arn), "--yes")
	if code != 0 || !strings.Contains(out, "frozen") {
		t.Fatalf("freeze: exit %d\n%s", code, out)
	}
	out, code = f.run(f.newJob("unfreeze", "writer", "contain"), cfg, f.custody, "unfreeze", "--bucket", bucket, "--case", "IR-F", "--yes")
	if code != 0 || !strings.Contains(out, "unfrozen") {
		t.Fatalf("unfreeze: exit %d\n%s", code, out)
	}
}
