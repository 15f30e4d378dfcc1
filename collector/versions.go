package collector

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/custody"
)

// versionLister is what listing a bucket's versions needs.
type versionLister interface {
	ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

var _ versionLister = (*s3.Client)(nil)

// VersionRecord is one line of a version list artifact (gzip NDJSON): a
// version or a delete marker, in the order S3 lists them (by key, newest
// first). recover reads these to know what existed at a past time.
type VersionRecord struct {
	Key               string    `json:"key"`
	VersionID         string    `json:"versionId"`
	IsLatest          bool      `json:"isLatest"`
	LastModified      time.Time `json:"lastModified"`
	DeleteMarker      bool      `json:"deleteMarker,omitempty"`
	ETag              string    `json:"etag,omitempty"`
	Size              int64     `json:"size"`
	StorageClass      string    `json:"storageClass,omitempty"`
	ChecksumAlgorithm []string  `json:"checksumAlgorithm,omitempty"`
	Owner             string    `json:"owner,omitempty"`
}

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
}

func (v *Versions) Name() string { return "versions:" + v.Bucket }
func (v *Versions) Kind() string { return "versions" }

// Collect streams the listing into the store.
func (v *Versions) Collect(ctx context.Context, run Run) (Outcome, error) {
	start := v.Now().UTC()
	out := Outcome{Account: v.Account, Region: v.Region, WindowStart: start, Sources: []string{"s3://" + v.Bucket},
		Description: "every object version and delete marker of s3://" + v.Bucket}
	pr, pw := io.Pipe()
	var count int64
	go func() { pw.CloseWithError(v.write(ctx, pw, &count)) }()
	key := custody.ArtifactKey(v.Prefix, v.Account, v.Region, "versions", start, run.RunID(), v.Bucket+".versions.ndjson.gz")
	_, err := run.Put(ctx, key, pr, custody.PutOptions{Kind: "versions", Account: v.Account, Region: v.Region, Source: "s3://" + v.Bucket, ContentType: "application/x-ndjson"})
	pr.CloseWithError(err)
	out.WindowEnd = v.Now().UTC()
	if err != nil {
		return out, fmt.Errorf("version list of s3://%s: %w", v.Bucket, err)
	}
	out.Description += fmt.Sprintf(" (%d entries)", count)
	return out, nil
}

func (v *Versions) write(ctx context.Context, w io.Writer, count *int64) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	zw := gzip.NewWriter(bw)
	enc := json.NewEncoder(zw)
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(v.Bucket)}
	if v.PageSize > 0 {
		in.MaxKeys = aws.Int32(v.PageSize)
	}
	p := s3.NewListObjectVersionsPaginator(v.API, in)
	page := make([]VersionRecord, 0, 1000)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list versions of s3://%s: %w", v.Bucket, err)
		}
		page = page[:0]
		for _, o := range out.Versions {
			r := VersionRecord{Key: aws.ToString(o.Key), VersionID: aws.ToString(o.VersionId), IsLatest: aws.ToBool(o.IsLatest),
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
			r := VersionRecord{Key: aws.ToString(m.Key), VersionID: aws.ToString(m.VersionId), IsLatest: aws.ToBool(m.IsLatest),
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
			if err := enc.Encode(&page[i]); err != nil {
				return err
			}
		}
		*count += int64(len(page))
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}
