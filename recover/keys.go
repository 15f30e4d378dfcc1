package recovery

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/awsclient"
)

// lister is what planning needs.
type lister interface {
	ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

var _ lister = (*s3.Client)(nil)

// entry is one version or delete marker of a key.
type entry struct {
	versionID string
	marker    bool
	latest    bool
	at        time.Time
	etag      string
	size      int64
}

// keyStream gives one key's history at a time, in key order, each newest
// first: the bucket's listing and the replica's (histories), the
// preserved version list (evidenceHistories). ok is false at the end.
type keyStream interface {
	next(ctx context.Context) (key string, hist []entry, ok bool, err error)
}

var (
	_ keyStream = (*histories)(nil)
	_ keyStream = (*evidenceHistories)(nil)
)

// keyHistories is what the bucket (live), its replica and the preserved
// version list hold of one key, each newest first; nil where a source has
// nothing of it.
type keyHistories struct {
	key                      string
	live, replica, preserved []entry
}

// merged merges the three key streams by key, so that each key is decided
// once with everything known of it. A source without a stream is empty.
type merged struct {
	live, replica, preserved head
}

// head is a key stream and the key it stands at.
type head struct {
	stream keyStream
	// take, if set, sees each history as the merge takes it, before the
	// stream moves on; an error ends the merge.
	take func(key string, hist []entry) error
	key  string
	hist []entry
	ok   bool
}

func (h *head) advance(ctx context.Context) (err error) {
	if h.stream == nil {
		return nil
	}
	h.key, h.hist, h.ok, err = h.stream.next(ctx)
	return err
}

// of returns the head's history of key (nil if it stands elsewhere) and
// moves its stream on.
func (h *head) of(ctx context.Context, key string) ([]entry, error) {
	if !h.ok || h.key != key {
		return nil, nil
	}
	hist := h.hist
	if h.take != nil {
		if err := h.take(key, hist); err != nil {
			return nil, err
		}
	}
	return hist, h.advance(ctx)
}

// start reads each stream's first key: the live listing, the replica's,
// then the preserved list.
func (m *merged) start(ctx context.Context) error {
	for _, h := range []*head{&m.live, &m.replica, &m.preserved} {
		if err := h.advance(ctx); err != nil {
			return err
		}
	}
	return nil
}

// next returns the smallest key any stream stands at, with each source's
// history of it; ok is false when every stream has ended.
func (m *merged) next(ctx context.Context) (k keyHistories, ok bool, err error) {
	for _, h := range [...]*head{&m.live, &m.replica, &m.preserved} {
		if h.ok && (!ok || h.key < k.key) {
			k.key, ok = h.key, true
		}
	}
	if !ok {
		return keyHistories{}, false, nil
	}
	if k.preserved, err = m.preserved.of(ctx, k.key); err != nil {
		return keyHistories{}, false, err
	}
	if k.live, err = m.live.of(ctx, k.key); err != nil {
		return keyHistories{}, false, err
	}
	if k.replica, err = m.replica.of(ctx, k.key); err != nil {
		return keyHistories{}, false, err
	}
	return k, true, nil
}

// histories streams a bucket's listing one key's history at a time.
type histories struct {
	p      *s3.ListObjectVersionsPaginator
	bucket string
	marker [2]string
	buf    []keyed
	i      int
}

func newHistories(api lister, bucket, prefix string) *histories {
	return &histories{p: s3.NewListObjectVersionsPaginator(api, listInput(bucket, prefix)), bucket: bucket}
}

func listInput(bucket, prefix string) *s3.ListObjectVersionsInput {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	return in
}

func (h *histories) peek(ctx context.Context) (keyed, bool, error) {
	for h.i >= len(h.buf) {
		if !h.p.HasMorePages() {
			return keyed{}, false, nil
		}
		page, err := h.p.NextPage(ctx)
		if err != nil {
			return keyed{}, false, fmt.Errorf("list versions of s3://%s: %w", h.bucket, err)
		}
		if err := awsclient.VersionsAdvance(&h.marker, page); err != nil {
			return keyed{}, false, fmt.Errorf("list versions of s3://%s: %w", h.bucket, err)
		}
		h.buf, h.i = pageEntries(page), 0
	}
	return h.buf[h.i], true, nil
}

// next returns the next key's history, newest first.
func (h *histories) next(ctx context.Context) (string, []entry, bool, error) {
	first, ok, err := h.peek(ctx)
	if !ok || err != nil {
		return "", nil, false, err
	}
	var hist []entry
	for {
		e, ok, err := h.peek(ctx)
		if err != nil {
			return "", nil, false, err
		}
		if !ok || e.key != first.key {
			return first.key, hist, true, nil
		}
		hist = append(hist, e.entry)
		h.i++
	}
}

type keyed struct {
	key string
	entry
}

// pageEntries puts a page's versions and delete markers back into one
// list by key, each key newest first: the order S3 keeps them in.
func pageEntries(page *s3.ListObjectVersionsOutput) []keyed {
	out := make([]keyed, 0, len(page.Versions)+len(page.DeleteMarkers))
	for _, v := range page.Versions {
		out = append(out, keyed{aws.ToString(v.Key), entry{versionID: aws.ToString(v.VersionId), latest: aws.ToBool(v.IsLatest),
			at: aws.ToTime(v.LastModified), etag: aws.ToString(v.ETag), size: aws.ToInt64(v.Size)}})
	}
	for _, m := range page.DeleteMarkers {
		out = append(out, keyed{aws.ToString(m.Key), entry{versionID: aws.ToString(m.VersionId), marker: true, latest: aws.ToBool(m.IsLatest),
			at: aws.ToTime(m.LastModified)}})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].key != out[j].key {
			return out[i].key < out[j].key
		}
		if out[i].latest != out[j].latest {
			return out[i].latest
		}
		return out[i].at.After(out[j].at)
	})
	return out
}
