package awsclient

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

func TestS3PathStyleWithCustomEndpoint(t *testing.T) {
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("a", "b", "")

	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	c, err := Load(ctx, Options{Region: "us-east-1", Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	if o := c.S3().Options(); o.UsePathStyle || o.BaseEndpoint != nil {
		t.Errorf("no custom endpoint: path style %v, endpoint %v", o.UsePathStyle, o.BaseEndpoint)
	}

	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")
	c, err = Load(ctx, Options{Region: "us-east-1", Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	if o := c.S3().Options(); !o.UsePathStyle || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:9000" {
		t.Errorf("AWS_ENDPOINT_URL_S3: path style %v, endpoint %v", o.UsePathStyle, aws.ToString(o.BaseEndpoint))
	}

	c, err = Load(ctx, Options{Region: "us-east-1", Credentials: creds, S3Endpoint: "http://127.0.0.1:9100"})
	if err != nil {
		t.Fatal(err)
	}
	if o := c.S3().Options(); !o.UsePathStyle || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:9100" {
		t.Errorf("Options.S3Endpoint: path style %v, endpoint %v", o.UsePathStyle, aws.ToString(o.BaseEndpoint))
	}
	if r, ok := c.AWS.Retryer().(*retryer); !ok || r.MaxAttempts() != DefaultMaxAttempts {
		t.Errorf("retryer is %T, want custody's with %d attempts", c.AWS.Retryer(), DefaultMaxAttempts)
	} else if _, ok := r.RetryerV2.(*retry.Standard); !ok {
		t.Errorf("retryer wraps %T, want the standard mode", r.RetryerV2)
	}
}

func TestSessionName(t *testing.T) {
	cases := map[[2]string]string{
		{"collect", "agent-1"}:            "custody-collect-agent-1",
		{"recover", ""}:                   "custody-recover",
		{"collect", "host name/with:bad"}: "custody-collect-host-name-with-bad",
	}
	for in, want := range cases {
		if got := SessionName(in[0], in[1]); got != want {
			t.Errorf("SessionName(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
	long := SessionName("collect", strings.Repeat("x", 100))
	if len(long) != 64 {
		t.Errorf("long session name has %d characters", len(long))
	}
}
