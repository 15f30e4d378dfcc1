package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/internal/testaws"
)

// jsonKeyRE is the one naming scheme of every --json output: camelCase.
var jsonKeyRE = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// jsonShape walks a decoded JSON document and records the type found at
// every path (objects' keys joined by ".", array items as "[]"), and
// every key that breaks the naming scheme. Two kinds of path are exempt:
// "P.*" says the keys of the object at P are data (bucket names, S3
// metadata), walked as "P.*"; "P.**" says the value at P is a document
// of someone else's (an AWS bucket policy), not walked at all.
func jsonShape(v any, path string, exempt map[string]bool, shape map[string]string, bad *[]string) {
	kind := "null"
	switch x := v.(type) {
	case map[string]any:
		kind = "object"
		for k, sub := range x {
			p := path + "." + k
			switch {
			case exempt[path+".**"]:
				continue
			case exempt[path+".*"]:
				p = path + ".*"
			case !jsonKeyRE.MatchString(k):
				*bad = append(*bad, p)
			}
			jsonShape(sub, p, exempt, shape, bad)
		}
	case []any:
		kind = "array"
		for _, sub := range x {
			jsonShape(sub, path+"[]", exempt, shape, bad)
		}
	case string:
		kind = "string"
	case float64:
		kind = "number"
	case bool:
		kind = "boolean"
	}
	switch old := shape[path]; {
	case old == "" || old == "null":
		shape[path] = kind
	case kind != "null" && !strings.Contains(old, kind):
		shape[path] = old + "|" + kind
	}
}

// checkJSON parses a command's --json output and checks the naming of
// every key; it returns the document and logs its shape (go test -v
// prints what docs/json.md documents).
func checkJSON(t *testing.T, name, out string, exempt ...string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%s --json: not JSON: %v\n%s", name, err, out)
	}
	dm := map[string]bool{}
	for _, p := range exempt {
		dm[p] = true
	}
	shape := map[string]string{}
	var bad []string
	jsonShape(v, "", dm, shape, &bad)
	if len(bad) > 0 {
		sort.Strings(bad)
		t.Errorf("%s --json: keys outside the camelCase scheme: %s", name, strings.Join(bad, ", "))
	}
	var lines []string
	for p, k := range shape {
		lines = append(lines, fmt.Sprintf("  %-50s %s", p, k))
	}
	sort.Strings(lines)
	t.Logf("%s --json:\n%s", name, strings.Join(lines, "\n"))
	return v
}

// field follows dotted keys into a decoded document.
func field(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestContractJSON runs every custody command that prints --json
// against the stand-ins and checks each output parses and names its keys
// in camelCase.
func TestContractJSON(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c := e.S3(t)
	src := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := binRun{dir: dir, env: []string{"CUSTODY_KEY_PASSPHRASE=contract"}}
	must := func(args ...string) string {
		t.Helper()
		out, errOut, code := r.run(t, args...)
		if code != 0 {
			t.Fatalf("custody %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}

	key := filepath.Join(dir, "signing.pem")
	kg := checkJSON(t, "keygen", must("--json", "keygen", "--out", key))
	if field(kg, "privateKey") != key || field(kg, "publicKey") != filepath.Join(dir, "signing.pub") || field(kg, "keyId") == "" {
		t.Errorf("keygen --json: %v", kg)
	}
	cfg := filepath.Join(dir, "custody.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`ledger: %s/ledger.db
agent: {stream: contract}
schedules: {cloudtrail: "", config: "", accesslogs: ""}
store: {bucket: %s, retention: {mode: GOVERNANCE, days: 1}}
signer: {key: "file://%s"}
trust:
  - {name: responder, key: "file://%s/signing.pub"}
sources:
  accounts:
    - id: "123456789012"
      regions: [us-east-1]
      buckets: [%s]
`, dir, testaws.BucketName(t), key, dir, src))
	r.env = append(r.env, "CUSTODY_CONFIG="+cfg)

	pk := checkJSON(t, "pubkey", must("--json", "pubkey"))
	pub, _ := os.ReadFile(filepath.Join(dir, "signing.pub"))
	if field(pk, "keyId") != field(kg, "keyId") || field(pk, "publicKey") != string(pub) {
		t.Errorf("pubkey --json: %v, want key id %v and the PEM", pk, field(kg, "keyId"))
	}
	checkJSON(t, "config check", must("--json", "config", "check"))
	checkJSON(t, "version", must("--json", "version"))
	checkJSON(t, "store init", must("--json", "store", "init"))
	checkJSON(t, "store check", must("--json", "store", "check"))

	notes := filepath.Join(dir, "notes.txt")
	writeConfig(t, notes, "14:02 key revoked")
	checkJSON(t, "add", must("--json", "add", "--case", "IR-1", notes), ".artifacts[].metadata.*")
	checkJSON(t, "verify", must("--json", "verify"))
	pkg := filepath.Join(dir, "IR-1.tar.gz")
	checkJSON(t, "export", must("--json", "export", "--case", "IR-1", "--out", pkg))
	checkJSON(t, "verify --bundle", must("--json", "verify", "--bundle", pkg))

	checkJSON(t, "collect --once", must("--json", "collect", "--once"))
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`, src)
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(src), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	must("collect", "--once", "--collector", "posture")
	// A setting's value is AWS's own document (a bucket policy, a public
	// access block), with AWS's key names.
	pd := checkJSON(t, "posture diff", must("--json", "posture", "diff", "--bucket", src, "--since", "1h"),
		".changes[].before.value.**", ".changes[].after.value.**")
	changes, _ := field(pd, "changes").([]any)
	var policyChange any
	for _, ch := range changes {
		if field(ch, "setting") == "policy" {
			policyChange = ch
		}
	}
	// The setting's values are JSON, not JSON in strings.
	if _, ok := field(policyChange, "after").(map[string]any); !ok || field(pd, "bucket") != src {
		t.Errorf("posture diff --json: the policy's new value is not an object: %v", pd)
	}
	li := checkJSON(t, "ledger info", must("--json", "ledger", "info"))
	if field(li, "path") != dir+"/ledger.db" {
		t.Errorf("ledger info --json: %v", li)
	}

	// cloudtrail validate, over a generated trail and its saved keys.
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tr := cttest.Trail{Bucket: testaws.CreateBucket(t, c, testaws.BucketOptions{}), Account: "123456789012", Region: "us-east-1",
		Name: "main", Start: start, Hours: 2, LogsPerHour: 1}
	w, err := cttest.Write(ctx, c, tr)
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "keys.json")
	b, _ := cloudtrail.MarshalPublicKeys(w.Keys)
	writeConfig(t, keys, string(b))
	checkJSON(t, "cloudtrail validate", must("--json", "cloudtrail", "validate", "--bucket", tr.Bucket, "--account", tr.Account,
		"--region", tr.Region, "--trail", tr.Name, "--start", start.Format(time.RFC3339), "--end", start.Add(2*time.Hour).Format(time.RFC3339),
		"--public-keys", keys))
}
