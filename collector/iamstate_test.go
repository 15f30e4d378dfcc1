package collector

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/testaws"
)

const testPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`

func trustDoc(principals ...string) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"AWS": principals}, "Action": "sts:AssumeRole"}}})
	return string(b)
}

// countKinds counts a run's findings by kind.
func countKinds(fs []custody.Finding) map[custody.Kind]int {
	out := map[custody.Kind]int{}
	for _, f := range fs {
		out[f.Kind]++
	}
	return out
}

func findingOf(t *testing.T, fs []custody.Finding, kind custody.Kind) custody.Finding {
	t.Helper()
	for _, f := range fs {
		if f.Kind == kind {
			return f
		}
	}
	t.Fatalf("no %s finding among %v", kind, fs)
	return custody.Finding{}
}

// TestIAMStateSnapshotsAndChanges: an account's IAM state in moto is
// collected, sealed and verified; a second run sees no change; a new
// access key, a new user, a role trusting another account and a new
// policy version are each a finding, recorded in the ledger.
func TestIAMStateSnapshotsAndChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	m := testaws.StartMoto(t)
	ic := iam.NewFromConfig(m.Anonymous(t).AWS)
	mustDo(t, "create alice", func() error {
		_, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")})
		return err
	})
	mustDo(t, "alice's key", func() error {
		_, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
		return err
	})
	mustDo(t, "alice's inline policy", func() error {
		_, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("read"), PolicyDocument: aws.String(testPolicy)})
		return err
	})
	mustDo(t, "deploy role", func() error {
		_, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("deploy"), AssumeRolePolicyDocument: aws.String(trustDoc("arn:aws:iam::123456789012:root"))})
		return err
	})
	pol, err := ic.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("readers"), PolicyDocument: aws.String(testPolicy)})
	if err != nil {
		t.Fatal(err)
	}
	c := &IAMState{API: ic, Ledger: e.Ledger, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now, Poll: 50 * time.Millisecond}
	res, err := RunOne(ctx, e.Chain, c)
	if err != nil || res.Artifacts != 2 {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	if len(res.Found) != 0 {
		t.Fatalf("first run (the baseline) found %v", res.Found)
	}
	r := e.verify(t)
	var snap IAMSnapshot
	if err := json.Unmarshal(e.read(t, artifactKey(t, r, "iam")), &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Users) != 1 || snap.Users[0].Name != "alice" || len(snap.Users[0].AccessKeys) != 1 || snap.Users[0].AccessKeys[0].Status != "Active" {
		t.Fatalf("users: %+v", snap.Users)
	}
	if got := string(snap.Users[0].InlinePolicies["read"]); !strings.Contains(got, `"s3:GetObject"`) {
		t.Fatalf("alice's inline policy, decoded: %s", got)
	}
	if len(snap.Roles) != 1 || strings.Join(snap.Roles[0].TrustedPrincipals, ",") != "AWS:arn:aws:iam::123456789012:root" {
		t.Fatalf("roles: %+v", snap.Roles)
	}
	if len(snap.Policies) != 1 || snap.Policies[0].ARN != aws.ToString(pol.Policy.Arn) || !strings.Contains(string(snap.Policies[0].Document), "s3:GetObject") {
		t.Fatalf("policies: %+v", snap.Policies)
	}
	if snap.CredentialReport == nil || len(snap.CredentialReport.Rows) != 1 || snap.CredentialReport.Rows[0]["user"] != "alice" {
		t.Fatalf("credential report: %+v", snap.CredentialReport)
	}
	if csv := string(e.read(t, artifactKey(t, r, "iam-credential-report"))); !strings.HasPrefix(csv, "user,arn,") || !strings.Contains(csv, "\nalice,") {
		t.Fatalf("credential report sealed as:\n%s", csv)
	}

	// Nothing changed: nothing found.
	if res, err := RunOne(ctx, e.Chain, c); err != nil || len(res.Found) != 0 {
		t.Fatalf("second run: %+v, %v, found %v", res, err, res.Found)
	}

	// The changes an intruder makes.
	key, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, "create mallory", func() error {
		_, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("mallory")})
		return err
	})
	mustDo(t, "trust another account", func() error {
		_, err := ic.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("deploy"),
			PolicyDocument: aws.String(trustDoc("arn:aws:iam::123456789012:root", "arn:aws:iam::999988887777:root"))})
		return err
	})
	mustDo(t, "new policy version", func() error {
		_, err := ic.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: pol.Policy.Arn, SetAsDefault: true,
			PolicyDocument: aws.String(strings.ReplaceAll(testPolicy, "s3:GetObject", "s3:*"))})
		return err
	})

	mustDo(t, "attach a policy to the role", func() error {
		_, err := ic.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("deploy"), PolicyArn: pol.Policy.Arn})
		return err
	})

	// A run killed after collecting, before sealing: the baseline stays.
	run, err := e.Chain.StartRun(ctx, c.Kind())
	if err != nil {
		t.Fatal(err)
	}
	if out, err := c.Collect(ctx, run); err != nil || len(out.Findings) == 0 {
		t.Fatalf("collect (then killed): %v, %v", out.Findings, err)
	}
	if n, err := e.Chain.Reseal(ctx); err != nil || n != 2 { // the snapshot and the credential report
		t.Fatalf("reseal of the killed run: %d, %v", n, err)
	}

	res, err = RunOne(ctx, e.Chain, c)
	if err != nil {
		t.Fatal(err)
	}
	kinds := countKinds(res.Found)
	if kinds[finding.IAMAccessKeyNew] != 1 || kinds[finding.IAMUserNew] != 1 || kinds[finding.IAMTrustNew] != 1 || kinds[finding.IAMPolicyChange] != 2 || len(res.Found) != 5 {
		t.Fatalf("findings after the changes: %v", res.Found)
	}
	if f := findingOf(t, res.Found, finding.IAMAccessKeyNew); !strings.Contains(f.Message, aws.ToString(key.AccessKey.AccessKeyId)) || strings.Contains(f.Message, aws.ToString(key.AccessKey.SecretAccessKey)) {
		t.Fatalf("access key finding: %v", f)
	}
	if f := findingOf(t, res.Found, finding.IAMTrustNew); f.Severity != custody.SeverityFailure || !strings.Contains(f.Message, "999988887777") {
		t.Fatalf("trust finding: %v", f)
	}
	if f := findingOf(t, res.Found, finding.IAMUserNew); !strings.Contains(f.Message, "mallory") {
		t.Fatalf("user finding: %v", f)
	}
	changes, err := e.Ledger.StateChanges(ctx, "iam", "123456789012", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	items := map[string]string{}
	for _, ch := range changes {
		items[ch.Item] = ch.Change
		if ch.Seq == 0 || ch.Stream != e.Chain.Stream() {
			t.Errorf("change %s not linked to its manifest: %+v", ch.Item, ch)
		}
	}
	for _, want := range []string{"accessKey/alice/" + aws.ToString(key.AccessKey.AccessKeyId), "user/mallory", "role/deploy/principal/AWS:arn:aws:iam::999988887777:root",
		"role/deploy/trust", "role/deploy/attached", "policy/" + aws.ToString(pol.Policy.Arn)} {
		if items[want] == "" {
			t.Errorf("ledger lacks the change of %s: %v", want, items)
		}
	}
	if f := findingOf(t, res.Found, finding.IAMTrustNew); f.Remedy == "" {
		t.Errorf("trust finding has no remedy: %v", f)
	}

	// Seen once: the next run finds nothing.
	if res, err := RunOne(ctx, e.Chain, c); err != nil || len(res.Found) != 0 {
		t.Fatalf("run after the changes: %v, found %v", err, res.Found)
	}
	e.verify(t)
}
