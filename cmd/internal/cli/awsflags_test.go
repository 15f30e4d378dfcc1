package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/testaws"
)

// awsEnv clears the AWS settings a developer's shell may hold.
func awsEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "", "AWS_MAX_ATTEMPTS": "", "CUSTODY_DEBUG": "",
		"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		t.Setenv(k, v)
	}
}

func parseAWSFlags(t *testing.T, args ...string) *AWSFlags {
	t.Helper()
	var f AWSFlags
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &f
}

// --region and --endpoint-url reach every client loaded with the applied
// context, beating AWS_REGION and AWS_ENDPOINT_URL(_S3) as in the AWS CLI,
// while what the caller sets itself (store.region) stays.
func TestAWSFlagsApply(t *testing.T) {
	awsEnv(t)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
	f := parseAWSFlags(t, "--region", "eu-west-3", "--endpoint-url", "http://127.0.0.1:2")
	if f.Region != "eu-west-3" || f.EndpointURL != "http://127.0.0.1:2" || f.Profile != "" || f.Debug {
		t.Fatalf("parsed %+v", *f)
	}
	ctx, err := f.Apply(context.Background(), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := awsclient.Load(ctx, awsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.AWS.Region != "eu-west-3" {
		t.Errorf("region %q, want the flag's", c.AWS.Region)
	}
	if got := aws.ToString(c.S3().Options().BaseEndpoint); got != "http://127.0.0.1:2" {
		t.Errorf("S3 endpoint %q, want the flag's over AWS_ENDPOINT_URL_S3", got)
	}
	if got := aws.ToString(c.AWS.BaseEndpoint); got != "http://127.0.0.1:2" {
		t.Errorf("base endpoint %q, want the flag's", got)
	}
	c, err = awsclient.Load(ctx, awsclient.Options{Region: "us-west-2", S3Endpoint: "http://127.0.0.1:3"})
	if err != nil {
		t.Fatal(err)
	}
	if c.AWS.Region != "us-west-2" || aws.ToString(c.S3().Options().BaseEndpoint) != "http://127.0.0.1:3" {
		t.Errorf("the caller's own region and endpoint were overridden: %q %q", c.AWS.Region, aws.ToString(c.S3().Options().BaseEndpoint))
	}
	// Without the flags, the environment is followed as before.
	c, err = awsclient.Load(context.Background(), awsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.AWS.Region != "us-east-1" || aws.ToString(c.S3().Options().BaseEndpoint) != "http://127.0.0.1:1" {
		t.Errorf("no flags: region %q, endpoint %q", c.AWS.Region, aws.ToString(c.S3().Options().BaseEndpoint))
	}

	for _, bad := range []string{"127.0.0.1:9000", "ftp://x", "http://"} {
		_, err := parseAWSFlags(t, "--endpoint-url", bad).Apply(context.Background(), &bytes.Buffer{})
		var stderr bytes.Buffer
		if code := ExitCode(err, &stderr); code != ExitUsage || !strings.Contains(stderr.String(), "--endpoint-url") {
			t.Errorf("--endpoint-url %q: exit %d, %q", bad, code, stderr.String())
		}
	}
}

// --profile selects a profile of the shared files; one that does not exist
// is a configuration error (exit 2) naming it and the files read.
func TestAWSFlagsProfile(t *testing.T) {
	awsEnv(t)
	cfgFile := os.Getenv("AWS_CONFIG_FILE")
	writeFile(t, cfgFile, "[profile ir]\nregion = ap-south-1\n")
	ctx, err := parseAWSFlags(t, "--profile", "ir").Apply(context.Background(), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := awsclient.Load(ctx, awsclient.Options{})
	if err != nil || c.AWS.Region != "ap-south-1" {
		t.Fatalf("--profile ir: region %q, %v", c.AWS.Region, err)
	}

	ctx, err = parseAWSFlags(t, "--profile", "nope").Apply(context.Background(), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = awsclient.Load(ctx, awsclient.Options{})
	var ce awsclient.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("unknown profile: %v (%T), want an awsclient.ConfigError", err, err)
	}
	var stderr bytes.Buffer
	code := ExitCode(fmt.Errorf("load the store's AWS configuration: %w", err), &stderr)
	msg := stderr.String()
	if code != ExitUsage || !strings.Contains(msg, `AWS profile "nope" not found in `+cfgFile) ||
		!strings.Contains(msg, os.Getenv("AWS_SHARED_CREDENTIALS_FILE")) || !strings.Contains(msg, "--profile") {
		t.Errorf("unknown profile: exit %d, %q", code, msg)
	}

	// The same from AWS_PROFILE.
	t.Setenv("AWS_PROFILE", "gone")
	_, err = awsclient.Load(context.Background(), awsclient.Options{})
	stderr.Reset()
	if code := ExitCode(err, &stderr); code != ExitUsage || !strings.Contains(stderr.String(), `"gone"`) || !strings.Contains(stderr.String(), "AWS_PROFILE") {
		t.Errorf("unknown AWS_PROFILE: exit %d, %q", code, stderr.String())
	}
}

// The flags against the stand-in: --endpoint-url and --region are all a
// call needs besides credentials.
func TestAWSFlagsReachStandIn(t *testing.T) {
	e := testaws.Require(t)
	awsEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", e.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", e.SecretKey)
	ctx, err := parseAWSFlags(t, "--endpoint-url", e.S3Endpoint, "--region", e.Region).Apply(context.Background(), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := awsclient.Load(ctx, awsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.S3().ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("ListBuckets through --endpoint-url: %v", err)
	}
}

// Off a terminal, retries are not printed (the final error counts them);
// with --debug they are, one line each.
func TestRetryPrinter(t *testing.T) {
	awsEnv(t)
	var buf bytes.Buffer
	if RetryPrinter(&buf) != nil {
		t.Error("RetryPrinter of a buffer is not nil")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if RetryPrinter(f) != nil {
		t.Error("RetryPrinter of a file is not nil")
	}

	addr := testaws.FreeAddr(t)
	fl := parseAWSFlags(t, "--debug", "--endpoint-url", "http://"+addr, "--region", "us-east-1")
	t.Setenv("AWS_MAX_ATTEMPTS", "3")
	ctx, err := fl.Apply(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if !Debug() {
		t.Fatal("--debug did not set CUSTODY_DEBUG")
	}
	c, err := awsclient.Load(ctx, awsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.S3().GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("b")})
	want := "GetBucketVersioning: retry 2 of 3 after connection refused (" + addr + ")\n" +
		"GetBucketVersioning: retry 3 of 3 after connection refused (" + addr + ")\n"
	if buf.String() != want {
		t.Errorf("retries printed:\n%s\nwant:\n%s", buf.String(), want)
	}
	// --debug prints the error in full.
	var stderr bytes.Buffer
	ExitCode(err, &stderr)
	if !strings.Contains(stderr.String(), "operation error S3: GetBucketVersioning") {
		t.Errorf("--debug error: %q", stderr.String())
	}
}

// Errors of AWS calls are printed on one line with the context custody
// wraps around them; CUSTODY_DEBUG=1 prints the SDK's chain.
func TestExitCodeShortensAWSErrors(t *testing.T) {
	e := testaws.Require(t)
	awsEnv(t)
	c, err := awsclient.Load(context.Background(), awsclient.Options{
		Region:      e.Region,
		S3Endpoint:  e.S3Endpoint,
		Credentials: credentials.NewStaticCredentialsProvider(e.AccessKey, "wrong-secret", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.S3().GetBucketVersioning(context.Background(), &s3.GetBucketVersioningInput{Bucket: aws.String("custody-evidence")})
	err = fmt.Errorf("read versioning of s3://custody-evidence: %w", err)
	var stderr bytes.Buffer
	if code := ExitCode(err, &stderr); code != ExitIncomplete {
		t.Errorf("exit %d", code)
	}
	if got, want := stderr.String(), "Error: read versioning of s3://custody-evidence: GetBucketVersioning: SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your key and signing method.\n"; got != want {
		t.Errorf("printed %q\nwant %q", got, want)
	}
	t.Setenv("CUSTODY_DEBUG", "1")
	stderr.Reset()
	ExitCode(err, &stderr)
	if !strings.Contains(stderr.String(), "RequestID: ") || !strings.Contains(stderr.String(), "StatusCode: 403") {
		t.Errorf("CUSTODY_DEBUG=1 printed %q, want the SDK's chain", stderr.String())
	}
}

// PreRun, as a root command's PersistentPreRunE, hands the flags to the
// sub-command's context; a bad flag is a usage error.
func TestAWSFlagsPreRun(t *testing.T) {
	awsEnv(t)
	var f AWSFlags
	var region string
	root := &cobra.Command{Use: "root", SilenceErrors: true, SilenceUsage: true}
	f.AddFlags(root.PersistentFlags())
	root.PersistentPreRunE = f.PreRun(&bytes.Buffer{})
	root.AddCommand(&cobra.Command{Use: "sub", RunE: func(cmd *cobra.Command, _ []string) error {
		c, err := awsclient.Load(cmd.Context(), awsclient.Options{})
		region = c.AWS.Region
		return err
	}})
	root.SetArgs([]string{"sub", "--region", "eu-north-1"})
	if err := root.ExecuteContext(context.Background()); err != nil || region != "eu-north-1" {
		t.Fatalf("sub --region eu-north-1: region %q, %v", region, err)
	}
	root.SetArgs([]string{"sub", "--endpoint-url", "nope"})
	var stderr bytes.Buffer
	if code := ExitCode(root.ExecuteContext(context.Background()), &stderr); code != ExitUsage {
		t.Errorf("--endpoint-url nope: exit %d, %q", code, stderr.String())
	}
}
