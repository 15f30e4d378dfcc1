package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/custody-ir/custody/internal/testaws"
)

// TestIAMDiffThroughTheBinary: the binary collects an account's IAM state
// from a moto of the test's own, an access key and a trust of another
// account are added, and custody iam diff shows both, with the manifest
// that sealed them; everything verifies.
func TestIAMDiffThroughTheBinary(t *testing.T) {
	ctx := context.Background()
	e := testaws.Require(t)
	m := testaws.StartMoto(t)
	ic := iam.NewFromConfig(m.Anonymous(t).AWS)
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	trust := func(accounts ...string) *string {
		var ps []string
		for _, a := range accounts {
			ps = append(ps, fmt.Sprintf("%q", "arn:aws:iam::"+a+":root"))
		}
		return aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":[` + strings.Join(ps, ",") + `]},"Action":"sts:AssumeRole"}]}`)
	}
	if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("deploy"), AssumeRolePolicyDocument: trust("123456789012")}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := binRun{dir: dir, env: append(e.Environ(), "AWS_ENDPOINT_URL="+m.Endpoint, "CUSTODY_KEY_PASSPHRASE=pass")}
	if _, errOut, code := r.run(t, "keygen", "--out", filepath.Join(dir, "k.pem")); code != 0 {
		t.Fatal(errOut)
	}
	cfg := filepath.Join(dir, "custody.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`ledger: %[1]s/ledger.db
agent: {stream: iam-diff}
schedules: {cloudtrail: "", config: "", posture: "", versions: "", kms: "", findings: "", accesslogs: ""}
store: {bucket: %[2]s, retention: {mode: COMPLIANCE, days: 1}}
signer: {key: "file://%[1]s/k.pem"}
trust: [{name: k, key: "file://%[1]s/k.pub"}]
sources:
  accounts:
    - id: "123456789012"
      regions: [us-east-1]
`, dir, testaws.BucketName(t)))
	if _, errOut, code := r.run(t, "-c", cfg, "store", "init", "--yes"); code != 0 {
		t.Fatal(errOut)
	}
	if out, errOut, code := r.run(t, "-c", cfg, "collect", "--once"); code != 0 || !strings.Contains(out, "iam:123456789012") {
		t.Fatalf("collect --once: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := r.run(t, "-c", cfg, "iam", "diff", "--account", "123456789012"); code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("iam diff of the baseline: exit %d\n%s%s", code, out, errOut)
	}

	key, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ic.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("deploy"), PolicyDocument: trust("123456789012", "444455556666")}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := r.run(t, "-c", cfg, "collect", "--once", "--collector", "iam")
	if code != 0 || !strings.Contains(out, "iam:123456789012") {
		t.Fatalf("collect after the changes: exit %d\n%s%s", code, out, errOut)
	}
	keyID := aws.ToString(key.AccessKey.AccessKeyId)
	out, errOut, code = r.run(t, "-c", cfg, "iam", "diff", "--account", "123456789012", "--since", "1h")
	if code != 0 || !strings.Contains(out, "accessKey/alice/"+keyID) || !strings.Contains(out, "role/deploy/principal/AWS:arn:aws:iam::444455556666:root") ||
		!strings.Contains(out, "trusts account 444455556666") || !strings.Contains(out, "manifest iam-diff #") {
		t.Fatalf("iam diff: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = r.run(t, "-c", cfg, "--json", "iam", "diff", "--account", "123456789012")
	var res iamDiffResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || res.Account != "123456789012" || res.Since != nil {
		t.Fatalf("iam diff --json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	what := map[string]string{}
	for _, c := range res.Changes {
		what[c.Item] = c.What + " " + c.Change
		if c.Manifest == nil || c.Manifest.Stream != "iam-diff" || c.Manifest.Seq < 2 || c.RunID == "" {
			t.Errorf("change %s without its manifest: %+v", c.Item, c)
		}
	}
	if what["accessKey/alice/"+keyID] != "accessKey added" || what["role/deploy/principal/AWS:arn:aws:iam::444455556666:root"] != "trust added" ||
		what["role/deploy/trust"] != "trust changed" {
		t.Fatalf("iam diff --json changes: %v", what)
	}
	if out, errOut, code := r.run(t, "-c", cfg, "verify"); code != 0 || !strings.Contains(out, "2 manifest(s)") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = r.run(t, "-c", cfg, "iam", "diff", "--account", "999999999999")
	if code != 3 || !strings.Contains(errOut, "account 999999999999 is not monitored") || !strings.Contains(errOut, "123456789012") {
		t.Fatalf("iam diff of an unmonitored account: exit %d\n%s", code, errOut)
	}
	if _, _, code = r.run(t, "-c", cfg, "iam", "diff"); code != 2 {
		t.Fatalf("iam diff without --account: exit %d, want 2", code)
	}
}
