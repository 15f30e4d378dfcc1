package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cs "github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

func TestAWSConfigCollector(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	le := testaws.Require(t)
	delivery := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{})
	now := time.Now().UTC()
	keys, err := cttest.ConfigDelivery(ctx, e.s3, delivery, "config", "123456789012", "us-east-1", now.Add(-48*time.Hour), 3)
	if err != nil {
		t.Fatal(err)
	}
	// A bucket in moto's S3, for moto's Config to discover. (moto's IAM
	// configuration items carry times as strings, which no SDK decodes.)
	awsCfg := le.Config(t).AWS
	role := testaws.BucketName(t)
	motoS3 := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(le.Endpoint); o.UsePathStyle = true })
	if _, err := motoS3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(role)}); err != nil {
		t.Fatal(err)
	}
	col := &AWSConfig{S3: e.s3, API: cs.NewFromConfig(awsCfg), Ledger: e.Ledger, Account: "123456789012", Region: "us-east-1",
		Delivery: []config.BucketPrefix{{Bucket: delivery, Prefix: "config"}}, ResourceTypes: []string{"AWS::S3::Bucket"},
		Prefix: "custody", Now: time.Now, Lookback: 72 * time.Hour}
	res, err := RunOne(ctx, e.Chain, col)
	if err != nil {
		t.Fatal(err)
	}
	if res.Artifacts != len(keys)+1 {
		t.Fatalf("first run stored %d artifacts, want %d files and the role history", res.Artifacts, len(keys)+1)
	}
	// Incremental: nothing new in the bucket, only the history artifact.
	res, err = RunOne(ctx, e.Chain, col)
	if err != nil || res.Artifacts != 1 {
		t.Fatalf("second run stored %d artifacts, %v", res.Artifacts, err)
	}
	r := e.verify(t)
	found := false
	for _, m := range r.Manifests {
		for _, s := range m.Subjects() {
			if s.Annotations.Kind == "config-history" {
				zr, err := gzip.NewReader(bytes.NewReader(e.read(t, s.Name)))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(zr)
				found = found || strings.Contains(string(b), role)
			}
			if s.Annotations.Kind == "config-file" && !strings.Contains(s.Name, "/AWSLogs/123456789012/Config/us-east-1/") {
				t.Errorf("config file stored at %s", s.Name)
			}
		}
	}
	if !found {
		t.Fatalf("the role's configuration history was not preserved")
	}
}

// The types an account's config_resource_types lists are the ones whose
// history is preserved; the default is the S3, IAM and KMS types.
func TestAWSConfigResourceTypesConfigured(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	le := testaws.Require(t)
	acct := randomAccount(t)
	ac := accountConfig(t, le, acct)
	role, bucket := "t-config-types-role", testaws.BucketName(t)
	if _, err := iam.NewFromConfig(ac.AWS).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)}); err != nil {
		t.Fatal(err)
	}
	motoS3 := s3.NewFromConfig(ac.AWS, func(o *s3.Options) { o.BaseEndpoint = aws.String(le.Endpoint); o.UsePathStyle = true })
	if _, err := motoS3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{Store: e.store, Schedules: config.Schedules{Config: "@hourly"}, Sources: config.Sources{Accounts: []config.Account{{
		ID: acct, RoleARN: "arn:aws:iam::" + acct + ":role/custody-collector", Regions: []string{"us-east-1"},
		ConfigResourceTypes: []string{"AWS::IAM::Role"},
	}}}}
	plan := func(cfg config.Config) *AWSConfig {
		t.Helper()
		cs := Plan(ctx, le.Config(t), cfg, e.Ledger, time.Now, "config")
		if len(cs) != 1 {
			t.Fatalf("planned %d collectors, want the one config collector", len(cs))
		}
		return cs[0].(*AWSConfig)
	}
	res, err := RunOne(ctx, e.Chain, plan(cfg))
	if err != nil {
		t.Fatal(err)
	}
	histories := map[string]string{}
	for _, m := range e.verify(t).Manifests {
		if m.Sequence != res.Manifest {
			continue
		}
		for _, s := range m.Subjects() {
			if s.Annotations.Kind == "config-history" {
				zr, err := gzip.NewReader(bytes.NewReader(e.read(t, s.Name)))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(zr)
				histories[s.Annotations.Source] = string(b)
			}
		}
	}
	if len(histories) != 1 || !strings.Contains(histories["config:GetResourceConfigHistory/AWS::IAM::Role"], role) {
		t.Fatalf("histories preserved: %v; want the configured AWS::IAM::Role alone, with the role, and not the bucket", histories)
	}

	cfg.Sources.Accounts[0].ConfigResourceTypes = nil
	if got := plan(cfg).ResourceTypes; len(got) != 0 {
		t.Fatalf("no types configured, yet the collector was given %v instead of the default", got)
	}
	for _, want := range []string{"AWS::S3::Bucket", "AWS::S3::AccountPublicAccessBlock", "AWS::IAM::User", "AWS::IAM::Group", "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::KMS::Key"} {
		if !slices.Contains(DefaultResourceTypes, want) {
			t.Errorf("the default types lack %s", want)
		}
	}
}
