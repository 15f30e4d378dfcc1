package search

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"sort"
	"time"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/ledger"
)

// Kinds of sealed artifact search reads.
const (
	KindCloudTrailLog = "cloudtrail-log"
	KindAccessLog     = "access-log" // an S3 server access log object, as the accesslogs collector seals it
)

// File is one sealed log file search may read.
type File struct {
	Bucket, Key, VersionID, SHA256 string
	Size                           int64
	Kind                           string
	Account, Region                string
	// Source is where the collector copied it from (s3://bucket/key).
	Source string
	// Time is the time its name carries: CloudTrail's delivery time, after
	// every record in it.
	Time time.Time
	// Manifest is "<stream>/<sequence>" of the manifest sealing it.
	Manifest string
}

// Catalog lists the sealed files of a kind.
type Catalog interface {
	Files(ctx context.Context, kind string) ([]File, error)
}

// LedgerCatalog lists sealed files from the local ledger: no listing of
// the bucket, no reading of manifests.
type LedgerCatalog struct {
	Ledger *ledger.Ledger
	Bucket string
}

// Files returns the ledger's sealed artifacts of kind.
func (c LedgerCatalog) Files(ctx context.Context, kind string) ([]File, error) {
	arts, err := c.Ledger.SealedOfKind(ctx, c.Bucket, kind)
	if err != nil {
		return nil, err
	}
	out := make([]File, 0, len(arts))
	for _, a := range arts {
		out = append(out, File{Bucket: a.Bucket, Key: a.Key, VersionID: a.VersionID, SHA256: a.SHA256, Size: a.Size, Kind: a.Kind,
			Account: a.Account, Region: a.Region, Source: a.Source, Manifest: fmt.Sprintf("%s/%d", a.ManifestStream, a.ManifestSeq)})
	}
	return out, nil
}

// ManifestCatalog lists sealed files from the store's manifests, each
// verified (signature, chain, log) against the trust anchor: what a
// machine without the ledger, or a package's recipient, believes. The
// manifests are read and verified once, whatever kinds are asked for.
type ManifestCatalog struct {
	Verifier *custody.Verifier
	Bucket   string
	// Findings are the failures of the manifests' verification, once
	// Files has run: files of a manifest that failed are not listed.
	Findings custody.Findings
	sealed   []custody.SealedArtifact
	read     bool
}

// Files returns the verified manifests' subjects of kind.
func (c *ManifestCatalog) Files(ctx context.Context, kind string) ([]File, error) {
	if !c.read {
		arts, fs, err := c.Verifier.Sealed(ctx)
		if err != nil {
			return nil, err
		}
		c.sealed, c.Findings, c.read = arts, fs, true
	}
	var out []File
	for _, a := range c.sealed {
		if a.Kind == kind {
			out = append(out, File{Bucket: c.Bucket, Key: a.Key, VersionID: a.VersionID, SHA256: a.SHA256, Size: a.Size, Kind: a.Kind,
				Account: a.Account, Region: a.Region, Source: a.Source, Manifest: fmt.Sprintf("%s/%d", a.Stream, a.Sequence)})
		}
	}
	return out, nil
}

// Problems are the manifests' verification failures as search problems:
// the files they seal are left out of the answer.
func (c *ManifestCatalog) Problems() []Problem {
	var out []Problem
	for _, f := range c.Findings {
		if f.Severity == custody.SeverityFailure {
			out = append(out, Problem{Object: f.Object, Message: string(f.Kind) + ": " + f.Message + " (the files it seals are left out; run custody verify)"})
		}
	}
	return out
}

// ctLogName is a CloudTrail log file's name: account, region, delivery
// time (docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-examples).
var ctLogName = regexp.MustCompile(`^(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_[A-Za-z0-9]+\.json\.gz$`)

// fileTime reads the time a file's name carries, from its source key
// (else its key in the store).
func fileTime(f File) (time.Time, bool) {
	for _, k := range []string{f.Source, f.Key} {
		if m := ctLogName.FindStringSubmatch(path.Base(k)); m != nil {
			t, err := time.Parse("20060102T1504Z", m[3])
			return t.UTC(), err == nil
		}
		if t, ok := accessLogTime(k); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// AccessLogWindow is Window for S3 server access logs, whose delivery is
// best effort and slower than CloudTrail's (a record may arrive hours
// late), and whose event-time partitions name a day's objects by its
// first second: files from a day before since to at least six hours after
// until are read, and each record's own time decides.
func AccessLogWindow(files []File, since, until time.Time, lag time.Duration) []File {
	if !since.IsZero() {
		since = since.Add(-24 * time.Hour)
	}
	return Window(files, since, until, max(lag, 6*time.Hour))
}

// Window selects the files that can hold records in [since, until]: a
// CloudTrail file holds records from before its delivery time, so it is
// read when delivered at or after since and at most lag after until.
// Files whose name carries no time are kept (they are read, not guessed
// about). The result is in time order.
func Window(files []File, since, until time.Time, lag time.Duration) []File {
	var out []File
	for _, f := range files {
		t, ok := fileTime(f)
		if ok {
			f.Time = t
			if !since.IsZero() && t.Before(since) || !until.IsZero() && t.After(until.Add(lag)) {
				continue
			}
		}
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// ReportFiles lists the subjects of kind of a verified report's manifests
// (an exported package, checked by custody.ReadBundle).
func ReportFiles(r *custody.Report, kind string) []File {
	var out []File
	for _, m := range r.Manifests {
		for _, sub := range m.Subjects() {
			a := sub.Annotations
			if a.Kind != kind {
				continue
			}
			out = append(out, File{Bucket: r.Bucket, Key: sub.Name, VersionID: a.VersionID, SHA256: sub.Digest["sha256"], Size: a.Size, Kind: a.Kind,
				Account: m.Where.Account, Region: m.Where.Region, Source: a.Source, Manifest: fmt.Sprintf("%s/%d", m.Stream, m.Sequence)})
		}
	}
	return out
}

// Select lists the sealed CloudTrail logs and S3 server access logs of a
// catalog that can hold records of [since, until], in time order, and how
// many sealed log files the catalog has in all.
func Select(ctx context.Context, c Catalog, since, until time.Time, lag time.Duration) ([]File, int, error) {
	ct, err := c.Files(ctx, KindCloudTrailLog)
	if err != nil {
		return nil, 0, err
	}
	al, err := c.Files(ctx, KindAccessLog)
	if err != nil {
		return nil, 0, err
	}
	return merge(Window(ct, since, until, lag), AccessLogWindow(al, since, until, lag)), len(ct) + len(al), nil
}

// SelectReport is Select over a verified report's manifests (a package).
func SelectReport(r *custody.Report, since, until time.Time, lag time.Duration) ([]File, int) {
	ct, al := ReportFiles(r, KindCloudTrailLog), ReportFiles(r, KindAccessLog)
	return merge(Window(ct, since, until, lag), AccessLogWindow(al, since, until, lag)), len(ct) + len(al)
}

func merge(a, b []File) []File {
	out := append(a, b...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}
