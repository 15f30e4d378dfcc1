package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
)

// trailBucketAPI is what reading a trail's bucket needs.
type trailBucketAPI interface {
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// CloudTrail copies a trail's new digest files (with their signature
// metadata) and the log files they list into the evidence store, with the
// public keys that sign them, and validates the digest chain as it goes.
// A cursor per trail and region makes it incremental: a restart resumes
// without re-copying or missing a file.
type CloudTrail struct {
	S3      trailBucketAPI
	Keys    func(ctx context.Context, start, end time.Time) ([]cloudtrail.PublicKey, error)
	Ledger  *ledger.Ledger
	Account string
	Region  string
	Trail   config.Trail
	Prefix  string
	Now     func() time.Time
	// Lookback is how far back the first run starts (default 24h).
	Lookback    time.Duration
	Concurrency int
}

func (c *CloudTrail) Name() string {
	return fmt.Sprintf("cloudtrail:%s/%s/%s", c.Account, c.Region, c.Trail.Name)
}
func (c *CloudTrail) Kind() string { return "cloudtrail" }

func (c *CloudTrail) scope() string { return c.Account + "/" + c.Region + "/" + c.Trail.Name }

// Collect copies what is new since the cursor.
func (c *CloudTrail) Collect(ctx context.Context, run Run) (Outcome, error) {
	now := c.Now().UTC()
	since := now.Add(-c.lookback())
	if cur, err := c.Ledger.Cursor(ctx, "cloudtrail", c.scope()); err == nil {
		if t, err := time.Parse(time.RFC3339, cur); err == nil {
			since = t
		}
	}
	out := Outcome{Account: c.Account, Region: c.Region, WindowStart: since, WindowEnd: now,
		Description: fmt.Sprintf("CloudTrail digests and logs of trail %s in %s", c.Trail.Name, c.Region)}
	src := cloudtrail.BucketSource{API: c.S3, Bucket: c.Trail.Bucket}
	opts := cloudtrail.Options{Bucket: c.Trail.Bucket, Prefix: c.Trail.Prefix, OrgID: c.Trail.OrgID, Account: c.Account, Region: c.Region,
		Trail: c.Trail.Name, Start: since, End: now, Concurrency: c.concurrency(), Now: c.Now}
	digests, err := cloudtrail.ListDigests(ctx, src, opts)
	if err != nil {
		return out, awsclient.CollectorRole.Explain(err)
	}
	var fresh []cloudtrail.DigestKey
	for _, d := range digests {
		if d.Time.After(since) && !d.Time.After(now) {
			fresh = append(fresh, d)
		}
	}
	out.Sources = []string{fmt.Sprintf("s3://%s/%s", c.Trail.Bucket, cloudtrail.DigestPrefix(c.Trail.Prefix, c.Trail.OrgID, c.Account, c.Region, since))}

	// The keys that sign this period, preserved beside the digests.
	keys, kerr := c.Keys(ctx, since.Add(-time.Hour), now)
	if kerr != nil {
		remedy := awsclient.CollectorRole.Grant(kerr)
		if remedy == "" {
			remedy = "grant cloudtrail:ListPublicKeys to the collector role"
		}
		out.Findings = append(out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.CloudTrailKeysUnavailable,
			Object: c.Name(), Message: kerr.Error(), Remedy: remedy})
	} else {
		body, err := cloudtrail.MarshalPublicKeys(keys)
		if err != nil {
			return out, err
		}
		key := custody.ArtifactKey(c.Prefix, c.Account, c.Region, "cloudtrail", now, run.RunID(), "public-keys.json")
		if _, err := run.Put(ctx, key, bytes.NewReader(body), custody.PutOptions{Kind: cloudtrail.KindPublicKeys, Account: c.Account, Region: c.Region,
			Source: "cloudtrail:ListPublicKeys/" + c.Region, ContentType: "application/json"}); err != nil {
			return out, err
		}
		opts.Keys = keys
	}

	var mu sync.Mutex
	note := func(f custody.Finding) { mu.Lock(); out.Findings = append(out.Findings, f); mu.Unlock() }
	newest := since
	for _, d := range fresh {
		logs, err := c.copyDigest(ctx, run, d, now)
		if err != nil {
			return out, err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(c.concurrency())
		for _, lf := range logs {
			g.Go(func() error {
				err := c.copyFile(gctx, run, lf.S3Object, cloudtrail.KindLog, now, nil)
				if errors.Is(err, errMissing) {
					note(custody.Finding{Severity: custody.SeverityFailure, Kind: finding.CloudTrailLogMissing, Object: "s3://" + c.Trail.Bucket + "/" + lf.S3Object,
						Message: "listed by digest " + d.String() + " but not in the trail's bucket"})
					return nil
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return out, err
		}
		newest = d.Time
	}

	// Validate what was copied, from the digest before it on.
	opts.Start = since.Add(-90 * time.Minute)
	if res, err := cloudtrail.Validate(ctx, src, opts); err == nil {
		for _, f := range res.Findings {
			if f.Kind == finding.DigestMissing && len(fresh) == 0 {
				continue // nothing new yet is not a gap
			}
			f.Kind = finding.CloudTrail(f.Kind)
			out.Findings = append(out.Findings, f)
		}
	} else {
		note(custody.Finding{Severity: custody.SeverityWarning, Kind: finding.CloudTrailUnvalidated, Object: c.Name(), Message: err.Error(),
			Remedy: awsclient.CollectorRole.Grant(err)})
	}
	out.Description += fmt.Sprintf(": %d new digest(s)", len(fresh))
	out.AfterSeal(func(ctx context.Context) error {
		if newest.After(since) {
			return c.Ledger.SetCursor(ctx, "cloudtrail", c.scope(), newest.UTC().Format(time.RFC3339))
		}
		return nil
	})
	return out, nil
}

// errMissing means an object listed a moment ago is gone.
var errMissing = errors.New("object missing")

// copyDigest stores one digest with its signature metadata and returns
// the log files it lists (nil when it cannot be parsed: the bytes are
// preserved as found and validation reports it).
func (c *CloudTrail) copyDigest(ctx context.Context, run Run, d cloudtrail.DigestKey, now time.Time) ([]cloudtrail.LogFile, error) {
	var body []byte
	err := c.copyFile(ctx, run, d.String(), cloudtrail.KindDigest, now, &body)
	if errors.Is(err, errMissing) {
		return nil, nil // deleted between listing and reading: validation reports the gap
	}
	if err != nil {
		return nil, err
	}
	dg, _, perr := cloudtrail.ParseDigest(body)
	if perr != nil {
		return nil, nil
	}
	return dg.LogFiles, nil
}

// copyFile copies one object, keeping its signature metadata; with
// keep, the bytes are also returned (digests are small).
//
// A file an earlier run preserved (one a crash interrupted before its
// cursor moved, sealed since by a reseal) is not copied again: CloudTrail
// files never change, and one sealed copy is the evidence. A digest is
// still read, for the log files it lists.
func (c *CloudTrail) copyFile(ctx context.Context, run Run, key, kind string, now time.Time, keep *[]byte) error {
	sealed, err := c.Ledger.SourceSealed(ctx, "s3://"+c.Trail.Bucket+"/"+key)
	if err != nil {
		return err
	}
	if sealed && keep == nil {
		return nil
	}
	obj, err := awsclient.GetObject(ctx, c.S3, &s3.GetObjectInput{Bucket: aws.String(c.Trail.Bucket), Key: aws.String(key)})
	if err != nil {
		if awsclient.NotFound(err) {
			return errMissing
		}
		return fmt.Errorf("read s3://%s/%s: %w", c.Trail.Bucket, key, awsclient.CollectorRole.Explain(err))
	}
	defer obj.Body.Close()
	var body io.Reader = obj.Body
	if keep != nil {
		b, err := io.ReadAll(io.LimitReader(obj.Body, 64<<20))
		if err != nil {
			return fmt.Errorf("read s3://%s/%s: %w", c.Trail.Bucket, key, err)
		}
		*keep, body = b, bytes.NewReader(b)
	}
	if sealed {
		return nil
	}
	meta := map[string]string{}
	for _, k := range []string{"signature", "signature-algorithm"} {
		if v, ok := obj.Metadata[k]; ok {
			meta[k] = v
		}
	}
	version := aws.ToString(obj.VersionId)
	if version == "" {
		version = aws.ToString(obj.ETag)
	}
	_, err = run.Put(ctx, custody.ArtifactPath(c.Prefix, c.Account, c.Region, "cloudtrail", now, run.RunID(), key), body, custody.PutOptions{
		Kind: kind, Account: c.Account, Region: c.Region, Source: "s3://" + c.Trail.Bucket + "/" + key, SourceVersion: version,
		Metadata: meta, ContentType: "application/gzip"})
	return err
}

func (c *CloudTrail) lookback() time.Duration {
	if c.Lookback > 0 {
		return c.Lookback
	}
	return 24 * time.Hour
}

func (c *CloudTrail) concurrency() int {
	if c.Concurrency > 0 {
		return c.Concurrency
	}
	return 16
}
