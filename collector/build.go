package collector

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cs "github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/collector/cloudtrail"
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
		if cfg.Schedules.CloudTrail != "" {
			cts, err := trailCollectors(ctx, ac, acct, cfg, l, now)
			if err != nil {
				return nil, err
			}
			out = append(out, cts...)
		}
		if cfg.Schedules.Config != "" {
			for _, region := range acct.Regions {
				rc := ac.WithRegion(region)
				out = append(out, &AWSConfig{S3: rc.S3(), API: cs.NewFromConfig(rc.AWS), Ledger: l, Account: acct.ID, Region: region,
					Delivery: acct.ConfigBuckets, Deliver: acct.DeliverConfigSnapshots, Prefix: cfg.Store.Prefix, Now: now})
			}
		}
		for _, bucket := range acct.Buckets {
			region, err := bucketRegion(ctx, ac.S3(), bucket, acct.Regions)
			if err != nil {
				return nil, err
			}
			c := ac.WithRegion(region).S3()
			if cfg.Schedules.Posture != "" {
				out = append(out, &Posture{API: c, AccountAPI: ac.WithRegion(region).S3Control(), Ledger: l, Bucket: bucket, Account: acct.ID, Region: region, Prefix: cfg.Store.Prefix, Now: now})
			}
			if cfg.Schedules.Versions != "" {
				v := &Versions{API: c, Bucket: bucket, Account: acct.ID, Region: region, Prefix: cfg.Store.Prefix, Now: now, Split: acct.VersionsSplit}
				for _, inv := range acct.Inventories {
					if inv.Bucket == bucket {
						v.Inventory = &Inventory{API: ac.S3(), Bucket: inv.ReportBucket, Prefix: inv.ReportPrefix}
					}
				}
				out = append(out, v)
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

// trailCollectors makes a CloudTrail collector per trail and region: the
// configured trails, or those DescribeTrails finds in each region.
func trailCollectors(ctx context.Context, ac awsclient.Config, acct config.Account, cfg config.Config, l *ledger.Ledger, now func() time.Time) ([]Collector, error) {
	var out []Collector
	for _, region := range acct.Regions {
		rc := ac.WithRegion(region)
		trails := acct.Trails
		if len(trails) == 0 {
			found, err := DiscoverTrails(ctx, ct.NewFromConfig(rc.AWS), organizations.NewFromConfig(rc.AWS))
			if err != nil {
				return nil, fmt.Errorf("account %s, %s: %w", acct.ID, region, err)
			}
			trails = found
		}
		keysAPI := ct.NewFromConfig(rc.AWS)
		for _, tr := range trails {
			bucketRegion, err := bucketRegion(ctx, rc.S3(), tr.Bucket, []string{region})
			if err != nil {
				return nil, err
			}
			out = append(out, &CloudTrail{
				S3: ac.WithRegion(bucketRegion).S3(), Ledger: l, Account: acct.ID, Region: region, Trail: tr, Prefix: cfg.Store.Prefix, Now: now,
				Keys: func(ctx context.Context, start, end time.Time) ([]cloudtrail.PublicKey, error) {
					return cloudtrail.FetchPublicKeys(ctx, keysAPI, start, end)
				},
			})
		}
	}
	return out, nil
}

// DiscoverTrails lists the trails that log the region (its own and
// multi-region ones, shadow trails included), with the organization id of
// organization trails.
func DiscoverTrails(ctx context.Context, c *ct.Client, org *organizations.Client) ([]config.Trail, error) {
	out, err := c.DescribeTrails(ctx, &ct.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		if awsclient.Permission(err) != "" {
			return nil, fmt.Errorf("DescribeTrails: %w, or list the trails in the config", awsclient.CollectorRole.Explain(err))
		}
		return nil, fmt.Errorf("DescribeTrails: %w (grant cloudtrail:DescribeTrails, or list the trails in the config)", err)
	}
	var trails []config.Trail
	orgID := ""
	for _, t := range out.TrailList {
		tr := config.Trail{Name: aws.ToString(t.Name), HomeRegion: aws.ToString(t.HomeRegion), Bucket: aws.ToString(t.S3BucketName), Prefix: aws.ToString(t.S3KeyPrefix)}
		if aws.ToBool(t.IsOrganizationTrail) {
			if orgID == "" {
				o, err := org.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
				if err != nil {
					return nil, fmt.Errorf("organization trail %s: DescribeOrganization: %w", tr.Name, awsclient.CollectorRole.Explain(err))
				}
				orgID = aws.ToString(o.Organization.Id)
			}
			tr.OrgID = orgID
		}
		trails = append(trails, tr)
	}
	return trails, nil
}
