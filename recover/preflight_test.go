package recovery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
	"github.com/custody-ir/custody/internal/versionlist"
)

// The pre-flight refuses a bucket that never had versioning, naming it,
// and accepts one whose versioning is enabled or suspended (its earlier
// versions are still there).
func TestPreflightVersioning(t *testing.T) {
	ctx := context.Background()
	c := testaws.Require(t).S3(t)
	p := NewPreflight(c, nil, nil)
	plain := testaws.CreateBucket(t, c, testaws.BucketOptions{})
	err := p.CheckVersioning(ctx, plain)
	if !errors.Is(err, ErrNeverVersioned) || !strings.Contains(err.Error(), "s3://"+plain+" has never had versioning enabled") {
		t.Fatalf("a bucket never versioned: %v", err)
	}
	versioned := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	if err := p.CheckVersioning(ctx, versioned); err != nil {
		t.Fatalf("a versioned bucket: %v", err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(versioned),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}}); err != nil {
		t.Fatal(err)
	}
	if err := p.CheckVersioning(ctx, versioned); err != nil {
		t.Fatalf("a bucket with versioning suspended: %v", err)
	}
	if err := p.CheckVersioning(ctx, plain+"-missing"); err == nil || !strings.Contains(err.Error(), "read versioning of s3://"+plain+"-missing") {
		t.Fatalf("a missing bucket: %v", err)
	}
}

// preserve writes a version list of records into the store bucket under
// name and records it in the ledger as run's, stored at, with sum as its
// sealed SHA-256 ("" for the right one).
func preserve(t *testing.T, c *s3.Client, l *ledger.Ledger, store, run, name string, at time.Time, sum string, recs ...versionlist.Record) {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	w := versionlist.NewWriter(&buf)
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if sum == "" {
		h := sha256.Sum256(buf.Bytes())
		sum = hex.EncodeToString(h[:])
	}
	key := "custody/collect/1/us-east-1/versions/2026/11/20/" + run + "/" + name
	out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(store), Key: aws.String(key), Body: bytes.NewReader(buf.Bytes())})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.StartRun(ctx, ledger.Run{ID: run, Stream: "s", Collector: "versions", StartedAt: at}); err != nil && !strings.Contains(err.Error(), "UNIQUE") {
		t.Fatal(err)
	}
	if err := l.StoreArtifact(ctx, ledger.Artifact{Bucket: store, Key: key, VersionID: aws.ToString(out.VersionId), RunID: run, SHA256: sum,
		Size: int64(buf.Len()), Kind: versionlist.Kind, StoredAt: at}); err != nil {
		t.Fatal(err)
	}
}

// readEvidence reads every key and its version ids from ev.
func readEvidence(t *testing.T, ev *Evidence) (map[string][]string, error) {
	t.Helper()
	h := &evidenceHistories{ev: ev}
	defer h.close()
	out := map[string][]string{}
	for {
		key, es, more, err := h.next(context.Background())
		if err != nil || !more {
			return out, err
		}
		for _, e := range es {
			out[key] = append(out[key], e.versionID)
		}
	}
}

// The pre-flight finds the newest list of the bucket preserved at or
// before T, all its parts, and only the bucket's own: not one of a bucket
// whose name starts like it. Its parts are read from the evidence store
// and checked against their sealed SHA-256.
func TestPreflightEvidence(t *testing.T) {
	ctx := context.Background()
	c := testaws.Require(t).S3(t)
	store := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	l, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	rec := func(key, version string) versionlist.Record {
		return versionlist.Record{Key: key, VersionID: version, IsLatest: true, LastModified: t0}
	}
	preserve(t, c, l, store, "r1", versionlist.RootName("logs"), t0.Add(time.Hour), "", rec("a", "v1"))
	preserve(t, c, l, store, "r1", versionlist.PartName("logs", 1), t0.Add(time.Hour), "", rec("b/c", "v2"))
	preserve(t, c, l, store, "r2", versionlist.Name("logs.versions.old"), t0.Add(2*time.Hour), "", rec("z", "old"))
	preserve(t, c, l, store, "r3", versionlist.Name("logs"), t0.Add(3*time.Hour), strings.Repeat("0", 64), rec("a", "v9"))

	opened := 0
	p := NewPreflight(c, l, func(context.Context) (*s3.Client, error) { opened++; return c, nil })
	ev, err := p.Evidence(ctx, "logs", t0.Add(150*time.Minute))
	if err != nil || ev == nil {
		t.Fatalf("the list of logs at 02:30: %v, %v", ev, err)
	}
	if !ev.At.Equal(t0.Add(time.Hour)) || len(ev.Parts) != 2 || !strings.Contains(ev.Name, "(run r1)") {
		t.Fatalf("the list of logs at 02:30: at %v, %d parts, %q", ev.At, len(ev.Parts), ev.Name)
	}
	got, err := readEvidence(t, ev)
	if err != nil || len(got) != 2 || got["a"][0] != "v1" || got["b/c"][0] != "v2" {
		t.Fatalf("read %v, %v", got, err)
	}
	// At 03:00 the newest is r3's, whose bytes do not match what was sealed.
	ev, err = p.Evidence(ctx, "logs", t0.Add(3*time.Hour))
	if err != nil || ev == nil || !strings.Contains(ev.Name, "(run r3)") {
		t.Fatalf("the list of logs at 03:00: %v, %v", ev, err)
	}
	if _, err := readEvidence(t, ev); err == nil {
		t.Fatal("a part whose SHA-256 is not the sealed one was read")
	}
	// Nothing before the first list, and no store opened for nothing.
	opened = 0
	if ev, err := p.Evidence(ctx, "logs", t0); ev != nil || err != nil || opened != 0 {
		t.Fatalf("before any list: %v, %v, store opened %d time(s)", ev, err, opened)
	}
	if ev, err := NewPreflight(c, nil, nil).Evidence(ctx, "logs", t0.Add(3*time.Hour)); ev != nil || err != nil {
		t.Fatalf("without a ledger: %v, %v", ev, err)
	}
	if _, err := NewPreflight(c, l, nil).Evidence(ctx, "logs", t0.Add(3*time.Hour)); err == nil {
		t.Fatal("a list found with no store to read it from")
	}
}
