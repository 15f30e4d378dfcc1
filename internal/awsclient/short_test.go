package awsclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/testaws"
)

// checkShort asserts that Short(err) is want, on one line, without the
// SDK's request ids and layers, while err.Error() keeps them.
func checkShort(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	got := awsclient.Short(err)
	if got != want {
		t.Errorf("Short:\n got %q\nwant %q\n(full: %v)", got, want, err)
	}
	for _, noise := range []string{"\n", "RequestID", "HostID", "operation error", "StatusCode", "https response error"} {
		if strings.Contains(got, noise) {
			t.Errorf("Short(%v) = %q still holds %q", err, got, noise)
		}
	}
	if !strings.Contains(err.Error(), "operation error S3") {
		t.Errorf("the full error lost the SDK's chain: %v", err)
	}
}

// Short on real errors of the stand-ins: a wrong secret key (403), a
// missing key (404 with and without a body), a missing bucket, with the
// context custody wraps around them kept, and several at once.
func TestShortOnStandInErrors(t *testing.T) {
	e := testaws.Require(t)
	ctx := context.Background()
	good := e.S3(t)
	bucket := testaws.CreateBucket(t, good, testaws.BucketOptions{Versioning: true})

	bad, err := awsclient.Load(ctx, awsclient.Options{
		Region:      e.Region,
		S3Endpoint:  e.S3Endpoint,
		Credentials: credentials.NewStaticCredentialsProvider(e.AccessKey, "wrong-secret-key", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.S3().GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	err = fmt.Errorf("read versioning of s3://%s: %w", bucket, err)
	checkShort(t, err, "read versioning of s3://"+bucket+": GetBucketVersioning: SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	denied := err

	_, err = good.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("missing")})
	checkShort(t, err, "HeadObject: NotFound (HTTP 404)")

	_, err = good.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("missing")})
	checkShort(t, fmt.Errorf("read s3://%s/missing: %w", bucket, err), "read s3://"+bucket+"/missing: GetObject: NoSuchKey: The specified key does not exist.")
	missing := err

	_, err = good.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket + "-none")})
	checkShort(t, err, "ListObjectVersions: NoSuchBucket: The specified bucket does not exist")

	joined := errors.Join(denied, fmt.Errorf("read s3://%s/missing: %w", bucket, missing))
	want := "read versioning of s3://" + bucket + ": GetBucketVersioning: SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your key and signing method." +
		"\nread s3://" + bucket + "/missing: GetObject: NoSuchKey: The specified key does not exist."
	if got := awsclient.Short(joined); got != want {
		t.Errorf("Short of joined errors:\n got %q\nwant %q", got, want)
	}

	if got := awsclient.Short(errors.New("plain")); got != "plain" {
		t.Errorf("Short of a plain error = %q", got)
	}
	if got := awsclient.Short(nil); got != "" {
		t.Errorf("Short(nil) = %q", got)
	}
}

// AWS_MAX_ATTEMPTS still sets the number of attempts, and the retries and
// the final error count with it.
func TestMaxAttemptsFromEnvironment(t *testing.T) {
	addr := testaws.FreeAddr(t)
	var log retryLog
	t.Setenv("AWS_MAX_ATTEMPTS", "3")
	api := clientAt(t, addr, log.add)
	_, err := api.GetBucketVersioning(context.Background(), &s3.GetBucketVersioningInput{Bucket: aws.String("b")})
	if got, want := awsclient.Short(err), "GetBucketVersioning: connection refused ("+addr+") after 3 attempts"; !strings.HasPrefix(got, want) {
		t.Errorf("Short = %q, want prefix %q", got, want)
	}
	if lines := log.get(); len(lines) != 2 || !strings.HasPrefix(lines[1], "GetBucketVersioning 3/3 ") {
		t.Errorf("retries told: %q, want 2/3 and 3/3", lines)
	}
}

// No credentials anywhere: one line that says so, not the SDK's tour of
// its chain.
func TestShortNoCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	c, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1", S3Endpoint: "http://" + testaws.FreeAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.S3().ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err == nil {
		t.Fatal("ListBuckets without credentials succeeded")
	}
	if got, want := awsclient.Short(err), "ListBuckets: no AWS credentials found (environment, shared config and credentials files, SSO, container or instance role)"; got != want {
		t.Errorf("Short = %q, want %q\n(full: %v)", got, want, err)
	}
}

// An access denial explained with the permission to grant keeps its
// advice, and a 403 is not retried.
func TestShortKeepsPermissionAdvice(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amz-request-id", "REQ123")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>REQ123</RequestId></Error>`)
	}))
	defer srv.Close()
	api := clientAt(t, strings.TrimPrefix(srv.URL, "http://"), nil)
	_, err := api.GetBucketPolicy(context.Background(), &s3.GetBucketPolicyInput{Bucket: aws.String("customer-data")})
	err = fmt.Errorf("posture of s3://customer-data: %w", awsclient.CollectorRole.Explain(err))
	checkShort(t, err, "posture of s3://customer-data: GetBucketPolicy: AccessDenied: Access Denied "+
		"(grant s3:GetBucketPolicy to the collector role; see configs/iam/collector-role-policy.json)")
	if !strings.Contains(err.Error(), "REQ123") {
		t.Errorf("the full error lost the request id: %v", err)
	}
}
