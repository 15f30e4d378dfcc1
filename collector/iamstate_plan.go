package collector

import (
	"context"
	"strings"
	"time"

	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
)

// planIAM makes the account's IAM state collector, when on (scheduled and
// selected): IAM is global, so one per account, its artifacts filed under
// the account's first region.
func planIAM(on bool, ac awsclient.Config, acct config.Account, prefix string, l *ledger.Ledger, now func() time.Time) []Collector {
	if !on {
		return nil
	}
	region := firstRegion(acct.Regions, "us-east-1")
	return []Collector{&IAMState{API: iam.NewFromConfig(ac.WithRegion(region).AWS), Ledger: l, Account: acct.ID, Region: region, Prefix: prefix, Now: now}}
}

// planKMS makes, when on (scheduled and selected), a KMS key collector for each of the account's regions
// that has something whose keys to read: monitored buckets there, trails
// (when the CloudTrail collector is scheduled) or keys the configuration
// names. An account with no bucket, no trail and no key gets none.
func planKMS(ctx context.Context, on bool, ac awsclient.Config, acct config.Account, trails bool, prefix string, l *ledger.Ledger, now func() time.Time) []Collector {
	if !on || len(acct.Buckets) == 0 && !trails && len(acct.KMSKeys) == 0 {
		return nil
	}
	regions := append([]string{}, acct.Regions...)
	if len(regions) == 0 {
		regions = []string{firstRegion(nil, ac.AWS.Region)}
	}
	buckets, keys := map[string][]string{}, map[string][]string{}
	for _, b := range acct.Buckets {
		r := bucketRegion(ctx, ac.S3(), b, regions[0])
		buckets[r] = append(buckets[r], b)
	}
	for _, k := range acct.KMSKeys {
		r := regions[0]
		if parts := strings.SplitN(k, ":", 6); len(parts) == 6 && parts[0] == "arn" {
			r = parts[3]
		}
		keys[r] = append(keys[r], k)
	}
	var names []string
	for _, t := range acct.Trails {
		names = append(names, t.Name)
	}
	var out []Collector
	for _, r := range regions {
		if len(buckets[r]) == 0 && !trails && len(keys[r]) == 0 {
			continue
		}
		rc := ac.WithRegion(r)
		c := &KMSKeys{API: kms.NewFromConfig(rc.AWS), S3: rc.S3(), Buckets: buckets[r], TrailNames: names, Keys: keys[r],
			Ledger: l, Account: acct.ID, Region: r, Prefix: prefix, Now: now}
		if trails {
			c.Trails = ct.NewFromConfig(rc.AWS)
		}
		out = append(out, c)
	}
	return out
}
