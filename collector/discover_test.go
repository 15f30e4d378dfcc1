package collector

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/testaws"
)

// TestDiscoverTrails runs against moto's CloudTrail and Organizations.
func TestDiscoverTrails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testaws.Require(t)
	cfg := e.Config(t)
	// moto checks that a trail's bucket exists in its own S3.
	motoS3 := s3.NewFromConfig(cfg.AWS, func(o *s3.Options) { o.BaseEndpoint = aws.String(e.Endpoint); o.UsePathStyle = true })
	bucket := testaws.BucketName(t)
	if _, err := motoS3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	c := ct.NewFromConfig(cfg.AWS)
	org := organizations.NewFromConfig(cfg.AWS)
	if _, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		if _, derr := org.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}); derr != nil {
			t.Fatal(err)
		}
	}
	name := "trail-" + bucket[len(bucket)-8:]
	if _, err := c.CreateTrail(ctx, &ct.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String(bucket), S3KeyPrefix: aws.String("ct"),
		IsMultiRegionTrail: aws.Bool(true), IsOrganizationTrail: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	trails, err := DiscoverTrails(ctx, c, org)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := org.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	for _, tr := range trails {
		if tr.Name == name {
			if tr.Bucket != bucket || tr.Prefix != "ct" || tr.HomeRegion != e.Region || tr.OrgID != aws.ToString(o.Organization.Id) {
				t.Fatalf("discovered %+v", tr)
			}
			return
		}
	}
	t.Fatalf("trail %s not discovered in %+v", name, trails)
}
