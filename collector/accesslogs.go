package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/collector/accesslog"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
)

// accessLogsAPI is what collecting access logs needs: the monitored
// buckets' logging settings, and listing and reading the log buckets.
type accessLogsAPI interface {
	GetBucketLogging(context.Context, *s3.GetBucketLoggingInput, ...func(*s3.Options)) (*s3.GetBucketLoggingOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ accessLogsAPI = (*s3.Client)(nil)

// Artifact kinds of the access-log collector.
const (
	KindAccessLog = "access-log" // an S3 server access log object, parsed and counted
	KindLogFile   = "log-file"   // another log delivered to S3, sealed as found
)

// AccessLogs copies and seals, for one account and region, the S3 server
// access logs of the monitored buckets there (found with GetBucketLogging,
// or given in the configuration) and the objects of the configured log
// buckets (VPC flow logs, load balancer logs), incrementally: a cursor per
// delivery, advanced only once the run is sealed, and every object an
// earlier run sealed skipped, so a run killed part-way and run again seals
// every object exactly once.
type AccessLogs struct {
	API        accessLogsAPI
	Ledger     *ledger.Ledger
	Account    string
	Region     string
	Buckets    []string                 // monitored buckets in Region
	Targets    []config.AccessLogTarget // configured targets, besides what S3 reports
	LogBuckets []config.BucketPrefix    // opaque log deliveries in Region
	Prefix     string
	Now        func() time.Time
	// Concurrency is how many objects are copied at once (default 32).
	Concurrency int
	// MaxObjects is how many objects one run copies at most (default
	// DefaultMaxObjects): a run's manifest lists every object it seals, so
	// this bounds its memory; a larger backlog is copied by the next runs.
	MaxObjects int
}

// DefaultMaxObjects is how many objects an access-log run copies at most.
const DefaultMaxObjects = 5000

func (c *AccessLogs) Name() string { return "accesslogs:" + c.Account + "/" + c.Region }
func (c *AccessLogs) Kind() string { return "accesslogs" }

// accessLogStats are a run's counts, updated by concurrent copies.
type accessLogStats struct {
	accessLogs, files, skipped, records, malformed atomic.Int64
	more                                           bool // stopped at MaxObjects (the listing goroutine's)
	mu                                             sync.Mutex
	perBucket                                      map[string]int64 // records per source bucket
}

// Collect finds each bucket's log target, then copies what is new.
func (c *AccessLogs) Collect(ctx context.Context, run Run) (Outcome, error) {
	now := c.Now().UTC()
	out := Outcome{Account: c.Account, Region: c.Region, WindowEnd: now, Description: "S3 server access logs and log files in " + c.Region}
	var mu sync.Mutex
	note := func(f custody.Finding) { mu.Lock(); out.Findings = append(out.Findings, f); mu.Unlock() }
	deliveries := c.deliveries(ctx, note)
	stats := &accessLogStats{perBucket: map[string]int64{}}
	cursors := map[string]string{}
	var seen sync.Map // source URLs copied by this run: each once
	budget := c.MaxObjects
	if budget <= 0 {
		budget = DefaultMaxObjects
	}
	left := budget
	for _, d := range deliveries {
		if left == 0 {
			stats.more = true // the next run lists this delivery
			break
		}
		out.Sources = append(out.Sources, "s3://"+d.bucket+"/"+d.prefix)
		cursor, err := c.Ledger.Cursor(ctx, "accesslogs", d.scope())
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			return out, err
		}
		newest, err := c.collect(ctx, run, d, d.startAfter(cursor), now, stats, &seen, &left, note)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if err != nil {
			var unreadable *unreadableError
			if !errors.As(err, &unreadable) {
				return out, err
			}
			// This delivery alone is left for the next run.
			note(custody.Finding{Severity: custody.SeverityWarning, Kind: finding.AccessLogsUnreadable, Object: "s3://" + d.bucket + "/" + d.prefix,
				Message: unreadable.Error(), Remedy: awsclient.CollectorRole.Grant(unreadable.err)})
			continue
		}
		if newest > cursor {
			cursors[d.scope()] = newest
		}
	}
	out.Description += fmt.Sprintf(": %d access log object(s) with %d record(s), %d malformed line(s); %d log file(s); %d already sealed",
		stats.accessLogs.Load(), stats.records.Load(), stats.malformed.Load(), stats.files.Load(), stats.skipped.Load())
	for _, b := range sortedKeys(stats.perBucket) {
		out.Description += fmt.Sprintf("; %s: %d record(s)", b, stats.perBucket[b])
	}
	if stats.more {
		out.Description += fmt.Sprintf("; %d object(s) copied, the most a run copies: the next run goes on from there", budget)
	}
	out.AfterSeal(func(ctx context.Context) error {
		for scope, v := range cursors {
			if err := c.Ledger.SetCursor(ctx, "accesslogs", scope, v); err != nil {
				return err
			}
		}
		return nil
	})
	return out, nil
}

// deliveries are the places to list: each bucket's logging target (as S3
// reports it, and as configured), each once however many buckets share
// it, then the log buckets. A bucket with no target is unobserved.
func (c *AccessLogs) deliveries(ctx context.Context, note func(custody.Finding)) []delivery {
	byScope := map[string]*delivery{}
	var order []string
	add := func(d delivery, source string) {
		if p, ok := byScope[d.scope()]; ok {
			if source != "" && !slices.Contains(p.sources, source) {
				p.sources = append(p.sources, source)
			}
			return
		}
		if source != "" {
			d.sources = []string{source}
		}
		byScope[d.scope()] = &d
		order = append(order, d.scope())
	}
	target := func(bucket, tb, tp, format string, event bool) delivery {
		d := delivery{bucket: tb, prefix: tp, format: format, event: event}
		if format == config.AccessLogPartitioned {
			d.prefix = tp + c.Account + "/" + c.Region + "/" + bucket + "/"
		}
		return d
	}
	for _, b := range c.Buckets {
		found := false
		for _, t := range c.Targets {
			if t.Bucket != b {
				continue
			}
			format := t.Format
			if format == "" {
				format = config.AccessLogSimple
			}
			add(target(b, t.TargetBucket, t.TargetPrefix, format, t.DateSource != "DeliveryTime"), b)
			found = true
		}
		o, err := c.API.GetBucketLogging(ctx, &s3.GetBucketLoggingInput{Bucket: aws.String(b)})
		switch {
		case err != nil && !found:
			st := classify(nil, err, nil)
			msg := "GetBucketLogging: " + err.Error() + "; its access logs, if any, are not collected"
			if st.State == StateUnsupported {
				msg = "the S3 server does not implement GetBucketLogging: give the bucket's log target in access_logs"
			}
			note(custody.Finding{Severity: custody.SeverityWarning, Kind: finding.AccessLogsUnreadable, Object: "s3://" + b, Message: msg,
				Remedy: awsclient.CollectorRole.Grant(err)})
		case err != nil:
			// The configured target is collected; S3's answer is not needed.
		case o.LoggingEnabled != nil && aws.ToString(o.LoggingEnabled.TargetBucket) != "":
			le := o.LoggingEnabled
			format, event := config.AccessLogSimple, true
			if f := le.TargetObjectKeyFormat; f != nil && f.PartitionedPrefix != nil {
				format = config.AccessLogPartitioned
				event = f.PartitionedPrefix.PartitionDateSource != s3types.PartitionDateSourceDeliveryTime
			}
			add(target(b, aws.ToString(le.TargetBucket), aws.ToString(le.TargetPrefix), format, event), b)
		case !found:
			note(custody.Finding{Severity: custody.SeverityWarning, Kind: finding.BucketUnobserved, Object: "s3://" + b,
				Message: "no server access logging; unless a trail logs its S3 data events (see cloudtrail-data-events-off), nothing records who read or wrote its objects",
				Remedy:  "enable server access logging on the bucket (PutBucketLogging, to a bucket the collector role may read: configs/iam, LOG_BUCKET), or CloudTrail S3 data events for it; on an S3 server without GetBucketLogging, give the target in access_logs"})
		}
	}
	for _, lb := range c.LogBuckets {
		add(delivery{bucket: lb.Bucket, prefix: lb.Prefix}, "")
	}
	out := make([]delivery, 0, len(order))
	for _, s := range order {
		out = append(out, *byScope[s])
	}
	return out
}

// unreadableError is a delivery that could not be listed or read: a
// finding, and the other deliveries go on.
type unreadableError struct{ err error }

func (e *unreadableError) Error() string { return e.err.Error() }
func (e *unreadableError) Unwrap() error { return e.err }

// collect copies a delivery's new objects, in parallel, at most *left of
// them, and returns the newest key listed (every key up to it is sealed or
// in this run).
func (c *AccessLogs) collect(ctx context.Context, run Run, d delivery, startAfter string, now time.Time, stats *accessLogStats,
	seen *sync.Map, left *int, note func(custody.Finding)) (string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(d.bucket), Prefix: aws.String(d.prefix)}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	if d.format == config.AccessLogSimple {
		in.Delimiter = aws.String("/") // what is under a folder is not this delivery's
	}
	// The copies are made by Concurrency workers, each for the whole
	// delivery (a goroutine for each object would grow a new stack
	// through the SDK and the ledger every time).
	g, gctx := errgroup.WithContext(ctx)
	type task struct{ key, source string }
	// A batch may wait while the workers take the one before: listing the
	// next page and recording its intents never leaves them idle.
	tasks := make(chan task, c.concurrency())
	for range c.concurrency() {
		g.Go(func() error {
			for t := range tasks {
				if err := c.copyOne(gctx, run, d, t.key, t.source, now, stats, note); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// The copies are handed to the workers as many at a time as there are
	// workers, their intents recorded together first (custody.Run.Intend):
	// one commit for them rather than one each.
	batch := make([]task, 0, c.concurrency())
	dispatch := func() error {
		defer func() { batch = batch[:0] }()
		if len(batch) == 0 {
			return nil
		}
		if in, ok := run.(intender); ok {
			intents := make([]custody.Intent, len(batch))
			for i, t := range batch {
				intents[i] = custody.Intent{Key: c.artifactKey(run, d, t.key, now), Options: c.putOptions(d, t.source, "")}
			}
			if err := in.Intend(gctx, intents); err != nil {
				return err
			}
		}
		for _, t := range batch {
			select {
			case tasks <- t:
			case <-gctx.Done():
				return nil // the workers' error, or the context's, is returned
			}
		}
		return nil
	}
	newest := ""
	p := s3.NewListObjectsV2Paginator(c.API, in)
	token := ""
	var listErr error
list:
	for p.HasMorePages() && gctx.Err() == nil {
		page, err := p.NextPage(gctx)
		if err == nil {
			err = awsclient.ObjectsAdvance(&token, page)
		}
		if err != nil {
			listErr = &unreadableError{fmt.Errorf("list s3://%s/%s: %w", d.bucket, d.prefix, awsclient.CollectorRole.Explain(err))}
			break
		}
		var keys, sources []string
		for _, o := range page.Contents {
			if key := aws.ToString(o.Key); d.belongs(key) {
				keys, sources = append(keys, key), append(sources, "s3://"+d.bucket+"/"+key)
			}
		}
		// Sealed by an earlier run (one whose cursor a crash kept from
		// moving, or listed again within the late-delivery margin): the
		// page's objects are looked up at once.
		sealed, err := c.Ledger.SealedSources(gctx, sources)
		if err != nil {
			listErr = err
			break
		}
		for i, key := range keys {
			source := sources[i]
			if sealed[source] {
				stats.skipped.Add(1)
			} else if _, dup := seen.Load(source); !dup {
				if *left == 0 {
					stats.more = true
					break list
				}
				*left--
				seen.Store(source, true)
				if batch = append(batch, task{key, source}); len(batch) == cap(batch) {
					if listErr = dispatch(); listErr != nil {
						break list
					}
				}
			}
			if key > newest {
				newest = key
			}
		}
	}
	if err := dispatch(); listErr == nil {
		listErr = err
	}
	close(tasks)
	if err := g.Wait(); err != nil {
		return "", err
	}
	if listErr != nil {
		return "", listErr
	}
	return newest, ctx.Err()
}

// copyOne copies one object; a server access log is parsed as it streams
// through.
func (c *AccessLogs) copyOne(ctx context.Context, run Run, d delivery, key, source string, now time.Time, stats *accessLogStats, note func(custody.Finding)) error {
	obj, err := awsclient.GetObject(ctx, c.API, &s3.GetObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(key)})
	if awsclient.NotFound(err) {
		return nil // removed since the listing (a lifecycle rule): nothing to copy
	}
	if err != nil {
		return &unreadableError{fmt.Errorf("read %s: %w", source, awsclient.CollectorRole.Explain(err))}
	}
	defer obj.Body.Close()
	version := aws.ToString(obj.VersionId)
	if version == "" {
		version = aws.ToString(obj.ETag)
	}
	contentType := aws.ToString(obj.ContentType)
	artifact := c.artifactKey(run, d, key, now)
	opts := c.putOptions(d, source, version)
	if size, inline := inlineSize(obj.ContentLength); d.format != "" && inline {
		// Most log objects are small: read whole, parsed here, then stored
		// from memory (a parser's goroutine and pipe for each cost more).
		b := make([]byte, size)
		if _, err := io.ReadFull(obj.Body, b); err != nil {
			return &unreadableError{fmt.Errorf("read %s: %w", source, err)}
		}
		n := countRecords(bytes.NewReader(b))
		if _, err := run.Put(ctx, artifact, bytes.NewReader(b), opts); err != nil {
			return err
		}
		c.count(source, n, stats, note)
		return nil
	}
	if d.format != "" {
		// Parsed as it streams to the store: the parser reads what Put
		// reads, and is told of Put's end (or failure) by the pipe.
		pr, pw := io.Pipe()
		parsed := make(chan logCount, 1)
		go func() { parsed <- countRecords(pr) }()
		_, err := run.Put(ctx, artifact, io.TeeReader(obj.Body, pw), opts)
		pw.CloseWithError(err)
		n := <-parsed
		if err != nil {
			return err
		}
		c.count(source, n, stats, note)
		return nil
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	opts.ContentType = contentType
	if _, err := run.Put(ctx, artifact, obj.Body, opts); err != nil {
		return err
	}
	stats.files.Add(1)
	return nil
}

// intender is a run that records the intents of uploads in advance
// (custody.Run).
type intender interface {
	Intend(ctx context.Context, intents []custody.Intent) error
}

var _ intender = (*custody.Run)(nil)

// artifactKey is where the copy of a delivery's object is stored.
func (c *AccessLogs) artifactKey(run Run, d delivery, key string, now time.Time) string {
	return custody.ArtifactPath(c.Prefix, c.Account, c.Region, "accesslogs", now, run.RunID(), d.bucket+"/"+key)
}

// putOptions describe the copy of a delivery's object (an opaque file's
// content type is its own, set by copyOne).
func (c *AccessLogs) putOptions(d delivery, source, version string) custody.PutOptions {
	if d.format == "" {
		return custody.PutOptions{Kind: KindLogFile, Account: c.Account, Region: c.Region, Source: source, SourceVersion: version}
	}
	return custody.PutOptions{Kind: KindAccessLog, Account: c.Account, Region: c.Region, Source: source, SourceVersion: version, ContentType: "text/plain"}
}

// logCount is what parsing one log object found.
type logCount struct {
	lines, records int64
	perBucket      map[string]int64
	bad            []*accesslog.LineError // the first few
	moreBad        int64
	err            error
}

// count adds one parsed log object to the run's counts; its malformed
// lines are a finding.
func (c *AccessLogs) count(source string, n logCount, stats *accessLogStats, note func(custody.Finding)) {
	stats.accessLogs.Add(1)
	stats.records.Add(n.records)
	stats.malformed.Add(int64(len(n.bad)) + n.moreBad)
	stats.mu.Lock()
	for b, k := range n.perBucket {
		if slices.Contains(c.Buckets, b) {
			stats.perBucket[b] += k
		}
	}
	stats.mu.Unlock()
	if len(n.bad) == 0 {
		return
	}
	lines := make([]string, len(n.bad))
	for i, le := range n.bad {
		lines[i] = le.Error()
	}
	msg := strings.Join(lines, "; ")
	if n.moreBad > 0 {
		msg += fmt.Sprintf("; and %d more", n.moreBad)
	}
	note(custody.Finding{Severity: custody.SeverityWarning, Kind: finding.AccessLogMalformed, Object: source,
		Message: fmt.Sprintf("%d of %d line(s) are not access log records (sealed as found): %s", int64(len(n.bad))+n.moreBad, n.lines, msg),
		Remedy:  "read the sealed copy: S3 writes every record in the documented format, so a malformed line was written by something else, or the object was altered"})
}

// maxBadLines is how many malformed lines a finding names.
const maxBadLines = 5

// countRecords reads a log object to its end, counting records per bucket
// and keeping the first malformed lines; it always drains r.
func countRecords(r io.Reader) logCount {
	n := logCount{perBucket: map[string]int64{}}
	rd := accesslog.NewReader(r)
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *accesslog.LineError
		switch {
		case errors.As(err, &le):
			if len(n.bad) < maxBadLines {
				n.bad = append(n.bad, le)
			} else {
				n.moreBad++
			}
			continue
		case err != nil:
			n.err = err
			_, _ = io.Copy(io.Discard, r)
			n.lines = int64(rd.Line())
			return n
		}
		n.records++
		n.perBucket[rec.Bucket]++
	}
	n.lines = int64(rd.Line())
	return n
}

func (c *AccessLogs) concurrency() int {
	if c.Concurrency > 0 {
		return c.Concurrency
	}
	return 32
}

// planAccessLogs makes the access-log collectors of one account, when
// the kind is scheduled and wanted: one per region holding a monitored
// bucket or a log bucket (a bucket's access logs go to a bucket of its
// region), none when there is neither.
func planAccessLogs(ctx context.Context, ac awsclient.Config, cfg config.Config, acct config.Account, l *ledger.Ledger, wanted bool, now func() time.Time) []Collector {
	if cfg.Schedules.AccessLogs == "" || !wanted || len(acct.Buckets) == 0 && len(acct.LogBuckets) == 0 {
		return nil
	}
	prefix := cfg.Store.Prefix
	byRegion := map[string]*AccessLogs{}
	get := func(region string) *AccessLogs {
		if c, ok := byRegion[region]; ok {
			return c
		}
		c := &AccessLogs{API: ac.WithRegion(region).S3(), Ledger: l, Account: acct.ID, Region: region, Targets: acct.AccessLogs, Prefix: prefix, Now: now}
		byRegion[region] = c
		return c
	}
	fallback := firstRegion(acct.Regions, ac.AWS.Region)
	for _, b := range acct.Buckets {
		c := get(bucketRegion(ctx, ac.S3(), b, fallback))
		c.Buckets = append(c.Buckets, b)
	}
	for _, lb := range acct.LogBuckets {
		c := get(bucketRegion(ctx, ac.S3(), lb.Bucket, fallback))
		c.LogBuckets = append(c.LogBuckets, lb)
	}
	regions := make([]string, 0, len(byRegion))
	for r := range byRegion {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	out := make([]Collector, 0, len(regions))
	for _, r := range regions {
		out = append(out, byRegion[r])
	}
	return out
}
