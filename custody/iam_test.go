package custody

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-ir/custody/custody/awsclient"
)

type policyDoc struct {
	Version   string
	Statement []struct {
		Sid      string
		Effect   string
		Action   any
		Resource any
	}
}

func loadPolicy(t *testing.T, name string) map[string]map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "configs", "iam", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc policyDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if doc.Version != "2012-10-17" {
		t.Fatalf("%s: version %q", name, doc.Version)
	}
	out := map[string]map[string]bool{"Allow": {}, "Deny": {}}
	for _, st := range doc.Statement {
		var actions []string
		switch a := st.Action.(type) {
		case string:
			actions = []string{a}
		case []any:
			for _, x := range a {
				actions = append(actions, x.(string))
			}
		}
		for _, a := range actions {
			out[st.Effect][a] = true
		}
	}
	return out
}

// collectorCalls are the AWS operations the collectors make with the
// collector role's credentials (collector/*.go).
var collectorCalls = [][2]string{
	// posture
	{"S3", "GetBucketPolicy"}, {"S3", "GetBucketPolicyStatus"}, {"S3", "GetBucketAcl"}, {"S3", "GetPublicAccessBlock"},
	{"S3", "GetBucketVersioning"}, {"S3", "GetObjectLockConfiguration"}, {"S3", "GetBucketReplication"},
	{"S3", "GetBucketEncryption"}, {"S3", "GetBucketOwnershipControls"}, {"S3", "GetBucketLogging"},
	{"S3", "GetBucketLifecycleConfiguration"}, {"S3", "GetBucketTagging"}, {"S3", "GetBucketLocation"},
	{"S3 Control", "GetPublicAccessBlock"},
	// versions
	{"S3", "ListObjectVersions"},
	// cloudtrail and config: discovering trails, copying deliveries
	{"CloudTrail", "DescribeTrails"}, {"CloudTrail", "ListPublicKeys"}, {"Organizations", "DescribeOrganization"},
	{"S3", "ListObjectsV2"}, {"S3", "GetObject"},
	{"Config Service", "ListDiscoveredResources"}, {"Config Service", "GetResourceConfigHistory"},
	{"Config Service", "DescribeDeliveryChannels"}, {"Config Service", "DeliverConfigSnapshot"},
}

// TestShippedPolicies checks the policies grant what the code calls and
// deny what must never happen to evidence.
func TestShippedPolicies(t *testing.T) {
	writer := loadPolicy(t, "custody-writer-policy.json")
	for _, a := range []string{"s3:PutObject", "s3:PutObjectRetention", "s3:PutObjectLegalHold", "s3:AbortMultipartUpload",
		"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucketVersions", "s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration", "kms:Sign", "kms:GetPublicKey"} {
		if !writer["Allow"][a] {
			t.Errorf("writer policy lacks %s", a)
		}
	}
	for a := range writer["Allow"] {
		if strings.Contains(a, "Delete") || strings.Contains(a, "Bypass") || strings.HasSuffix(a, "*") {
			t.Errorf("writer policy grants %s", a)
		}
	}
	verifier := loadPolicy(t, "custody-verifier-policy.json")
	for a := range verifier["Allow"] {
		if !strings.HasPrefix(a, "s3:Get") && !strings.HasPrefix(a, "s3:List") && a != "kms:GetPublicKey" {
			t.Errorf("verifier policy grants %s, which is not read-only", a)
		}
	}
	collectorRole := loadPolicy(t, "collector-role-policy.json")
	for a := range collectorRole["Allow"] {
		if strings.Contains(a, "Put") || strings.Contains(a, "Delete") || strings.HasSuffix(a, "*") {
			t.Errorf("the read-only collector role grants %s", a)
		}
	}
	// The collector role grants exactly what the collectors call, no more
	// (collector/iam_enforce_test.go checks the same against moto's IAM).
	need := map[string]bool{}
	for _, op := range collectorCalls {
		a := awsclient.Action(op[0], op[1])
		if a == "" {
			t.Fatalf("no IAM action known for %s %s", op[0], op[1])
		}
		need[a] = true
		if !collectorRole["Allow"][a] {
			t.Errorf("collector role lacks %s (for %s %s)", a, op[0], op[1])
		}
	}
	for a := range collectorRole["Allow"] {
		if !need[a] {
			t.Errorf("collector role grants %s, which no collector needs", a)
		}
	}
	agent := loadPolicy(t, "agent-role-policy.json")
	if !agent["Allow"]["sts:AssumeRole"] || !agent["Allow"]["s3:PutObject"] || agent["Allow"]["s3:DeleteObject"] {
		t.Errorf("agent role policy: %v", agent["Allow"])
	}
	rec := loadPolicy(t, "recover-policy.json")
	for _, a := range []string{"s3:ListBucketVersions", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObjectVersion", "s3:GetObjectVersionTagging"} {
		if !rec["Allow"][a] {
			t.Errorf("recover policy lacks %s", a)
		}
	}
	if !rec["Deny"]["s3:BypassGovernanceRetention"] {
		t.Error("recover policy does not deny governance bypass")
	}
	bucket := loadPolicy(t, "evidence-bucket-policy.json")
	for _, a := range []string{"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectLegalHold", "s3:PutBucketObjectLockConfiguration"} {
		if !bucket["Deny"][a] {
			t.Errorf("bucket policy does not deny %s", a)
		}
	}
	if len(bucket["Allow"]) != 0 {
		t.Errorf("bucket policy allows %v", bucket["Allow"])
	}
}
