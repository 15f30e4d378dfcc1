package collector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cs "github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
)

// Kinds are the collector kinds, each with what it preserves, in the
// order the documentation and `custody collect --help` list them.
var Kinds = []struct{ Kind, Preserves string }{
	{"cloudtrail", "CloudTrail digests (validated), the log files they list and the public keys that sign them"},
	{"config", "AWS Config delivered files and the configuration history of buckets and IAM"},
	{"posture", "a bucket's security settings (policy, ACL, public access block, ...); changes are findings"},
	{"versions", "a bucket's list of every object version and delete marker (or its S3 Inventory)"},
	// [access logs kind]
	{"accesslogs", "a monitored bucket's S3 server access logs, and other log files delivered to S3"},
	// [iam kind]
	{"iam", "an account's IAM users, groups, roles, policies, credential report and access keys; changes are findings"},
	// [kms kind]
	{"kms", "the key policies, grants and rotation of the KMS keys monitored buckets and trails use; changes are findings"},
	// [findings kind]
	{"findings", "Security Hub and GuardDuty findings on the monitored accounts and buckets"},
	{"organization", "the organization's accounts (ListAccounts) and their status; accounts not active are findings"},
	// [end kinds]
}

// Discoverer stands for sources found only when a run is due (the trails
// DescribeTrails lists): Discover returns a collector for each. A
// discovery that fails is that source's failure alone: Discover (the
// function) turns it into a Failed collector under the discoverer's name,
// and nothing else waits on it.
type Discoverer interface {
	Collector
	Discover(ctx context.Context) ([]Collector, error)
}

// Failed is a source whose discovery failed. Running it records the
// discovery's error as that source's failed run, sealed like any other.
type Failed struct {
	Source Collector
	Err    error
}

func (f *Failed) Name() string { return f.Source.Name() }
func (f *Failed) Kind() string { return f.Source.Kind() }

// Collect stores nothing and returns the discovery's error.
func (f *Failed) Collect(context.Context, Run) (Outcome, error) {
	out := Outcome{Description: "discovering the sources of " + f.Name()}
	if d, ok := f.Source.(*TrailDiscovery); ok {
		out.Account, out.Region = d.Account, d.Region
	}
	return out, f.Err
}

// Plan makes the collectors the configuration describes, of the selected
// name or kind only (every one when only is empty): for every account
// (through its role, when one is given) and monitored bucket, a posture
// snapshot and a version list; for every region, AWS Config and the
// listed trails, or a TrailDiscovery when no trails are listed.
// Schedules say when each kind runs; a kind without one is left out.
// Plan looks up where buckets live (falling back to the account's first
// region), and only for the kinds selected; it never fails.
func Plan(ctx context.Context, base awsclient.Config, cfg config.Config, l *ledger.Ledger, now func() time.Time, only string) []Collector {
	want := func(kind string) bool { return only == "" || only == kind || strings.HasPrefix(only, kind+":") }
	var out []Collector
	for _, acct := range planOrganization(base, cfg, l, now, want, &out) {
		ac := base
		if acct.RoleARN != "" {
			ac = base.AssumeRole(acct.RoleARN, acct.ExternalID, awsclient.SessionName("collect", cfg.Agent.Stream))
		}
		if cfg.Schedules.CloudTrail != "" && want("cloudtrail") {
			for _, region := range acct.Regions {
				t := trails{aws: ac, account: acct.ID, region: region, prefix: cfg.Store.Prefix, ledger: l, now: now, buckets: acct.Buckets}
				if len(acct.Trails) == 0 {
					out = append(out, &TrailDiscovery{Account: acct.ID, Region: region, trails: t})
					continue
				}
				out = append(out, t.collectors(ctx, acct.Trails)...)
			}
		}
		if cfg.Schedules.Config != "" && want("config") {
			for _, region := range acct.Regions {
				rc := ac.WithRegion(region)
				out = append(out, &AWSConfig{S3: rc.S3(), API: cs.NewFromConfig(rc.AWS), Ledger: l, Account: acct.ID, Region: region,
					Delivery: acct.ConfigBuckets, Deliver: acct.DeliverConfigSnapshots, ResourceTypes: acct.ConfigResourceTypes, Prefix: cfg.Store.Prefix, Now: now})
			}
		}
		// Issue 14's collectors: each line below, under its marker, adds the
		// collectors of one kind for this account.
		// [access logs plan]
		out = append(out, planAccessLogs(ctx, ac, cfg, acct, l, cfg.Schedules.AccessLogs != "" && want("accesslogs"), now)...)
		// [iam plan]
		out = append(out, planIAM(cfg.Schedules.IAM != "" && want("iam"), ac, acct, cfg.Store.Prefix, l, now)...)
		// [kms plan]
		out = append(out, planKMS(ctx, cfg.Schedules.KMS != "" && want("kms"), ac, acct, cfg.Schedules.CloudTrail != "", cfg.Store.Prefix, l, now)...)
		// [findings plan]
		out = append(out, planDetectors(cfg.Schedules.Findings != "" && want("findings"), ac, acct, cfg.Store.Prefix, l, now)...)
		// [end plans]
		posture, versions := cfg.Schedules.Posture != "" && want("posture"), cfg.Schedules.Versions != "" && want("versions")
		if !posture && !versions {
			continue
		}
		for _, bucket := range acct.Buckets {
			region := bucketRegion(ctx, ac.S3(), bucket, firstRegion(acct.Regions, ac.AWS.Region))
			c := ac.WithRegion(region).S3()
			if posture {
				out = append(out, &Posture{API: c, AccountAPI: ac.WithRegion(region).S3Control(), Ledger: l, Bucket: bucket, Account: acct.ID, Region: region, Prefix: cfg.Store.Prefix, Now: now})
			}
			if versions {
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
	return out
}

// Discover replaces every Discoverer in cs by the collectors it finds. One
// whose discovery fails becomes a Failed collector under its own name, so
// that the failure is reported, sealed and counted as that source's, and
// the other collectors run all the same.
func Discover(ctx context.Context, cs []Collector) []Collector {
	var out []Collector
	for _, c := range cs {
		d, ok := c.(Discoverer)
		if !ok {
			out = append(out, c)
			continue
		}
		found, err := d.Discover(ctx)
		if err != nil {
			out = append(out, &Failed{Source: d, Err: err})
			continue
		}
		out = append(out, found...)
	}
	return out
}

// Resolve selects the collectors of a name or kind (all when empty) and
// runs the discovery of those alone.
func Resolve(ctx context.Context, cs []Collector, name string) []Collector {
	return Select(Discover(ctx, Select(cs, name)), name)
}

// bucketRegion asks S3 where a bucket lives; without the permission (or
// an answer), the account's first configured region is assumed.
func bucketRegion(ctx context.Context, c *s3.Client, bucket, fallback string) string {
	out, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(bucket)})
	if err != nil {
		return fallback
	}
	if out.LocationConstraint == "" {
		return "us-east-1"
	}
	return string(out.LocationConstraint)
}

func firstRegion(regions []string, fallback string) string {
	if len(regions) > 0 {
		return regions[0]
	}
	return fallback
}

// Select returns the collectors whose name or kind is name (all when
// empty). A source still to be discovered (or whose discovery failed) is
// kept for the name of anything it may find: "cloudtrail:<account>/<region>"
// for "cloudtrail:<account>/<region>/<trail>".
func Select(cs []Collector, name string) []Collector {
	if name == "" {
		return cs
	}
	var out []Collector
	for _, c := range cs {
		_, discovers := c.(Discoverer)
		if f, ok := c.(*Failed); ok {
			_, discovers = f.Source.(Discoverer)
		}
		if c.Name() == name || c.Kind() == name || (discovers && strings.HasPrefix(name, c.Name()+"/")) {
			out = append(out, c)
		}
	}
	return out
}

// trails makes the CloudTrail collectors of one account and region.
type trails struct {
	aws             awsclient.Config
	account, region string
	prefix          string
	ledger          *ledger.Ledger
	now             func() time.Time
	buckets         []string // the account's monitored buckets
}

func (t trails) collectors(ctx context.Context, list []config.Trail) []Collector {
	rc := t.aws.WithRegion(t.region)
	keysAPI := ct.NewFromConfig(rc.AWS)
	statusAPI := func(region string) TrailStatusAPI { return ct.NewFromConfig(t.aws.WithRegion(region).AWS) }
	var out []Collector
	for _, tr := range list {
		bucketRegion := bucketRegion(ctx, rc.S3(), tr.Bucket, t.region)
		lookback, _ := tr.LookbackPeriod() // validated with the configuration
		out = append(out, &CloudTrail{
			S3: t.aws.WithRegion(bucketRegion).S3(), Ledger: t.ledger, Account: t.account, Region: t.region, Trail: tr, Prefix: t.prefix, Now: t.now,
			Keys: func(ctx context.Context, start, end time.Time) ([]cloudtrail.PublicKey, error) {
				return cloudtrail.FetchPublicKeys(ctx, keysAPI, start, end)
			},
			Lookback: lookback, TrailAPI: statusAPI, Buckets: t.buckets,
		})
	}
	return out
}

// TrailDiscovery stands for the trails of an account's region when the
// configuration lists none: DescribeTrails finds them when a run is due.
type TrailDiscovery struct {
	Account, Region string
	trails          trails
}

var _ Discoverer = (*TrailDiscovery)(nil)

func (d *TrailDiscovery) Name() string { return "cloudtrail:" + d.Account + "/" + d.Region }
func (d *TrailDiscovery) Kind() string { return "cloudtrail" }

// errDiscoverer is what running a discoverer as a collector returns: its
// trails are collected by the collectors Discover returns.
var errDiscoverer = errors.New("trails are collected by the collectors their discovery returns, not by the discovery")

// Collect discovers the trails, so that a run of the discoverer reports a
// failed discovery as its own, and otherwise fails: the trails are
// collected by what Discover returns.
func (d *TrailDiscovery) Collect(ctx context.Context, _ Run) (Outcome, error) {
	out := Outcome{Account: d.Account, Region: d.Region, Description: "discovering the trails of " + d.Name()}
	if _, err := d.Discover(ctx); err != nil {
		return out, err
	}
	return out, errDiscoverer
}

// Discover lists the region's trails (DescribeTrails) and makes a
// collector for each, and for each trail an earlier discovery found that
// is gone, until its deletion is reported (rememberTrails).
func (d *TrailDiscovery) Discover(ctx context.Context) ([]Collector, error) {
	rc := d.trails.aws.WithRegion(d.Region)
	found, err := DiscoverTrails(ctx, ct.NewFromConfig(rc.AWS), organizations.NewFromConfig(rc.AWS))
	if err != nil {
		return nil, fmt.Errorf("account %s, %s: %w", d.Account, d.Region, err)
	}
	if found, err = rememberTrails(ctx, d.trails.ledger, d.Account+"/"+d.Region, found); err != nil {
		return nil, fmt.Errorf("account %s, %s: %w", d.Account, d.Region, err)
	}
	return d.trails.collectors(ctx, found), nil
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
