package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// detectorFinding enables Security Hub in the caller's account and region
// (already enabled is fine) and imports a HIGH finding naming bucket, as
// GuardDuty's S3 protection would report an exfiltration.
func detectorFinding(ctx context.Context, cfg aws.Config, bucket string) error {
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("GetCallerIdentity: %w", err)
	}
	account := aws.ToString(id.Account)
	sh := securityhub.NewFromConfig(cfg)
	if _, err := sh.EnableSecurityHub(ctx, &securityhub.EnableSecurityHubInput{}); err != nil {
		return fmt.Errorf("EnableSecurityHub: %w", err)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	out, err := sh.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: []shtypes.AwsSecurityFinding{{
		SchemaVersion: aws.String("2018-10-08"), Id: aws.String("demo-exfiltration-" + bucket), AwsAccountId: aws.String(account),
		ProductArn:  aws.String("arn:aws:securityhub:" + cfg.Region + "::product/aws/guardduty"),
		GeneratorId: aws.String("arn:aws:guardduty:" + cfg.Region + ":" + account + ":detector/demo"),
		Types:       []string{"TTPs/Exfiltration/Exfiltration:S3-AnomalousBehavior"}, CreatedAt: aws.String(now), UpdatedAt: aws.String(now),
		Severity: &shtypes.Severity{Label: shtypes.SeverityLabelHigh}, Title: aws.String("Anomalous GetObject calls on " + bucket),
		Description: aws.String("An access key read an unusual number of objects of the bucket."),
		Resources:   []shtypes.Resource{{Type: aws.String("AwsS3Bucket"), Id: aws.String("arn:aws:s3:::" + bucket)}},
	}}})
	if err != nil {
		return fmt.Errorf("BatchImportFindings: %w", err)
	}
	if aws.ToInt32(out.FailedCount) != 0 {
		return fmt.Errorf("BatchImportFindings refused the finding: %+v", out.FailedFindings)
	}
	fmt.Printf("Security Hub: a HIGH finding on s3://%s in account %s\n", bucket, account)
	return nil
}
