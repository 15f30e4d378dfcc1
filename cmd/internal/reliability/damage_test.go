package reliability

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/internal/testaws"
)

// damaged is a versioned bucket an incident hit after target: a third of
// its keys overwritten, a third deleted, a third untouched, and new keys
// added. Its ground truth says what recover must bring back.
type damaged struct {
	bucket string
	target string // the --since argument
	good   map[string]string
	kind   map[string]string // overwritten, deleted, untouched, added
}

func newDamaged(t *testing.T, c *s3.Client, n int) *damaged {
	t.Helper()
	return newDamagedSet(t, c, 1, n)[0]
}

// newDamagedSet makes count damaged buckets of n keys each, sharing one
// target time (the waits around it are what take time).
func newDamagedSet(t *testing.T, c *s3.Client, count, n int) []*damaged {
	t.Helper()
	names := []string{"plain", "with space", "unicodé ✓", "plus+sign", "per%cent", "dir/"}
	var set []*damaged
	type write struct {
		d *damaged
		k string
	}
	var goods, bads []write
	for range count {
		d := &damaged{bucket: testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true}), good: map[string]string{}, kind: map[string]string{}}
		for i := range n {
			k := fmt.Sprintf("p%d/%s-%04d", i%4, names[i%len(names)], i)
			d.good[k] = fmt.Sprintf("good %d %s", i, strings.Repeat("x", i%7*100))
			d.kind[k] = [...]string{"overwritten", "deleted", "untouched"}[i%3]
			goods = append(goods, write{d, k})
			bads = append(bads, write{d, k})
		}
		for i := range n / 10 {
			k := fmt.Sprintf("p%d/ransom-note-%03d.txt", i%4, i)
			d.kind[k] = "added"
			bads = append(bads, write{d, k})
		}
		set = append(set, d)
	}
	do := func(ws []write, f func(context.Context, write) error) {
		g, ctx := errgroup.WithContext(context.Background())
		g.SetLimit(16)
		for _, w := range ws {
			g.Go(func() error { return f(ctx, w) })
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	do(goods, func(ctx context.Context, w write) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.d.bucket), Key: aws.String(w.k), Body: strings.NewReader(w.d.good[w.k])})
		return err
	})
	target := testaws.Cut().Format(time.RFC3339Nano)
	do(bads, func(ctx context.Context, w write) error {
		var err error
		switch w.d.kind[w.k] {
		case "overwritten", "added":
			_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.d.bucket), Key: aws.String(w.k), Body: strings.NewReader("encrypted by ransomware")})
		case "deleted":
			_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.d.bucket), Key: aws.String(w.k)})
		}
		return err
	})
	for _, d := range set {
		d.target = target
	}
	return set
}

// check lists every key's versions and returns each way the bucket is
// not exactly at the target, or shows an action applied twice.
func (d *damaged) check(t testing.TB, c *s3.Client) []string {
	t.Helper()
	ctx := context.Background()
	type state struct {
		versions, markers int
		latestMarker      bool
		latestVersion     string
	}
	st := map[string]*state{}
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(d.bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		get := func(k string) *state {
			if st[k] == nil {
				st[k] = &state{}
			}
			return st[k]
		}
		for _, v := range page.Versions {
			s := get(aws.ToString(v.Key))
			s.versions++
			if aws.ToBool(v.IsLatest) {
				s.latestVersion = aws.ToString(v.VersionId)
			}
		}
		for _, m := range page.DeleteMarkers {
			s := get(aws.ToString(m.Key))
			s.markers++
			if aws.ToBool(m.IsLatest) {
				s.latestMarker = true
			}
		}
	}
	var bad []string
	var mu sync.Mutex
	keys := make([]string, 0, len(d.kind))
	for k := range d.kind {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	each(t, keys, func(ctx context.Context, k string) error {
		s := st[k]
		fail := func(format string, args ...any) {
			mu.Lock()
			bad = append(bad, fmt.Sprintf("%q (%s): ", k, d.kind[k])+fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		if s == nil {
			fail("no versions at all")
			return nil
		}
		want := map[string][2]int{"overwritten": {3, 0}, "deleted": {1, 0}, "untouched": {1, 0}, "added": {1, 1}}[d.kind[k]]
		if s.versions != want[0] || s.markers != want[1] {
			fail("%d versions and %d delete markers, want %d and %d (an action applied twice, or not at all)", s.versions, s.markers, want[0], want[1])
		}
		if d.kind[k] == "added" {
			if !s.latestMarker {
				fail("still visible")
			}
			return nil
		}
		if s.latestMarker {
			fail("hidden by a delete marker")
			return nil
		}
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(k)})
		if err != nil {
			fail("get: %v", err)
			return nil
		}
		b, err := io.ReadAll(o.Body)
		o.Body.Close()
		if err != nil || string(b) != d.good[k] {
			fail("content %.40q, want %.40q (%v)", b, d.good[k], err)
		}
		return nil
	})
	return bad
}

var jobRE = regexp.MustCompile(`(?m)^job (recover-\S+)`)

// recoverUntilDone runs recover (resuming job if one was started) with a
// clean network until it exits 0; it returns the runs it took.
func (d *damaged) recoverUntilDone(t testing.TB, w *world, journal, job string) int {
	t.Helper()
	for runs := 1; runs <= 3; runs++ {
		args := []string{"--bucket", d.bucket, "--since", d.target, "--remove-new", "--yes", "--ledger", journal}
		if job != "" {
			args = []string{"--resume", job, "--ledger", journal, "--yes"}
		}
		out, code := w.run(t, nil, w.recover, args...)
		if code == 0 {
			return runs
		}
		if m := jobRE.FindStringSubmatch(out); m != nil {
			job = m[1]
		}
		t.Logf("recover run %d (clean network): exit %d\n%s", runs, code, tail(out, 1500))
	}
	t.Fatalf("recover did not finish in 3 runs over a clean network")
	return 0
}

func each(t testing.TB, keys []string, f func(context.Context, string) error) {
	t.Helper()
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	for _, k := range keys {
		g.Go(func() error { return f(ctx, k) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}
