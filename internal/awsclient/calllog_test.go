package awsclient

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestNeeds(t *testing.T) {
	until := time.Now()
	cases := []struct {
		service, op string
		in          any
		want        []Need
	}{
		{"S3", "GetObject", &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")},
			[]Need{{"s3:GetObject", "arn:aws:s3:::b/k"}}},
		{"S3", "GetObject", &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), VersionId: aws.String("v1")},
			[]Need{{"s3:GetObjectVersion", "arn:aws:s3:::b/k"}}},
		{"S3", "HeadObject", &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("a/b c")},
			[]Need{{"s3:GetObject", "arn:aws:s3:::b/a/b c"}}},
		{"S3", "ListObjectVersions", &s3.ListObjectVersionsInput{Bucket: aws.String("b"), Prefix: aws.String("k")},
			[]Need{{"s3:ListBucketVersions", "arn:aws:s3:::b"}}},
		{"S3", "DeleteObject", &s3.DeleteObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), VersionId: aws.String("m")},
			[]Need{{"s3:DeleteObjectVersion", "arn:aws:s3:::b/k"}}},
		{"S3", "DeleteObject", &s3.DeleteObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), BypassGovernanceRetention: aws.Bool(true)},
			[]Need{{"s3:DeleteObject", "arn:aws:s3:::b/k"}, {"s3:BypassGovernanceRetention", "arn:aws:s3:::b/k"}}},
		{"S3", "PutObject", &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), ObjectLockMode: types.ObjectLockModeCompliance,
			ObjectLockRetainUntilDate: &until, ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn, Tagging: aws.String("a=b")},
			[]Need{{"s3:PutObject", "arn:aws:s3:::b/k"}, {"s3:PutObjectRetention", "arn:aws:s3:::b/k"},
				{"s3:PutObjectLegalHold", "arn:aws:s3:::b/k"}, {"s3:PutObjectTagging", "arn:aws:s3:::b/k"}}},
		{"S3", "CreateMultipartUpload", &s3.CreateMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("k"), ObjectLockRetainUntilDate: &until},
			[]Need{{"s3:PutObject", "arn:aws:s3:::b/k"}, {"s3:PutObjectRetention", "arn:aws:s3:::b/k"}}},
		{"S3", "CopyObject", &s3.CopyObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), CopySource: aws.String("src/a%20b?versionId=v%2B1")},
			[]Need{{"s3:PutObject", "arn:aws:s3:::b/k"}, {"s3:GetObjectVersion", "arn:aws:s3:::src/a b"},
				{"s3:GetObjectVersionTagging", "arn:aws:s3:::src/a b"}, {"s3:PutObjectTagging", "arn:aws:s3:::b/k"}}},
		{"S3", "CopyObject", &s3.CopyObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), CopySource: aws.String("src/x"), TaggingDirective: types.TaggingDirectiveReplace},
			[]Need{{"s3:PutObject", "arn:aws:s3:::b/k"}, {"s3:GetObject", "arn:aws:s3:::src/x"}}},
		{"S3", "UploadPartCopy", &s3.UploadPartCopyInput{Bucket: aws.String("b"), Key: aws.String("k"), CopySource: aws.String("/src/x?versionId=1")},
			[]Need{{"s3:PutObject", "arn:aws:s3:::b/k"}, {"s3:GetObjectVersion", "arn:aws:s3:::src/x"}}},
		{"S3 Control", "GetPublicAccessBlock", nil, []Need{{"s3:GetAccountPublicAccessBlock", "*"}}},
		{"STS", "AssumeRole", &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111122223333:role/custody-collector")},
			[]Need{{"sts:AssumeRole", "arn:aws:iam::111122223333:role/custody-collector"}}},
		{"Config Service", "ListDiscoveredResources", nil, []Need{{"config:ListDiscoveredResources", "*"}}},
		{"S3", "SelectObjectContent", nil, []Need{{"unknown:S3/SelectObjectContent", "*"}}},
	}
	for _, c := range cases {
		if got := Needs(c.service, c.op, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s %+v:\n got %v\nwant %v", c.service, c.op, c.in, got, c.want)
		}
	}
}

// TestCallLog makes calls through Load's clients with the call log on,
// from several goroutines at once, against a server that answers them
// all with an error: each call is logged once, whole, whatever its answer.
func TestCallLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calls.jsonl")
	t.Setenv(CallLogEnv, path)
	ctx := context.Background()
	cfg, err := Load(ctx, Options{Region: "us-east-1", Endpoint: "http://127.0.0.1:1", S3Endpoint: "http://127.0.0.1:1", MaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")})
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.S3()
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String(fmt.Sprintf("k/%02d", i)), VersionId: aws.String("v")}); err == nil {
				t.Error("GetObject succeeded against a closed port")
			}
		}()
	}
	wg.Wait()
	if _, err := cfg.STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
		t.Error("GetCallerIdentity succeeded against a closed port")
	}
	// S3 Control's client names its service in the step the log is in.
	if _, err := cfg.S3Control().GetPublicAccessBlock(ctx, &s3control.GetPublicAccessBlockInput{AccountId: aws.String("111122223333")}); err == nil {
		t.Error("GetPublicAccessBlock succeeded against a closed port")
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	calls, err := ReadCallLog(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != n+2 {
		t.Fatalf("%d calls logged, want %d: %+v", len(calls), n+2, calls)
	}
	keys := map[string]bool{}
	for _, call := range calls[:n] {
		if call.Service != "S3" || call.Operation != "GetObject" || len(call.Needs) != 1 || call.Needs[0].Action != "s3:GetObjectVersion" {
			t.Errorf("logged %+v", call)
			continue
		}
		keys[call.Needs[0].Resource] = true
	}
	if len(keys) != n {
		t.Errorf("%d distinct objects logged, want %d", len(keys), n)
	}
	if last := calls[n]; last.Service != "STS" || last.Operation != "GetCallerIdentity" || last.Needs[0] != (Need{"sts:GetCallerIdentity", "*"}) {
		t.Errorf("logged %+v", last)
	}
	if last := calls[n+1]; last.Service != "S3 Control" || last.Operation != "GetPublicAccessBlock" || last.Needs[0] != (Need{"s3:GetAccountPublicAccessBlock", "*"}) {
		t.Errorf("logged %+v", last)
	}

	// Unset, nothing is logged; a log that cannot be written fails Load.
	t.Setenv(CallLogEnv, "")
	if cfg, err = Load(ctx, Options{Region: "us-east-1", Endpoint: "http://127.0.0.1:1", MaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
		t.Error("GetCallerIdentity succeeded against a closed port")
	}
	if b, err := os.ReadFile(path); err != nil || strings.Count(string(b), "\n") != n+2 {
		t.Errorf("a call logged without %s (%v):\n%s", CallLogEnv, err, b)
	}
	t.Setenv(CallLogEnv, filepath.Join(t.TempDir(), "no-such-dir", "calls.jsonl"))
	if _, err := Load(ctx, Options{Region: "us-east-1"}); err == nil || !strings.Contains(err.Error(), CallLogEnv) {
		t.Fatalf("Load with an unwritable call log: %v", err)
	}
}
