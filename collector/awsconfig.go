package collector

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cs "github.com/aws/aws-sdk-go-v2/service/configservice"
	cstypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
)

// configAPI is what reading AWS Config needs (and one trigger, to have
// Config deliver a snapshot now).
type configAPI interface {
	ListDiscoveredResources(context.Context, *cs.ListDiscoveredResourcesInput, ...func(*cs.Options)) (*cs.ListDiscoveredResourcesOutput, error)
	GetResourceConfigHistory(context.Context, *cs.GetResourceConfigHistoryInput, ...func(*cs.Options)) (*cs.GetResourceConfigHistoryOutput, error)
	DescribeDeliveryChannels(context.Context, *cs.DescribeDeliveryChannelsInput, ...func(*cs.Options)) (*cs.DescribeDeliveryChannelsOutput, error)
	DeliverConfigSnapshot(context.Context, *cs.DeliverConfigSnapshotInput, ...func(*cs.Options)) (*cs.DeliverConfigSnapshotOutput, error)
}

var _ configAPI = (*cs.Client)(nil)

// DefaultResourceTypes are the resource types whose configuration history
// the Config collector preserves when an account's config_resource_types
// names none: the S3, IAM and KMS types, what scoping an incident on data
// asks about (who could reach it, and with which keys).
var DefaultResourceTypes = []string{
	"AWS::S3::Bucket", "AWS::S3::AccountPublicAccessBlock",
	"AWS::IAM::User", "AWS::IAM::Group", "AWS::IAM::Role", "AWS::IAM::Policy",
	"AWS::KMS::Key",
}

// AWSConfig preserves AWS Config's evidence for one account and region:
// the snapshot and history files Config delivered to its buckets (Config
// cannot deliver into an Object Lock bucket, so the agent copies them), and
// the configuration history of the monitored resource types.
type AWSConfig struct {
	S3            trailBucketAPI
	API           configAPI
	Ledger        *ledger.Ledger
	Account       string
	Region        string
	Delivery      []config.BucketPrefix
	ResourceTypes []string
	Deliver       bool // ask Config to deliver a snapshot each run
	Prefix        string
	Now           func() time.Time
	Lookback      time.Duration
}

func (c *AWSConfig) Name() string { return "config:" + c.Account + "/" + c.Region }
func (c *AWSConfig) Kind() string { return "config" }

// Collect copies new delivered files and the history since the cursor.
func (c *AWSConfig) Collect(ctx context.Context, run Run) (Outcome, error) {
	now := c.Now().UTC()
	lookback := c.Lookback
	if lookback == 0 {
		lookback = 7 * 24 * time.Hour
	}
	out := Outcome{Account: c.Account, Region: c.Region, WindowEnd: now, Description: "AWS Config files and configuration history"}
	warn := func(kind finding.Kind, object string, err error, format string, args ...any) {
		out.Findings = append(out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: kind, Object: object,
			Message: fmt.Sprintf(format, args...), Remedy: awsclient.CollectorRole.Grant(err)})
	}
	if c.Deliver {
		chans, err := c.API.DescribeDeliveryChannels(ctx, &cs.DescribeDeliveryChannelsInput{})
		if err != nil {
			warn(finding.ConfigDeliverFailed, c.Name(), err, "DescribeDeliveryChannels: %v", err)
		} else {
			for _, ch := range chans.DeliveryChannels {
				if _, err := c.API.DeliverConfigSnapshot(ctx, &cs.DeliverConfigSnapshotInput{DeliveryChannelName: ch.Name}); err != nil {
					warn(finding.ConfigDeliverFailed, c.Name(), err, "DeliverConfigSnapshot %s: %v", aws.ToString(ch.Name), err)
				}
			}
		}
	}
	cursors := map[string]string{}
	for _, d := range c.Delivery {
		newest, err := c.copyDelivered(ctx, run, d, now, lookback, &out)
		if err != nil {
			return out, err
		}
		if newest != "" {
			cursors[c.filesScope(d)] = newest
		}
	}
	historyScope := "history/" + c.Account + "/" + c.Region
	since := now.Add(-lookback)
	if cur, err := c.Ledger.Cursor(ctx, "config", historyScope); err == nil {
		if t, err := time.Parse(time.RFC3339, cur); err == nil {
			since = t
		}
	}
	out.WindowStart = since
	types := c.ResourceTypes
	if len(types) == 0 {
		types = DefaultResourceTypes
	}
	for _, rt := range types {
		if err := c.history(ctx, run, rt, since, now, &out); err != nil {
			return out, err
		}
	}
	cursors[historyScope] = now.Format(time.RFC3339)
	out.AfterSeal(func(ctx context.Context) error {
		for scope, v := range cursors {
			if err := c.Ledger.SetCursor(ctx, "config", scope, v); err != nil {
				return err
			}
		}
		return nil
	})
	return out, nil
}

func (c *AWSConfig) filesScope(d config.BucketPrefix) string {
	return "files/" + c.Account + "/" + c.Region + "/" + d.Bucket + "/" + d.Prefix
}

// ConfigDayPrefix is where Config delivers a day's files: month and day
// are not zero-padded.
func ConfigDayPrefix(prefix, account, region string, day time.Time) string {
	p := fmt.Sprintf("AWSLogs/%s/Config/%s/%d/%d/%d/", account, region, day.Year(), int(day.Month()), day.Day())
	if prefix != "" {
		p = prefix + "/" + p
	}
	return p
}

// copyDelivered copies the files delivered since the cursor and returns
// the newest LastModified copied (RFC 3339 with nanoseconds).
func (c *AWSConfig) copyDelivered(ctx context.Context, run Run, d config.BucketPrefix, now time.Time, lookback time.Duration, out *Outcome) (string, error) {
	since := now.Add(-lookback)
	if cur, err := c.Ledger.Cursor(ctx, "config", c.filesScope(d)); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, cur); err == nil {
			since = t
		}
	}
	newest := since
	copied := 0
	for day := since.Truncate(24 * time.Hour); !day.After(now); day = day.Add(24 * time.Hour) {
		prefix := ConfigDayPrefix(d.Prefix, c.Account, c.Region, day)
		p := s3.NewListObjectsV2Paginator(c.S3, &s3.ListObjectsV2Input{Bucket: aws.String(d.Bucket), Prefix: aws.String(prefix)})
		token := ""
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return "", fmt.Errorf("list s3://%s/%s: %w", d.Bucket, prefix, awsclient.CollectorRole.Explain(err))
			}
			if err := awsclient.ObjectsAdvance(&token, page); err != nil {
				return "", fmt.Errorf("list s3://%s/%s: %w", d.Bucket, prefix, err)
			}
			for _, o := range page.Contents {
				lm := aws.ToTime(o.LastModified)
				if !lm.After(since) {
					continue
				}
				key := aws.ToString(o.Key)
				// Preserved by an earlier run whose cursor a crash kept
				// from moving (and sealed since by a reseal): not again.
				if sealed, err := c.Ledger.SourceSealed(ctx, "s3://"+d.Bucket+"/"+key); err != nil {
					return "", err
				} else if sealed {
					if lm.After(newest) {
						newest = lm
					}
					continue
				}
				obj, err := awsclient.GetObject(ctx, c.S3, &s3.GetObjectInput{Bucket: aws.String(d.Bucket), Key: aws.String(key)})
				if awsclient.NotFound(err) {
					continue // removed since the listing: the next snapshot shows it
				}
				if err != nil {
					return "", fmt.Errorf("read s3://%s/%s: %w", d.Bucket, key, awsclient.CollectorRole.Explain(err))
				}
				_, err = run.Put(ctx, custody.ArtifactPath(c.Prefix, c.Account, c.Region, "config", now, run.RunID(), key), obj.Body, custody.PutOptions{
					Kind: "config-file", Account: c.Account, Region: c.Region, Source: "s3://" + d.Bucket + "/" + key, SourceVersion: aws.ToString(obj.ETag)})
				obj.Body.Close()
				if err != nil {
					return "", err
				}
				copied++
				if lm.After(newest) {
					newest = lm
				}
			}
		}
	}
	out.Sources = append(out.Sources, "s3://"+d.Bucket+"/"+ConfigDayPrefix(d.Prefix, c.Account, c.Region, since))
	out.Description += fmt.Sprintf("; %d file(s) from s3://%s", copied, d.Bucket)
	if !newest.After(since) {
		return "", nil
	}
	return newest.UTC().Format(time.RFC3339Nano), nil
}

// history preserves the configuration items of every discovered resource
// of one type between since and now, as one gzip NDJSON artifact.
func (c *AWSConfig) history(ctx context.Context, run Run, rt string, since, now time.Time, out *Outcome) error {
	var ids []cstypes.ResourceIdentifier
	in := &cs.ListDiscoveredResourcesInput{ResourceType: cstypes.ResourceType(rt)}
	for page := 0; page < 10000; page++ {
		resp, err := c.API.ListDiscoveredResources(ctx, in)
		if err != nil {
			remedy := awsclient.CollectorRole.Grant(err)
			if remedy == "" {
				remedy = "grant config:ListDiscoveredResources to the collector role"
			}
			out.Findings = append(out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.ConfigUnreadable, Object: rt,
				Message: "ListDiscoveredResources: " + err.Error(), Remedy: remedy})
			return nil
		}
		if next := aws.ToString(resp.NextToken); next != "" && next == aws.ToString(in.NextToken) {
			out.Findings = append(out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.ConfigUnreadable, Object: rt,
				Message: fmt.Sprintf("ListDiscoveredResources answered page token %q with the same token: Config is misbehaving; %d resource(s) listed before it are preserved", next, len(ids))})
			break
		}
		ids = append(ids, resp.ResourceIdentifiers...)
		if aws.ToString(resp.NextToken) == "" {
			break
		}
		in.NextToken = resp.NextToken
	}
	if len(ids) == 0 {
		return nil
	}
	pr, pw := io.Pipe()
	items, failed := 0, 0
	var firstErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		bw := bufio.NewWriter(pw)
		zw := gzip.NewWriter(bw)
		enc := json.NewEncoder(zw)
		for _, id := range ids {
			hin := &cs.GetResourceConfigHistoryInput{ResourceType: cstypes.ResourceType(rt), ResourceId: id.ResourceId,
				EarlierTime: aws.Time(since), LaterTime: aws.Time(now), ChronologicalOrder: cstypes.ChronologicalOrderForward}
			for page := 0; page < 10000; page++ {
				resp, err := c.API.GetResourceConfigHistory(ctx, hin)
				if err != nil {
					if werr := enc.Encode(map[string]string{"resourceType": rt, "resourceId": aws.ToString(id.ResourceId), "error": err.Error()}); werr != nil {
						pw.CloseWithError(werr)
						return
					}
					if failed++; firstErr == nil {
						firstErr = err
					}
					break
				}
				if next := aws.ToString(resp.NextToken); next != "" && next == aws.ToString(hin.NextToken) {
					err := fmt.Errorf("GetResourceConfigHistory answered page token %q with the same token: Config is misbehaving", next)
					if werr := enc.Encode(map[string]string{"resourceType": rt, "resourceId": aws.ToString(id.ResourceId), "error": err.Error()}); werr != nil {
						pw.CloseWithError(werr)
						return
					}
					if failed++; firstErr == nil {
						firstErr = err
					}
					break
				}
				for _, it := range resp.ConfigurationItems {
					if err := enc.Encode(it); err != nil {
						pw.CloseWithError(err)
						return
					}
					items++
				}
				if aws.ToString(resp.NextToken) == "" {
					break
				}
				hin.NextToken = resp.NextToken
			}
		}
		err := zw.Close()
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	name := "config-history-" + rt + ".ndjson.gz"
	_, err := run.Put(ctx, custody.ArtifactKey(c.Prefix, c.Account, c.Region, "config", now, run.RunID(), name), pr, custody.PutOptions{
		Kind: "config-history", Account: c.Account, Region: c.Region, Source: "config:GetResourceConfigHistory/" + rt, ContentType: "application/x-ndjson"})
	pr.CloseWithError(err)
	if err != nil {
		return err
	}
	<-done // the body was read to its end: the writer is through
	out.Description += fmt.Sprintf("; %s: %d resource(s), %d item(s)", rt, len(ids), items)
	if failed > 0 {
		// The artifact records each failure; the manifest says so too.
		out.Findings = append(out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.ConfigHistoryUnreadable, Object: rt,
			Message: fmt.Sprintf("GetResourceConfigHistory failed for %d of %d resource(s), first: %v", failed, len(ids), firstErr),
			Remedy:  awsclient.CollectorRole.Grant(firstErr)})
	}
	return nil
}
