package collector

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gdtypes "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/smithy-go"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
)

// securityHubAPI is the one Security Hub call the detectors collector makes.
type securityHubAPI interface {
	GetFindings(context.Context, *securityhub.GetFindingsInput, ...func(*securityhub.Options)) (*securityhub.GetFindingsOutput, error)
}

// guardDutyAPI is what reading GuardDuty's findings directly needs.
type guardDutyAPI interface {
	ListDetectors(context.Context, *guardduty.ListDetectorsInput, ...func(*guardduty.Options)) (*guardduty.ListDetectorsOutput, error)
	ListFindings(context.Context, *guardduty.ListFindingsInput, ...func(*guardduty.Options)) (*guardduty.ListFindingsOutput, error)
	GetFindings(context.Context, *guardduty.GetFindingsInput, ...func(*guardduty.Options)) (*guardduty.GetFindingsOutput, error)
}

var (
	_ securityHubAPI = (*securityhub.Client)(nil)
	_ guardDutyAPI   = (*guardduty.Client)(nil)
)

// guardDutyBatch is how many findings ListFindings pages and GetFindings
// takes at most.
const guardDutyBatch = 50

// Detectors preserves the findings of AWS's detectors about one account
// and region: Security Hub's (which aggregate GuardDuty, Macie, Inspector
// and IAM Access Analyzer), or GuardDuty's read directly where Security
// Hub is not enabled. Each run seals the findings updated since the last
// one, as one gzip NDJSON artifact per source, noting the monitored
// buckets each finding names.
type Detectors struct {
	SecurityHub securityHubAPI
	GuardDuty   guardDutyAPI
	Ledger      *ledger.Ledger
	Account     string
	Region      string
	// Buckets are the account's monitored buckets: a finding naming one is
	// noted in the artifact, and raised when its severity is HIGH or
	// CRITICAL.
	Buckets []string
	Prefix  string
	Now     func() time.Time
}

func (c *Detectors) Name() string { return "findings:" + c.Account + "/" + c.Region }
func (c *Detectors) Kind() string { return "findings" }

// planDetectors makes the detector findings collector of each of an
// account's regions, when wanted (the kind is scheduled and selected).
func planDetectors(wanted bool, ac awsclient.Config, acct config.Account, prefix string, l *ledger.Ledger, now func() time.Time) []Collector {
	if !wanted {
		return nil
	}
	var out []Collector
	for _, region := range acct.Regions {
		rc := ac.WithRegion(region)
		out = append(out, &Detectors{SecurityHub: securityhub.NewFromConfig(rc.AWS), GuardDuty: guardduty.NewFromConfig(rc.AWS),
			Ledger: l, Account: acct.ID, Region: region, Buckets: acct.Buckets, Prefix: prefix, Now: now})
	}
	return out
}

// DetectorRecord is one line of a detector findings artifact: the finding
// as the service gave it, which service, and the monitored buckets it
// names.
type DetectorRecord struct {
	Source           string   `json:"source"` // "securityhub" or "guardduty"
	MonitoredBuckets []string `json:"monitoredBuckets,omitempty"`
	Finding          any      `json:"finding"`
}

// detectorPage is one page of findings, already reduced to what is newer
// than the cursor; more says whether another page follows.
type detectorPage func(ctx context.Context) (recs []DetectorRecord, more bool, err error)

// maxMalformed bounds the detector-finding-malformed findings of one run;
// a summary counts the rest.
const maxMalformed = 10

// detectorRun is the state of one collection: the findings the manifest
// records and the newest update time per cursor scope.
type detectorRun struct {
	c         *Detectors
	out       *Outcome
	malformed int
	newest    time.Time // the newest update time kept by the pages being stored
}

// Collect reads Security Hub's findings updated since the cursor, or
// GuardDuty's where Security Hub is not enabled, and seals them.
func (c *Detectors) Collect(ctx context.Context, run Run) (Outcome, error) {
	now := c.Now().UTC()
	out := Outcome{Account: c.Account, Region: c.Region, WindowEnd: now, Description: "detector findings"}
	r := &detectorRun{c: c, out: &out}
	cursors := map[string]string{}
	shScope := "securityhub/" + c.Account + "/" + c.Region
	since, err := r.cursor(ctx, shScope)
	if err != nil {
		return out, err
	}
	newest, n, err := r.store(ctx, run, "securityhub", since, now, r.securityHubPages(since, now))
	shDisabled, fallback := false, false
	switch {
	case isCode(err, "InvalidAccessException"):
		shDisabled, fallback = true, true // Security Hub is not enabled: read GuardDuty
		out.Description += "; Security Hub not enabled"
	case err != nil && awsclient.AccessDenied(err):
		fallback = true
		r.warn(finding.DetectorUnreadable, shScope, err, "Security Hub GetFindings: %v; GuardDuty is read directly instead", err)
	case err != nil:
		return out, fmt.Errorf("security hub findings of %s in %s: %w", c.Account, c.Region, err)
	default:
		out.WindowStart = since
		out.Sources = append(out.Sources, "securityhub:GetFindings/"+c.Account+"/"+c.Region)
		out.Description += fmt.Sprintf("; %d Security Hub finding(s)", n)
		if newest != "" {
			cursors[shScope] = newest
		}
	}
	if fallback {
		detectors, err := r.guardDuty(ctx, run, now, cursors)
		if err != nil {
			return out, err
		}
		if shDisabled && detectors == 0 {
			// Neither service watches the account here.
			out.Findings = append(out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.DetectorsUnavailable, Object: c.Name(),
				Message: fmt.Sprintf("neither Security Hub nor GuardDuty is enabled for account %s in %s: there are no detector findings to preserve", c.Account, c.Region),
				Remedy:  "enable GuardDuty (and Security Hub, which also aggregates Macie, Inspector and IAM Access Analyzer) in this account and region"})
		}
	}
	if r.malformed > maxMalformed {
		out.Findings = append(out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.DetectorFindingMalformed, Object: c.Name(),
			Message: fmt.Sprintf("%d more finding(s) without a readable id or update time, preserved as given", r.malformed-maxMalformed)})
	}
	out.AfterSeal(func(ctx context.Context) error {
		for scope, v := range cursors {
			if err := c.Ledger.SetCursor(ctx, "findings", scope, v); err != nil {
				return err
			}
		}
		return nil
	})
	return out, nil
}

// guardDuty reads the findings of every GuardDuty detector of the region
// and returns how many detectors there are (-1: ListDetectors was denied,
// which is a finding).
func (r *detectorRun) guardDuty(ctx context.Context, run Run, now time.Time, cursors map[string]string) (int, error) {
	c := r.c
	var ids []string
	in := &guardduty.ListDetectorsInput{}
	for page := 0; page < 1000; page++ {
		resp, err := c.GuardDuty.ListDetectors(ctx, in)
		if err != nil {
			if awsclient.AccessDenied(err) {
				r.warn(finding.DetectorUnreadable, "guardduty/"+c.Account+"/"+c.Region, err, "GuardDuty ListDetectors: %v", err)
				return -1, nil
			}
			return 0, fmt.Errorf("guardduty detectors of %s in %s: %w", c.Account, c.Region, err)
		}
		ids = append(ids, resp.DetectorIds...)
		if next := aws.ToString(resp.NextToken); next == "" || next == aws.ToString(in.NextToken) {
			break
		}
		in.NextToken = resp.NextToken
	}
	for _, id := range ids {
		scope := "guardduty/" + c.Account + "/" + c.Region + "/" + id
		since, err := r.cursor(ctx, scope)
		if err != nil {
			return len(ids), err
		}
		newest, n, err := r.store(ctx, run, "guardduty-"+id, since, now, r.guardDutyPages(id, since))
		if err != nil {
			if awsclient.AccessDenied(err) {
				r.warn(finding.DetectorUnreadable, scope, err, "GuardDuty findings of detector %s: %v", id, err)
				continue
			}
			return len(ids), fmt.Errorf("guardduty findings of %s in %s (detector %s): %w", c.Account, c.Region, id, err)
		}
		if r.out.WindowStart.IsZero() || since.Before(r.out.WindowStart) {
			r.out.WindowStart = since
		}
		r.out.Sources = append(r.out.Sources, "guardduty:ListFindings/"+c.Account+"/"+c.Region+"/"+id)
		r.out.Description += fmt.Sprintf("; %d GuardDuty finding(s) of detector %s", n, id)
		if newest != "" {
			cursors[scope] = newest
		}
	}
	return len(ids), nil
}

// cursor is the newest update time sealed for scope (zero before the
// first run, which takes every finding the service still keeps).
func (r *detectorRun) cursor(ctx context.Context, scope string) (time.Time, error) {
	cur, err := r.c.Ledger.Cursor(ctx, "findings", scope)
	if errors.Is(err, ledger.ErrNotFound) {
		return time.Time{}, nil // the first run: every finding kept
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, cur)
	if err != nil {
		return time.Time{}, fmt.Errorf("cursor findings %s: %q is not an RFC 3339 time: %w", scope, cur, err)
	}
	return t, nil
}

func (r *detectorRun) warn(kind finding.Kind, object string, err error, format string, args ...any) {
	r.out.Findings = append(r.out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: kind, Object: object,
		Message: fmt.Sprintf(format, args...), Remedy: awsclient.CollectorRole.Grant(err)})
}

// isCode reports whether err is an AWS error with this code.
func isCode(err error, code string) bool {
	var ae smithy.APIError
	return err != nil && errors.As(err, &ae) && ae.ErrorCode() == code
}

// store streams the pages into one gzip NDJSON artifact, in constant
// memory, and returns the newest update time among them (RFC 3339, "" for
// none) and how many there were. No new finding: no artifact.
func (r *detectorRun) store(ctx context.Context, run Run, name string, since, now time.Time, next detectorPage) (string, int, error) {
	r.newest = since
	count := 0
	var first []DetectorRecord
	more := true
	for more && len(first) == 0 {
		var err error
		if first, more, err = next(ctx); err != nil {
			return "", 0, err
		}
	}
	if len(first) == 0 {
		return "", 0, nil
	}
	pr, pw := io.Pipe()
	var readErr error // an error of the service, not of the store
	done := make(chan struct{})
	go func() {
		defer close(done)
		bw := bufio.NewWriter(pw)
		zw := gzip.NewWriter(bw)
		enc := json.NewEncoder(zw)
		write := func(recs []DetectorRecord) error {
			for _, rec := range recs {
				if err := enc.Encode(rec); err != nil {
					return err
				}
				count++
			}
			return nil
		}
		err := write(first)
		for err == nil && more {
			var recs []DetectorRecord
			if recs, more, readErr = next(ctx); readErr != nil {
				err = readErr
				break
			}
			err = write(recs)
		}
		if err == nil {
			err = zw.Close()
		}
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	_, err := run.Put(ctx, custody.ArtifactKey(r.c.Prefix, r.c.Account, r.c.Region, "findings", now, run.RunID(), name+"-findings.ndjson.gz"), pr,
		custody.PutOptions{Kind: "detector-findings", Account: r.c.Account, Region: r.c.Region, Source: name + ":" + r.c.Account + "/" + r.c.Region,
			ContentType: "application/x-ndjson"})
	pr.CloseWithError(err)
	<-done
	if readErr != nil {
		return "", 0, readErr
	}
	if err != nil {
		return "", 0, err
	}
	if !r.newest.After(since) {
		return "", count, nil
	}
	return r.newest.UTC().Format(time.RFC3339Nano), count, nil
}

// maxDetectorPages bounds one run's pages of one source, against a
// service that never stops answering with a next page.
const maxDetectorPages = 100000

// securityHubPages reads Security Hub's findings of the account updated
// after since, oldest first, a hundred at a time. The account and time
// filters are asked of Security Hub and checked again here: an
// administrator account's hub answers for its members too.
func (r *detectorRun) securityHubPages(since, now time.Time) detectorPage {
	c := r.c
	in := &securityhub.GetFindingsInput{
		Filters: &shtypes.AwsSecurityFindingFilters{
			AwsAccountId: []shtypes.StringFilter{{Comparison: shtypes.StringFilterComparisonEquals, Value: aws.String(c.Account)}},
		},
		SortCriteria: []shtypes.SortCriterion{{Field: aws.String("UpdatedAt"), SortOrder: shtypes.SortOrderAscending}},
		MaxResults:   aws.Int32(100),
	}
	if !since.IsZero() {
		in.Filters.UpdatedAt = []shtypes.DateFilter{{Start: aws.String(since.UTC().Format(time.RFC3339Nano)), End: aws.String(now.Format(time.RFC3339Nano))}}
	}
	pages := 0
	return func(ctx context.Context) ([]DetectorRecord, bool, error) {
		resp, err := c.SecurityHub.GetFindings(ctx, in)
		if err != nil {
			return nil, false, err
		}
		pages++
		var recs []DetectorRecord
		for i := range resp.Findings {
			f := &resp.Findings[i]
			if aws.ToString(f.AwsAccountId) != c.Account {
				continue
			}
			var buckets []string
			for _, res := range f.Resources {
				buckets = append(buckets, s3ARNBucket(aws.ToString(res.Id)))
				if res.Details != nil && res.Details.AwsS3Bucket != nil {
					buckets = append(buckets, aws.ToString(res.Details.AwsS3Bucket.Name))
				}
			}
			buckets = c.monitored(buckets)
			if !r.keep("securityhub", aws.ToString(f.Id), aws.ToString(f.UpdatedAt), since, securityHubSeverity(f.Severity), buckets, aws.ToString(f.Title)) {
				continue
			}
			recs = append(recs, DetectorRecord{Source: "securityhub", MonitoredBuckets: buckets, Finding: f})
		}
		next := aws.ToString(resp.NextToken)
		if next == "" || next == aws.ToString(in.NextToken) || pages >= maxDetectorPages {
			return recs, false, nil
		}
		in.NextToken = resp.NextToken
		return recs, true, nil
	}
}

// guardDutyPages reads one detector's findings of the account updated
// after since, oldest first: ListFindings fifty ids at a time, each batch
// read with GetFindings.
func (r *detectorRun) guardDutyPages(detector string, since time.Time) detectorPage {
	c := r.c
	criterion := map[string]gdtypes.Condition{"accountId": {Equals: []string{c.Account}}}
	if !since.IsZero() {
		criterion["updatedAt"] = gdtypes.Condition{GreaterThan: aws.Int64(since.UnixMilli())}
	}
	in := &guardduty.ListFindingsInput{DetectorId: aws.String(detector), MaxResults: aws.Int32(guardDutyBatch),
		FindingCriteria: &gdtypes.FindingCriteria{Criterion: criterion},
		SortCriteria:    &gdtypes.SortCriteria{AttributeName: aws.String("updatedAt"), OrderBy: gdtypes.OrderByAsc}}
	pages := 0
	return func(ctx context.Context) ([]DetectorRecord, bool, error) {
		resp, err := c.GuardDuty.ListFindings(ctx, in)
		if err != nil {
			return nil, false, err
		}
		pages++
		var recs []DetectorRecord
		if len(resp.FindingIds) > 0 {
			got, err := c.GuardDuty.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: aws.String(detector), FindingIds: resp.FindingIds})
			if err != nil {
				return nil, false, err
			}
			for i := range got.Findings {
				f := &got.Findings[i]
				if aws.ToString(f.AccountId) != c.Account {
					continue
				}
				var buckets []string
				if f.Resource != nil {
					for _, b := range f.Resource.S3BucketDetails {
						buckets = append(buckets, aws.ToString(b.Name), s3ARNBucket(aws.ToString(b.Arn)))
					}
				}
				buckets = c.monitored(buckets)
				severe := f.Severity != nil && *f.Severity >= 7 // GuardDuty: 7.0-8.9 high, 9.0-10.0 critical
				if !r.keep("guardduty", aws.ToString(f.Id), aws.ToString(f.UpdatedAt), since, severe, buckets, aws.ToString(f.Title)) {
					continue
				}
				recs = append(recs, DetectorRecord{Source: "guardduty", MonitoredBuckets: buckets, Finding: f})
			}
		}
		next := aws.ToString(resp.NextToken)
		if next == "" || next == aws.ToString(in.NextToken) || pages >= maxDetectorPages {
			return recs, false, nil
		}
		in.NextToken = resp.NextToken
		return recs, true, nil
	}
}

// securityHubSeverity says whether a finding is HIGH or CRITICAL: by its
// label, or by the normalized score of findings that have none.
func securityHubSeverity(s *shtypes.Severity) bool {
	if s == nil {
		return false
	}
	switch s.Label {
	case shtypes.SeverityLabelHigh, shtypes.SeverityLabelCritical:
		return true
	case "":
		return aws.ToInt32(s.Normalized) >= 70
	}
	return false
}

// keep says whether a finding goes into the artifact (it was updated
// after since; one whose update time cannot be read is kept, and is a
// finding), and raises a HIGH or CRITICAL finding on a monitored bucket.
func (r *detectorRun) keep(source, id, updated string, since time.Time, severe bool, buckets []string, title string) bool {
	t, err := time.Parse(time.RFC3339Nano, updated)
	if err != nil || id == "" {
		r.malformed++
		if r.malformed <= maxMalformed {
			r.out.Findings = append(r.out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.DetectorFindingMalformed,
				Object: source + ":" + id, Message: fmt.Sprintf("a %s finding with id %q and update time %q (an RFC 3339 time expected): preserved as given, but it does not move the cursor", source, id, updated)})
		}
		return true
	}
	if !t.After(since) {
		return false
	}
	if t.After(r.newest) {
		r.newest = t
	}
	if severe {
		for _, b := range buckets {
			r.out.Findings = append(r.out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.DetectorFindingOnBucket, Object: b,
				Message: fmt.Sprintf("%s finding %s (HIGH or CRITICAL) names the monitored bucket: %s", source, id, title),
				Remedy:  "read the finding in the sealed detector-findings artifact and investigate; custody preserves it, it does not act on it"})
		}
	}
	return true
}

// s3ARNBucket is the bucket an S3 ARN names (arn:<partition>:s3:::bucket
// or .../key), or "".
func s3ARNBucket(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "s3" {
		return ""
	}
	b, _, _ := strings.Cut(parts[5], "/")
	return b
}

// monitored returns the names among names that are monitored buckets,
// sorted, each once.
func (c *Detectors) monitored(names []string) []string {
	var out []string
	for _, n := range names {
		if n != "" && slices.Contains(c.Buckets, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
