package collector

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/custody/awsclient"
	"github.com/custody-ir/custody/custody/config"
	"github.com/custody-ir/custody/custody/ledger"
)

// Build makes the collectors the configuration describes: for every
// account (through its role, when one is given) and monitored bucket, a
// posture snapshot and a version list. Schedules say when each kind runs.
func Build(ctx context.Context, base awsclient.Config, cfg config.Config, l *ledger.Ledger, now func() time.Time) ([]Collector, error) {
	var out []Collector
	for _, acct := range cfg.Sources.Accounts {
		ac := base
		if acct.RoleARN != "" {
			ac = base.AssumeRole(acct.RoleARN, acct.ExternalID, awsclient.SessionName("collect", cfg.Agent.Stream))
		}
		for _, bucket := range acct.Buckets {
			region, err := bucketRegion(ctx, ac.S3(), bucket, acct.Regions)
			if err != nil {
				return nil, err
			}
			c := ac.WithRegion(region).S3()
			if cfg.Schedules.Posture != "" {
				out = append(out, &Posture{API: c, Ledger: l, Bucket: bucket, Account: acct.ID, Region: region, Prefix: cfg.Store.Prefix, Now: now})
			}
			if cfg.Schedules.Versions != "" {
				out = append(out, &Versions{API: c, Bucket: bucket, Account: acct.ID, Region: region, Prefix: cfg.Store.Prefix, Now: now})
			}
		}
	}
	return out, nil
}

// bucketRegion asks S3 where a bucket lives; without the permission, the
// account's first configured region is assumed.
func bucketRegion(ctx context.Context, c *s3.Client, bucket string, regions []string) (string, error) {
	out, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(bucket)})
	if err != nil {
		if len(regions) > 0 {
			return regions[0], nil
		}
		return "", fmt.Errorf("locate bucket %s: %w", bucket, err)
	}
	if out.LocationConstraint == "" {
		return "us-east-1", nil
	}
	return string(out.LocationConstraint), nil
}

// Select returns the collectors whose name or kind is name (all when empty).
func Select(cs []Collector, name string) []Collector {
	if name == "" {
		return cs
	}
	var out []Collector
	for _, c := range cs {
		if c.Name() == name || c.Kind() == name {
			out = append(out, c)
		}
	}
	return out
}
