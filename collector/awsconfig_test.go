package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cs "github.com/aws/aws-sdk-go-v2/service/configservice"
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
