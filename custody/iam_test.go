package custody

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
	// That each grants exactly what the code calls, no more, is
	// TestPoliciesGrantWhatTheCodeCalls (iam_calls_test.go).
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

// TestPolicyTemplates checks every policy's placeholders are the ones
// configs/iam/README.md explains, and that no Allow reaches into every
// account: the collector roles the agent assumes are listed one account
// at a time (MONITORED_ACCOUNT_ID).
func TestPolicyTemplates(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "configs", "iam", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("..", "configs", "iam", "*.json"))
	if err != nil || len(files) < 8 {
		t.Fatalf("policies: %v %v", files, err)
	}
	placeholder := regexp.MustCompile(`\b[A-Z][A-Z0-9_]*[A-Z0-9]\b`)
	literal := map[string]bool{"AWS": true, "OFF": true, "COMPLIANCE": true} // {"Principal": {"AWS": ...}}, condition values
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Statement []struct {
				Effect    string
				Principal any
				Resource  any
			}
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, w := range placeholder.FindAllString(string(b), -1) {
			if !literal[w] && !strings.Contains(string(readme), "`"+w+"`") {
				t.Errorf("%s: the placeholder %s is not explained in configs/iam/README.md", filepath.Base(f), w)
			}
		}
		for _, st := range doc.Statement {
			r, _ := json.Marshal(st.Resource)
			if st.Effect == "Allow" && strings.Contains(string(r), "arn:aws:iam::*:") {
				t.Errorf("%s: allows %s in every account", filepath.Base(f), r)
			}
		}
	}
	agent := loadPolicy(t, "agent-role-policy.json")
	if !agent["Allow"]["sts:AssumeRole"] {
		t.Error("the agent role cannot assume the collector roles")
	}
}
