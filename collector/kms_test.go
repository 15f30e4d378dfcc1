package collector

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/testaws"
)

func TestBucketKeyIDs(t *testing.T) {
	rule := func(alg s3types.ServerSideEncryption, key string) s3types.ServerSideEncryptionRule {
		d := &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: alg}
		if key != "" {
			d.KMSMasterKeyID = aws.String(key)
		}
		return s3types.ServerSideEncryptionRule{ApplyServerSideEncryptionByDefault: d}
	}
	out := func(rules ...s3types.ServerSideEncryptionRule) *s3.GetBucketEncryptionOutput {
		return &s3.GetBucketEncryptionOutput{ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: rules}}
	}
	arn := "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, c := range []struct {
		name string
		in   *s3.GetBucketEncryptionOutput
		want string
	}{
		{"none", nil, ""},
		{"SSE-S3", out(rule(s3types.ServerSideEncryptionAes256, "")), ""},
		{"SSE-KMS by ARN", out(rule(s3types.ServerSideEncryptionAwsKms, arn)), arn},
		{"SSE-KMS by alias", out(rule(s3types.ServerSideEncryptionAwsKms, "alias/data")), "alias/data"},
		{"SSE-KMS, the AWS managed key", out(rule(s3types.ServerSideEncryptionAwsKms, "")), "alias/aws/s3"},
		{"DSSE-KMS", out(rule(s3types.ServerSideEncryptionAwsKmsDsse, "k1")), "k1"},
		{"twice the same", out(rule(s3types.ServerSideEncryptionAwsKms, "k1"), rule(s3types.ServerSideEncryptionAwsKms, "k1")), "k1"},
		{"a rule without a default", out(s3types.ServerSideEncryptionRule{}), ""},
	} {
		if got := strings.Join(BucketKeyIDs(c.in), ","); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestKMSKeysSnapshotsAndChanges: the keys a bucket (by alias), a trail
// and the configuration (by ARN) use, in moto, are collected, sealed and
// verified; a second run sees no change; a key policy opened to another
// account, a grant, rotation turned off and a deletion scheduled are each
// a finding.
func TestKMSKeysSnapshotsAndChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	m := testaws.StartMoto(t)
	setup := m.Anonymous(t)
	kc := kms.NewFromConfig(setup.AWS)
	newKey := func(desc string) string {
		k, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String(desc)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(k.KeyMetadata.Arn)
	}
	bucketKey, configKey, trailKey := newKey("bucket"), newKey("config"), newKey("trail")
	mustDo(t, "alias", func() error {
		_, err := kc.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/customer-data"), TargetKeyId: aws.String(bucketKey)})
		return err
	})
	mustDo(t, "rotation", func() error {
		_, err := kc.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(bucketKey)})
		return err
	})
	src := setup.S3()
	mustDo(t, "bucket", func() error {
		_, err := src.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("customer-data")})
		return err
	})
	mustDo(t, "bucket encryption", func() error {
		_, err := src.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String("customer-data"), ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{
			Rules: []s3types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{
				SSEAlgorithm: s3types.ServerSideEncryptionAwsKms, KMSMasterKeyID: aws.String("alias/customer-data")}}}}})
		return err
	})
	mustDo(t, "trail bucket", func() error {
		_, err := src.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("trail-logs")})
		return err
	})
	trails := ct.NewFromConfig(setup.AWS)
	mustDo(t, "trail", func() error {
		_, err := trails.CreateTrail(ctx, &ct.CreateTrailInput{Name: aws.String("main"), S3BucketName: aws.String("trail-logs"), KmsKeyId: aws.String(trailKey)})
		return err
	})

	c := &KMSKeys{API: kc, S3: src, Trails: trails, Buckets: []string{"customer-data"}, Keys: []string{configKey},
		Ledger: e.Ledger, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now}
	res, err := RunOne(ctx, e.Chain, c)
	if err != nil || res.Artifacts != 1 || len(res.Found) != 0 {
		t.Fatalf("first run: %+v, %v, found %v", res, err, res.Found)
	}
	r := e.verify(t)
	var snap KMSSnapshot
	if err := json.Unmarshal(e.read(t, artifactKey(t, r, "kms")), &snap); err != nil {
		t.Fatal(err)
	}
	used := map[string]string{}
	for _, k := range snap.Keys {
		used[k.ARN] = strings.Join(k.UsedBy, ",")
		for name, s := range map[string]Setting{"metadata": k.Metadata, "policy": k.Policy, "grants": k.Grants, "rotation": k.Rotation} {
			if s.State != StatePresent {
				t.Errorf("key %s: %s %+v", k.ARN, name, s)
			}
		}
	}
	if len(snap.Keys) != 3 || used[bucketKey] != "s3://customer-data" || used[trailKey] != "cloudtrail:main" || used[configKey] != "config" {
		t.Fatalf("keys and their uses: %v (uses %+v)", used, snap.Uses)
	}

	if res, err := RunOne(ctx, e.Chain, c); err != nil || len(res.Found) != 0 {
		t.Fatalf("second run: %v, found %v", err, res.Found)
	}

	// The changes: the bucket's key opened to another account with its
	// rotation off, a grant on the configured key, the trail's key
	// scheduled for deletion.
	pol, err := kc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(bucketKey), PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(pol.Policy)), &doc); err != nil {
		t.Fatal(err)
	}
	doc["Statement"] = append(doc["Statement"].([]any), map[string]any{"Sid": "Outsider", "Effect": "Allow",
		"Principal": map[string]any{"AWS": "arn:aws:iam::999988887777:root"}, "Action": "kms:Decrypt", "Resource": "*"})
	opened, _ := json.Marshal(doc)
	mustDo(t, "put key policy", func() error {
		_, err := kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(bucketKey), PolicyName: aws.String("default"), Policy: aws.String(string(opened))})
		return err
	})
	mustDo(t, "disable rotation", func() error {
		_, err := kc.DisableKeyRotation(ctx, &kms.DisableKeyRotationInput{KeyId: aws.String(bucketKey)})
		return err
	})
	mustDo(t, "create grant", func() error {
		_, err := kc.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(configKey), GranteePrincipal: aws.String("arn:aws:iam::999988887777:root"),
			Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}})
		return err
	})
	mustDo(t, "schedule deletion", func() error {
		// By key id: moto 5.2.1 fails (500) on a key ARN, which AWS takes.
		id := trailKey[strings.LastIndex(trailKey, "/")+1:]
		_, err := kc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
		return err
	})

	// A run killed after collecting, before sealing: the baseline stays,
	// and what it stored is resealed once.
	run, err := e.Chain.StartRun(ctx, c.Kind())
	if err != nil {
		t.Fatal(err)
	}
	if out, err := c.Collect(ctx, run); err != nil || len(out.Findings) != 4 {
		t.Fatalf("collect (then killed): %v, %v", out.Findings, err)
	}
	if n, err := e.Chain.Reseal(ctx); err != nil || n != 1 {
		t.Fatalf("reseal of the killed run: %d, %v", n, err)
	}

	res, err = RunOne(ctx, e.Chain, c)
	if err != nil {
		t.Fatal(err)
	}
	byMsg := map[string]custody.Finding{}
	for _, f := range res.Found {
		if f.Kind != finding.KMSKeyChange {
			t.Errorf("unexpected finding %v", f)
		}
		byMsg[f.Object+" "+strings.SplitN(f.Message, " (", 2)[0]] = f
	}
	for _, want := range []struct {
		key, msg string
		sev      custody.Severity
	}{
		{bucketKey, "key policy changed", custody.SeverityFailure},
		{bucketKey, "automatic key rotation turned off", custody.SeverityWarning},
		{trailKey, "key state now PendingDeletion", custody.SeverityFailure},
	} {
		f, ok := byMsg["kms:"+want.key+" "+want.msg]
		if !ok || f.Severity != want.sev {
			t.Errorf("no %s finding %q on %s: %v", want.sev, want.msg, want.key, res.Found)
		}
	}
	grants := 0
	for _, f := range res.Found {
		if f.Object == "kms:"+configKey && strings.HasPrefix(f.Message, "grant ") && f.Severity == custody.SeverityFailure && strings.Contains(f.Message, "999988887777") {
			grants++
		}
	}
	if grants != 1 || len(res.Found) != 4 {
		t.Fatalf("findings after the changes: %v", res.Found)
	}
	if res, err := RunOne(ctx, e.Chain, c); err != nil || len(res.Found) != 0 {
		t.Fatalf("run after the changes: %v, found %v", err, res.Found)
	}
	changes, err := e.Ledger.StateChanges(ctx, "kms", "123456789012/us-east-1", time.Time{})
	if err != nil || len(changes) != 4 {
		t.Fatalf("ledger changes: %+v, %v", changes, err)
	}
	e.verify(t)
}
