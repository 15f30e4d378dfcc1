package collector

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/versionlist"
)

// versionLister is what listing a bucket's versions needs.
type versionLister interface {
	ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

var _ versionLister = (*s3.Client)(nil)

// VersionRecord is one line of a version list artifact. The format is
// internal/versionlist's, which recover reads with; the name stays for
// the collector's tests and callers.
type VersionRecord = versionlist.Record

// Versions lists every version and delete marker of a bucket into one
// gzip NDJSON artifact, streamed: memory stays constant whatever the
// bucket's size.
type Versions struct {
	API     versionLister
	Bucket  string
	Account string
	Region  string
	Prefix  string // evidence store prefix
	Now     func() time.Time
	// PageSize is MaxKeys per ListObjectVersions call (S3's limit: 1000).
	PageSize int32
	// Split lists the bucket's top-level prefixes in parallel, up to Split
	// at once, each into its own artifact (0 or 1: one listing).
	Split int
	// Inventory, if set, is read instead of listing the bucket.
	Inventory *Inventory
}

func (v *Versions) Name() string { return "versions:" + v.Bucket }
func (v *Versions) Kind() string { return versionlist.Kind }

// Collect streams the listing into the store.
func (v *Versions) Collect(ctx context.Context, run Run) (Outcome, error) {
	start := v.Now().UTC()
	out := Outcome{Account: v.Account, Region: v.Region, WindowStart: start, Sources: []string{"s3://" + v.Bucket},
		Description: "every object version and delete marker of s3://" + v.Bucket}
	var count atomic.Int64
	if v.Inventory != nil {
		return v.fromInventory(ctx, run, start, out)
	}
	if v.Split <= 1 {
		if err := v.part(ctx, run, start, versionlist.Name(v.Bucket), "", "", &count, nil); err != nil {
			return out, err
		}
	} else {
		// The root level first (its keys, and the top-level prefixes),
		// then every prefix in parallel; parts together list everything.
		var prefixes []string
		if err := v.part(ctx, run, start, versionlist.RootName(v.Bucket), "", "/", &count, &prefixes); err != nil {
			return out, err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(v.Split)
		for i, p := range prefixes {
			g.Go(func() error {
				return v.part(gctx, run, start, versionlist.PartName(v.Bucket, i+1), p, "", &count, nil)
			})
		}
		if err := g.Wait(); err != nil {
			return out, err
		}
		out.Description += fmt.Sprintf(", in %d part(s) by top-level prefix", len(prefixes)+1)
	}
	out.WindowEnd = v.Now().UTC()
	out.Description += fmt.Sprintf(" (%d entries)", count.Load())
	return out, nil
}

// fromInventory converts the newest inventory report into the artifact.
func (v *Versions) fromInventory(ctx context.Context, run Run, start time.Time, out Outcome) (Outcome, error) {
	manifest, err := v.Inventory.Latest(ctx)
	if err != nil {
		return out, err
	}
	pr, pw := io.Pipe()
	var n int64
	sorted := true
	go func() {
		var err error
		n, sorted, err = v.Inventory.WriteVersions(ctx, manifest, pw)
		pw.CloseWithError(err)
	}()
	src := "s3://" + v.Inventory.Bucket + "/" + manifest
	key := custody.ArtifactKey(v.Prefix, v.Account, v.Region, versionlist.Kind, start, run.RunID(), versionlist.InventoryName(v.Bucket))
	_, err = run.Put(ctx, key, pr, custody.PutOptions{Kind: versionlist.Kind, Account: v.Account, Region: v.Region, Source: src, ContentType: versionlist.ContentType})
	pr.CloseWithError(err)
	if err != nil {
		return out, fmt.Errorf("version list of s3://%s from %s: %w", v.Bucket, src, err)
	}
	out.Sources = append(out.Sources, src)
	out.WindowEnd = v.Now().UTC()
	out.Description += fmt.Sprintf(" from the S3 Inventory report %s (%d entries)", src, n)
	if !sorted {
		out.Findings = append(out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.InventoryUnsorted, Object: src,
			Message: "the inventory's rows are not in key order; readers must not assume it"})
	}
	return out, nil
}

// part streams one listing (of prefix, with delimiter) into one artifact.
func (v *Versions) part(ctx context.Context, run Run, at time.Time, name, prefix, delimiter string, count *atomic.Int64, prefixes *[]string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(v.write(ctx, pw, prefix, delimiter, count, prefixes)) }()
	key := custody.ArtifactKey(v.Prefix, v.Account, v.Region, versionlist.Kind, at, run.RunID(), name)
	_, err := run.Put(ctx, key, pr, custody.PutOptions{Kind: versionlist.Kind, Account: v.Account, Region: v.Region,
		Source: "s3://" + v.Bucket + "/" + prefix, ContentType: versionlist.ContentType})
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("version list of s3://%s/%s: %w", v.Bucket, prefix, err)
	}
	return nil
}

func (v *Versions) write(ctx context.Context, w io.Writer, prefix, delimiter string, count *atomic.Int64, prefixes *[]string) error {
	vw := versionlist.NewWriter(w)
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(v.Bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if delimiter != "" {
		in.Delimiter = aws.String(delimiter)
	}
	if v.PageSize > 0 {
		in.MaxKeys = aws.Int32(v.PageSize)
	}
	p := s3.NewListObjectVersionsPaginator(v.API, in)
	page := make([]versionlist.Record, 0, 1000)
	var marker [2]string // the key and version id the last page asked from
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list versions of s3://%s: %w", v.Bucket, awsclient.CollectorRole.Explain(err))
		}
		if err := awsclient.VersionsAdvance(&marker, out); err != nil {
			return fmt.Errorf("list versions of s3://%s/%s: %w", v.Bucket, prefix, err)
		}
		page = page[:0]
		if prefixes != nil {
			for _, cp := range out.CommonPrefixes {
				*prefixes = append(*prefixes, aws.ToString(cp.Prefix))
			}
		}
		for _, o := range out.Versions {
			r := versionlist.Record{Key: aws.ToString(o.Key), VersionID: aws.ToString(o.VersionId), IsLatest: aws.ToBool(o.IsLatest),
				LastModified: aws.ToTime(o.LastModified).UTC(), ETag: aws.ToString(o.ETag), Size: aws.ToInt64(o.Size), StorageClass: string(o.StorageClass)}
			for _, a := range o.ChecksumAlgorithm {
				r.ChecksumAlgorithm = append(r.ChecksumAlgorithm, string(a))
			}
			if o.Owner != nil {
				r.Owner = aws.ToString(o.Owner.ID)
			}
			page = append(page, r)
		}
		for _, m := range out.DeleteMarkers {
			r := versionlist.Record{Key: aws.ToString(m.Key), VersionID: aws.ToString(m.VersionId), IsLatest: aws.ToBool(m.IsLatest),
				LastModified: aws.ToTime(m.LastModified).UTC(), DeleteMarker: true}
			if m.Owner != nil {
				r.Owner = aws.ToString(m.Owner.ID)
			}
			page = append(page, r)
		}
		// Versions and markers come in two lists; put each key's history
		// back together, newest first, as S3 orders it.
		sort.SliceStable(page, func(i, j int) bool {
			if page[i].Key != page[j].Key {
				return page[i].Key < page[j].Key
			}
			if page[i].IsLatest != page[j].IsLatest {
				return page[i].IsLatest
			}
			return page[i].LastModified.After(page[j].LastModified)
		})
		for i := range page {
			if err := vw.Write(&page[i]); err != nil {
				return err
			}
		}
		count.Add(int64(len(page)))
	}
	return vw.Close()
}
