package awsclient

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// apiError builds the error an SDK call returns when the service answers
// status with code, for a request to rawURL with headers.
func apiError(service, operation string, status int, code, rawURL string, headers map[string]string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	req := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp := &smithyhttp.Response{Response: &http.Response{StatusCode: status, Request: req, Header: http.Header{}}}
	var cause error = &smithy.GenericAPIError{Code: code, Message: "denied"}
	return &smithy.OperationError{ServiceID: service, OperationName: operation, Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: resp, Err: cause}, RequestID: "req-1"}}
}

func denied(service, operation string) error {
	code := "AccessDenied"
	if service != "S3" && service != "S3 Control" && service != "STS" && service != "IAM" {
		code = "AccessDeniedException"
	}
	return apiError(service, operation, http.StatusForbidden, code, "https://example.com/bucket/key", nil)
}

// TestPermissionOfEveryMappedOperation checks every operation the mapping
// knows, and that it knows no operation this list lacks.
func TestPermissionOfEveryMappedOperation(t *testing.T) {
	want := map[[2]string]string{
		{"S3", "AbortMultipartUpload"}:            "s3:AbortMultipartUpload",
		{"S3", "CompleteMultipartUpload"}:         "s3:PutObject",
		{"S3", "CopyObject"}:                      "s3:PutObject",
		{"S3", "CreateBucket"}:                    "s3:CreateBucket",
		{"S3", "CreateMultipartUpload"}:           "s3:PutObject",
		{"S3", "DeleteBucket"}:                    "s3:DeleteBucket",
		{"S3", "DeleteBucketLifecycle"}:           "s3:PutLifecycleConfiguration",
		{"S3", "DeleteBucketPolicy"}:              "s3:DeleteBucketPolicy",
		{"S3", "DeleteObject"}:                    "s3:DeleteObject",
		{"S3", "DeleteObjects"}:                   "s3:DeleteObject",
		{"S3", "DeletePublicAccessBlock"}:         "s3:PutBucketPublicAccessBlock",
		{"S3", "GetBucketAcl"}:                    "s3:GetBucketAcl",
		{"S3", "GetBucketEncryption"}:             "s3:GetEncryptionConfiguration",
		{"S3", "GetBucketLifecycleConfiguration"}: "s3:GetLifecycleConfiguration",
		{"S3", "GetBucketLocation"}:               "s3:GetBucketLocation",
		{"S3", "GetBucketLogging"}:                "s3:GetBucketLogging",
		{"S3", "GetBucketOwnershipControls"}:      "s3:GetBucketOwnershipControls",
		{"S3", "GetBucketPolicy"}:                 "s3:GetBucketPolicy",
		{"S3", "GetBucketPolicyStatus"}:           "s3:GetBucketPolicyStatus",
		{"S3", "GetBucketReplication"}:            "s3:GetReplicationConfiguration",
		{"S3", "GetBucketTagging"}:                "s3:GetBucketTagging",
		{"S3", "GetBucketVersioning"}:             "s3:GetBucketVersioning",
		{"S3", "GetObject"}:                       "s3:GetObject",
		{"S3", "GetObjectLegalHold"}:              "s3:GetObjectLegalHold",
		{"S3", "GetObjectLockConfiguration"}:      "s3:GetBucketObjectLockConfiguration",
		{"S3", "GetObjectRetention"}:              "s3:GetObjectRetention",
		{"S3", "GetObjectTagging"}:                "s3:GetObjectTagging",
		{"S3", "GetPublicAccessBlock"}:            "s3:GetBucketPublicAccessBlock",
		{"S3", "HeadBucket"}:                      "s3:ListBucket",
		{"S3", "HeadObject"}:                      "s3:GetObject",
		{"S3", "ListBuckets"}:                     "s3:ListAllMyBuckets",
		{"S3", "ListMultipartUploads"}:            "s3:ListBucketMultipartUploads",
		{"S3", "ListObjectVersions"}:              "s3:ListBucketVersions",
		{"S3", "ListObjects"}:                     "s3:ListBucket",
		{"S3", "ListObjectsV2"}:                   "s3:ListBucket",
		{"S3", "ListParts"}:                       "s3:ListMultipartUploadParts",
		{"S3", "PutBucketLifecycleConfiguration"}: "s3:PutLifecycleConfiguration",
		{"S3", "PutBucketPolicy"}:                 "s3:PutBucketPolicy",
		{"S3", "PutBucketVersioning"}:             "s3:PutBucketVersioning",
		{"S3", "PutObject"}:                       "s3:PutObject",
		{"S3", "PutObjectLegalHold"}:              "s3:PutObjectLegalHold",
		{"S3", "PutObjectLockConfiguration"}:      "s3:PutBucketObjectLockConfiguration",
		{"S3", "PutObjectRetention"}:              "s3:PutObjectRetention",
		{"S3", "PutObjectTagging"}:                "s3:PutObjectTagging",
		{"S3", "PutPublicAccessBlock"}:            "s3:PutBucketPublicAccessBlock",
		{"S3", "RestoreObject"}:                   "s3:RestoreObject",
		{"S3", "UploadPart"}:                      "s3:PutObject",
		{"S3", "UploadPartCopy"}:                  "s3:PutObject",
		{"S3 Control", "GetPublicAccessBlock"}:    "s3:GetAccountPublicAccessBlock",
		{"S3 Control", "PutPublicAccessBlock"}:    "s3:PutAccountPublicAccessBlock",
		{"S3 Control", "DeletePublicAccessBlock"}: "s3:PutAccountPublicAccessBlock",
		// The other services name their actions as their operations.
		{"STS", "AssumeRole"}:                                  "sts:AssumeRole",
		{"KMS", "Sign"}:                                        "kms:Sign",
		{"KMS", "GetPublicKey"}:                                "kms:GetPublicKey",
		{"KMS", "DescribeKey"}:                                 "kms:DescribeKey",
		{"Config Service", "ListDiscoveredResources"}:          "config:ListDiscoveredResources",
		{"Config Service", "GetResourceConfigHistory"}:         "config:GetResourceConfigHistory",
		{"Config Service", "DescribeDeliveryChannels"}:         "config:DescribeDeliveryChannels",
		{"Config Service", "DeliverConfigSnapshot"}:            "config:DeliverConfigSnapshot",
		{"CloudTrail", "DescribeTrails"}:                       "cloudtrail:DescribeTrails",
		{"CloudTrail", "ListPublicKeys"}:                       "cloudtrail:ListPublicKeys",
		{"Organizations", "DescribeOrganization"}:              "organizations:DescribeOrganization",
		{"IAM", "GetRole"}:                                     "iam:GetRole",
		{"S3", "SelectObjectContent"}:                          "", // unknown: no guess
		{"S3 Control", "GetAccessPoint"}:                       "",
		{"Lambda", "Invoke"}:                                   "",
		{"KMS", ""}:                                            "",
		{"Config Service", "ListAggregateDiscoveredResources"}: "config:ListAggregateDiscoveredResources",
	}
	for k, w := range want {
		if got := Action(k[0], k[1]); got != w {
			t.Errorf("Action(%q, %q) = %q, want %q", k[0], k[1], got, w)
		}
		if got := Permission(denied(k[0], k[1])); got != w {
			t.Errorf("Permission(denied %s %s) = %q, want %q", k[0], k[1], got, w)
		}
	}
	for op := range s3Actions {
		if _, ok := want[[2]string{"S3", op}]; !ok {
			t.Errorf("S3 %s is mapped but not tested", op)
		}
	}
	for op := range s3ControlActions {
		if _, ok := want[[2]string{"S3 Control", op}]; !ok {
			t.Errorf("S3 Control %s is mapped but not tested", op)
		}
	}
}

func TestPermissionFromTheRequest(t *testing.T) {
	lock := map[string]string{"X-Amz-Object-Lock-Mode": "COMPLIANCE", "X-Amz-Object-Lock-Retain-Until-Date": "2030-01-01T00:00:00Z"}
	hold := map[string]string{"X-Amz-Object-Lock-Mode": "COMPLIANCE", "X-Amz-Object-Lock-Legal-Hold": "ON"}
	for _, c := range []struct {
		op, url string
		headers map[string]string
		want    string
	}{
		{"GetObject", "https://s3.example.com/b/k?versionId=v1", nil, "s3:GetObjectVersion"},
		{"HeadObject", "https://s3.example.com/b/k?versionId=v1", nil, "s3:GetObjectVersion"},
		{"GetObject", "https://s3.example.com/b/k", nil, "s3:GetObject"},
		{"HeadObject", "https://s3.example.com/b/k", nil, "s3:GetObject"},
		{"DeleteObject", "https://s3.example.com/b/k?versionId=v1", nil, "s3:DeleteObjectVersion"},
		{"GetObjectTagging", "https://s3.example.com/b/k?tagging=&versionId=v1", nil, "s3:GetObjectVersionTagging"},
		{"GetObjectRetention", "https://s3.example.com/b/k?retention=&versionId=v1", nil, "s3:GetObjectRetention"},
		{"PutObject", "https://s3.example.com/b/k", lock, "s3:PutObject and s3:PutObjectRetention"},
		{"PutObject", "https://s3.example.com/b/k", hold, "s3:PutObject and s3:PutObjectRetention and s3:PutObjectLegalHold"},
		{"CreateMultipartUpload", "https://s3.example.com/b/k?uploads=", lock, "s3:PutObject and s3:PutObjectRetention"},
		{"PutObject", "https://s3.example.com/b/k", nil, "s3:PutObject"},
		{"CopyObject", "https://s3.example.com/b/k", map[string]string{"X-Amz-Copy-Source": "b/k?versionId=v1"}, "s3:PutObject and s3:GetObjectVersion"},
		{"UploadPartCopy", "https://s3.example.com/b/k?partNumber=1&uploadId=u", map[string]string{"X-Amz-Copy-Source": "b/k"}, "s3:PutObject and s3:GetObject"},
	} {
		err := apiError("S3", c.op, http.StatusForbidden, "AccessDenied", c.url, c.headers)
		if got := Permission(err); got != c.want {
			t.Errorf("%s %s %v: %q, want %q", c.op, c.url, c.headers, got, c.want)
		}
	}
}

func TestPermissionOnlyOfDenials(t *testing.T) {
	for _, c := range []struct {
		status int
		code   string
		want   string
	}{
		{403, "AccessDenied", "s3:GetBucketPolicy"},
		{403, "Forbidden", "s3:GetBucketPolicy"},
		{403, "UnknownError", "s3:GetBucketPolicy"},
		{400, "AccessDeniedException", "s3:GetBucketPolicy"},
		{403, "InvalidAccessKeyId", ""},
		{403, "SignatureDoesNotMatch", ""},
		{403, "ExpiredToken", ""},
		{403, "RequestTimeTooSkewed", ""},
		{404, "NoSuchBucketPolicy", ""},
		{500, "InternalError", ""},
	} {
		err := apiError("S3", "GetBucketPolicy", c.status, c.code, "https://s3.example.com/b?policy=", nil)
		if got := Permission(err); got != c.want {
			t.Errorf("%d %s: %q, want %q", c.status, c.code, got, c.want)
		}
		if AccessDenied(err) != (c.want != "") {
			t.Errorf("%d %s: AccessDenied = %v", c.status, c.code, AccessDenied(err))
		}
	}
	if Permission(nil) != "" || Permission(errors.New("dial tcp: connection refused")) != "" || AccessDenied(nil) {
		t.Error("an error from no AWS call names a permission")
	}
}

// A denial met getting credentials names the call that was denied.
func TestPermissionOfTheInnermostCall(t *testing.T) {
	assume := denied("STS", "AssumeRole")
	err := &smithy.OperationError{ServiceID: "S3", OperationName: "GetBucketPolicy",
		Err: fmt.Errorf("get identity: get credentials: %w", fmt.Errorf("failed to refresh cached credentials, %w", assume))}
	if got := Permission(err); got != "sts:AssumeRole" {
		t.Fatalf("Permission = %q, want sts:AssumeRole", got)
	}
	if got := Operation(err); got != "AssumeRole" {
		t.Fatalf("Operation = %q", got)
	}
	joined := fmt.Errorf("collect: %w", errors.Join(errors.New("other"), denied("KMS", "Sign")))
	if got := Permission(joined); got != "kms:Sign" {
		t.Fatalf("Permission of a joined error = %q", got)
	}
}

func TestRoleExplain(t *testing.T) {
	err := fmt.Errorf("list versions of s3://src: %w", denied("S3", "ListObjectVersions"))
	ex := CollectorRole.Explain(err)
	want := "(grant s3:ListBucketVersions to the collector role; see configs/iam/collector-role-policy.json)"
	if !strings.HasSuffix(ex.Error(), want) || !errors.Is(ex, err) {
		t.Fatalf("Explain = %v", ex)
	}
	if again := AgentRole.Explain(fmt.Errorf("run: %w", ex)); strings.Count(again.Error(), "grant ") != 1 {
		t.Fatalf("explained twice: %v", again)
	}
	var d *DeniedError
	if !errors.As(ex, &d) || d.Permission != "s3:ListBucketVersions" {
		t.Fatalf("DeniedError = %+v", d)
	}
	other := errors.New("boom")
	if CollectorRole.Explain(other) != other || CollectorRole.Explain(nil) != nil || CollectorRole.Grant(other) != "" {
		t.Fatal("Explain changed an error that is no denial")
	}
	if g := AgentRole.Grant(denied("KMS", "Sign")); g != "grant kms:Sign to the agent's role; see configs/iam/agent-role-policy.json or configs/iam/custody-writer-policy.json" {
		t.Fatalf("Grant = %q", g)
	}
	// Denied assuming the collector role: the agent's permission and the
	// role's trust policy are at fault, not the collector role's policy.
	if g := CollectorRole.Grant(denied("STS", "AssumeRole")); !strings.HasPrefix(g, "grant sts:AssumeRole to the agent's role") || !strings.Contains(g, "collector-role-trust.json") {
		t.Fatalf("Grant of AssumeRole = %q", g)
	}
}
