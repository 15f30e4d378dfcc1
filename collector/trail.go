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

// CloudTrail copies a trail's digest files (with their signature
// metadata) and the log files they list into the evidence store, with the
// public keys that sign them, validates the digest chain as it goes, and
// seals a snapshot of what the trail records (trailstatus.go).
//
// The first run reaches back Lookback (90 days by default); later runs
// start at the cursor, the newest digest whose hour was copied whole, and
// it moves only after the run is sealed. Digests and log files are copied
// in parallel; a file a sealed run already holds is never copied again,
// so a backfill killed part-way resumes where it stopped, and a window
// reopened with Since (custody collect --since) copies only what is
// missing.
type CloudTrail struct {
	S3      trailBucketAPI
	Keys    func(ctx context.Context, start, end time.Time) ([]cloudtrail.PublicKey, error)
	Ledger  *ledger.Ledger
	Account string
	Region  string
	Trail   config.Trail
	Prefix  string
	Now     func() time.Time
	// Lookback is how far back the first run starts (default 90 days).
	Lookback time.Duration
	// Since, when set, starts this run's window there if that is before
	// the cursor (custody collect --since): the window is collected
	// again, skipping what is already sealed. It never starts the window
	// after the cursor, so nothing since the last run is skipped.
	Since       time.Time
	Concurrency int
	// TrailAPI returns the CloudTrail API of a region, for the trail's
	// status snapshot (DescribeTrails where the collector runs, the status
	// and event selectors in the trail's home region); nil: no snapshot.
	TrailAPI func(region string) TrailStatusAPI
	// Buckets are the account's monitored buckets, whose S3 data events
	// the trail should record.
	Buckets []string
}

// DefaultTrailLookback is how far back a trail's first run starts.
const DefaultTrailLookback = 90 * 24 * time.Hour

// Backfiller is a collector whose window can be reopened further back
// than its cursor (custody collect --since).
type Backfiller interface {
	Collector
	BackfillFrom(since time.Time)
}

var _ Backfiller = (*CloudTrail)(nil)

// BackfillFrom sets Since.
func (c *CloudTrail) BackfillFrom(since time.Time) { c.Since = since }

// BackfillFrom reopens the window of every Backfiller among cs from since
// and returns how many there are.
func BackfillFrom(cs []Collector, since time.Time) int {
	n := 0
	for _, c := range cs {
		if b, ok := c.(Backfiller); ok {
			b.BackfillFrom(since)
			n++
		}
	}
	return n
}

func (c *CloudTrail) Name() string {
	return fmt.Sprintf("cloudtrail:%s/%s/%s", c.Account, c.Region, c.Trail.Name)
}
func (c *CloudTrail) Kind() string { return "cloudtrail" }

func (c *CloudTrail) scope() string { return c.Account + "/" + c.Region + "/" + c.Trail.Name }

// window is where this run starts: the cursor, else Lookback back from
// now; Since when it is earlier. cursor is the cursor's time (zero
// without one).
func (c *CloudTrail) window(ctx context.Context, now time.Time) (start, cursor time.Time) {
	start = now.Add(-c.lookback())
	if cur, err := c.Ledger.Cursor(ctx, "cloudtrail", c.scope()); err == nil {
		if t, err := time.Parse(time.RFC3339, cur); err == nil {
			start, cursor = t, t
		}
	}
	if !c.Since.IsZero() && c.Since.Before(start) {
		start = c.Since.UTC()
	}
	return start, cursor
}

// Collect copies what is new since the cursor (or in the reopened window).
func (c *CloudTrail) Collect(ctx context.Context, run Run) (Outcome, error) {
	now := c.Now().UTC()
	since, cursor := c.window(ctx, now)
	out := Outcome{Account: c.Account, Region: c.Region, WindowStart: since, WindowEnd: now,
		Description: fmt.Sprintf("CloudTrail digests and logs of trail %s in %s", c.Trail.Name, c.Region)}
	var mu sync.Mutex
	note := func(f custody.Finding) { mu.Lock(); out.Findings = append(out.Findings, f); mu.Unlock() }
	var status *trailStatusResult
	if c.TrailAPI != nil {
		var err error
		if status, err = c.snapshotStatus(ctx, run, now, note); err != nil {
			return out, err
		}
	}

	src := newCopiedSource(c.S3, c.Trail.Bucket)
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

	// The keys that sign this period (the whole window), preserved
	// beside the digests.
	keys, kerr := c.Keys(ctx, since.Add(-time.Hour), now)
	if kerr != nil {
		remedy := awsclient.CollectorRole.Grant(kerr)
		if remedy == "" {
			remedy = "grant cloudtrail:ListPublicKeys to the collector role"
		}
		note(custody.Finding{Severity: custody.SeverityWarning, Kind: finding.CloudTrailKeysUnavailable,
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

	done, err := c.copyAll(ctx, run, src, fresh, now, note)
	if err != nil {
		return out, err
	}

	// Validate what was copied, from the digest before it on: the digests
	// and log files copied are not read again (copiedSource).
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
	out.Description += fmt.Sprintf(": %d digest(s) in %s to %s", len(fresh), since.Format(time.RFC3339), now.Format(time.RFC3339))
	// The cursor moves, once the run is sealed, to the newest hour whose
	// digest and every log file it lists were copied, with every hour
	// before it: a run cut short resumes at the first hour not whole.
	newest := cursor
	for i, d := range fresh {
		if !done[i] {
			break
		}
		newest = d.Time
	}
	out.AfterSeal(func(ctx context.Context) error {
		if newest.After(cursor) {
			if err := c.Ledger.SetCursor(ctx, "cloudtrail", c.scope(), newest.UTC().Format(time.RFC3339)); err != nil {
				return err
			}
		}
		return status.afterSeal(ctx, c)
	})
	return out, nil
}

// copyAll copies the digests and the log files they list, at most
// Concurrency objects at a time across all of them, and reports which
// digests were copied whole (the digest and every log file it lists).
// It stops at the first error (the context's included).
//
// Concurrency workers take the copies from one queue, log files before
// the next digest (so the log files listed wait in memory for as short a
// time as they can), each worker for the whole run: a goroutine for each
// file would grow a new stack through the SDK and the ledger every time.
func (c *CloudTrail) copyAll(ctx context.Context, run Run, src *copiedSource, fresh []cloudtrail.DigestKey, now time.Time, note func(custody.Finding)) ([]bool, error) {
	done := make([]bool, len(fresh))
	type logTask struct {
		digest int
		file   cloudtrail.LogFile
	}
	var (
		mu      sync.Mutex
		ready   = sync.NewCond(&mu)
		logs    []logTask
		next    int             // the next digest to copy
		busy    int             // copies under way
		pending = map[int]int{} // log files of each digest still to copy
		failed  error
	)
	// take returns the next copy to make; ok is false when there is none
	// left (or a copy failed). Called with mu held.
	take := func() (t logTask, digest bool, ok bool) {
		for {
			switch {
			case failed != nil:
				return t, false, false
			case len(logs) > 0:
				t, logs = logs[len(logs)-1], logs[:len(logs)-1]
				return t, false, true
			case next < len(fresh):
				next++
				return logTask{digest: next - 1}, true, true
			case busy == 0:
				return t, false, false
			}
			ready.Wait()
		}
	}
	// finish accounts for a copy that ended. Called with mu held.
	finish := func(i int, err error) {
		busy--
		switch {
		case failed != nil:
		case err != nil:
			failed = err
		default:
			if pending[i]--; pending[i] == 0 {
				delete(pending, i)
				done[i] = true
			}
		}
		ready.Broadcast()
	}
	var wg sync.WaitGroup
	for range c.concurrency() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			for {
				t, isDigest, ok := take()
				if !ok {
					return
				}
				busy++
				mu.Unlock()
				var err error
				var listed []cloudtrail.LogFile
				if err = ctx.Err(); err == nil {
					if isDigest {
						listed, err = c.copyDigest(ctx, run, src, fresh[t.digest], now)
					} else if err = c.copyFile(ctx, run, src, t.file.S3Object, cloudtrail.KindLog, now, nil); errors.Is(err, errMissing) {
						note(custody.Finding{Severity: custody.SeverityFailure, Kind: finding.CloudTrailLogMissing, Object: "s3://" + c.Trail.Bucket + "/" + t.file.S3Object,
							Message: "listed by digest " + fresh[t.digest].String() + " but not in the trail's bucket"})
						err = nil
					}
				}
				mu.Lock()
				if isDigest && err == nil {
					// The digest counts as one of its own copies, done now.
					pending[t.digest] += len(listed) + 1
					for _, lf := range listed {
						logs = append(logs, logTask{digest: t.digest, file: lf})
					}
				}
				finish(t.digest, err)
			}
		}()
	}
	wg.Wait()
	return done, failed
}

// errMissing means an object listed a moment ago is gone.
var errMissing = errors.New("object missing")

// copyDigest stores one digest with its signature metadata and returns
// the log files it lists (nil when it cannot be parsed: the bytes are
// preserved as found and validation reports it).
func (c *CloudTrail) copyDigest(ctx context.Context, run Run, src *copiedSource, d cloudtrail.DigestKey, now time.Time) ([]cloudtrail.LogFile, error) {
	var body []byte
	err := c.copyFile(ctx, run, src, d.String(), cloudtrail.KindDigest, now, &body)
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
// keep, the bytes are also returned (digests are small) and kept for
// validation. A log file is hashed as it is copied (cloudtrail.Summer),
// so that validation does not read it again.
//
// A file an earlier run preserved (one a crash interrupted before its
// cursor moved, sealed since by a reseal, or one a reopened window
// reaches again) is not copied again: CloudTrail files never change, and
// one sealed copy is the evidence. A digest is still read, for the log
// files it lists.
func (c *CloudTrail) copyFile(ctx context.Context, run Run, src *copiedSource, key, kind string, now time.Time, keep *[]byte) error {
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
	meta := map[string]string{}
	for _, k := range []string{"signature", "signature-algorithm"} {
		if v, ok := obj.Metadata[k]; ok {
			meta[k] = v
		}
	}
	var body io.Reader = obj.Body
	var summer *cloudtrail.Summer
	var sum *cloudtrail.LogSum
	switch size, inline := inlineSize(obj.ContentLength); {
	case keep != nil:
		b, err := io.ReadAll(io.LimitReader(obj.Body, 64<<20))
		if err != nil {
			return fmt.Errorf("read s3://%s/%s: %w", c.Trail.Bucket, key, err)
		}
		*keep, body = b, bytes.NewReader(b)
		src.keepDigest(key, b, obj.Metadata)
	case inline:
		// Most log files are small: read whole, hashed here, then stored
		// from memory (a Summer's goroutine and pipe for each cost more).
		b := make([]byte, size)
		if _, err := io.ReadFull(obj.Body, b); err != nil {
			return fmt.Errorf("read s3://%s/%s: %w", c.Trail.Bucket, key, err)
		}
		s := cloudtrail.SumLog(bytes.NewReader(b))
		sum, body = &s, bytes.NewReader(b)
	default:
		summer = cloudtrail.NewSummer(obj.Body)
		body = summer
	}
	if sealed {
		return nil
	}
	version := aws.ToString(obj.VersionId)
	if version == "" {
		version = aws.ToString(obj.ETag)
	}
	_, err = run.Put(ctx, custody.ArtifactPath(c.Prefix, c.Account, c.Region, "cloudtrail", now, run.RunID(), key), body, custody.PutOptions{
		Kind: kind, Account: c.Account, Region: c.Region, Source: "s3://" + c.Trail.Bucket + "/" + key, SourceVersion: version,
		Metadata: meta, ContentType: "application/gzip"})
	switch {
	case summer != nil:
		if sum, ok := summer.Sum(err); ok {
			src.keepSum(key, sum)
		}
	case sum != nil && err == nil:
		src.keepSum(key, *sum)
	}
	return err
}

// maxInlineLog is the largest log file copyFile reads whole into memory.
const maxInlineLog = 1 << 20

// inlineSize is the size of a log object small enough to read whole
// (maxInlineLog at most), from its Content-Length; false when it is
// larger or unknown (no Content-Length: not an empty object).
func inlineSize(contentLength *int64) (int64, bool) {
	if contentLength == nil || *contentLength < 0 || *contentLength > maxInlineLog {
		return 0, false
	}
	return *contentLength, true
}

func (c *CloudTrail) lookback() time.Duration {
	if c.Lookback > 0 {
		return c.Lookback
	}
	return DefaultTrailLookback
}

func (c *CloudTrail) concurrency() int {
	if c.Concurrency > 0 {
		return c.Concurrency
	}
	return 16
}

// copiedSource reads a trail's bucket for validation, answering from what
// the run already read where it can: the digest listing, the digests
// (within a memory budget) and the sums of the log files copied. What it
// does not hold is read from the bucket.
type copiedSource struct {
	cloudtrail.BucketSource
	mu      sync.Mutex
	lists   map[string][]string
	digests map[string]keptObject
	kept    int64
	sums    map[string]cloudtrail.LogSum
}

type keptObject struct {
	body []byte
	meta map[string]string
}

var _ cloudtrail.SummedSource = (*copiedSource)(nil)

// maxKeptDigests bounds the digest bytes kept for validation; digests past
// it are read again.
const maxKeptDigests = 64 << 20

func newCopiedSource(api trailBucketAPI, bucket string) *copiedSource {
	return &copiedSource{BucketSource: cloudtrail.BucketSource{API: api, Bucket: bucket},
		lists: map[string][]string{}, digests: map[string]keptObject{}, sums: map[string]cloudtrail.LogSum{}}
}

// List lists a prefix once; later listings of it replay the first, so
// validation sees the digests the run copied.
func (s *copiedSource) List(ctx context.Context, prefix string, fn func(string) error) error {
	s.mu.Lock()
	keys, ok := s.lists[prefix]
	s.mu.Unlock()
	if ok {
		for _, k := range keys {
			if err := fn(k); err != nil {
				return err
			}
		}
		return nil
	}
	var got []string
	if err := s.BucketSource.List(ctx, prefix, func(k string) error { got = append(got, k); return fn(k) }); err != nil {
		return err
	}
	s.mu.Lock()
	s.lists[prefix] = got
	s.mu.Unlock()
	return nil
}

// Get answers a kept digest from memory, anything else from the bucket.
func (s *copiedSource) Get(ctx context.Context, key string) (io.ReadCloser, map[string]string, error) {
	s.mu.Lock()
	o, ok := s.digests[key]
	s.mu.Unlock()
	if ok {
		return io.NopCloser(bytes.NewReader(o.body)), o.meta, nil
	}
	return s.BucketSource.Get(ctx, key)
}

// LogSum is the sum of a log file the run copied.
func (s *copiedSource) LogSum(key string) (cloudtrail.LogSum, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum, ok := s.sums[key]
	return sum, ok
}

func (s *copiedSource) keepDigest(key string, body []byte, meta map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kept+int64(len(body)) > maxKeptDigests {
		return
	}
	s.kept += int64(len(body))
	s.digests[key] = keptObject{body: body, meta: meta}
}

func (s *copiedSource) keepSum(key string, sum cloudtrail.LogSum) {
	s.mu.Lock()
	s.sums[key] = sum
	s.mu.Unlock()
}
