package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
)

// TrailStatusAPI is what the trail-status snapshot calls.
type TrailStatusAPI interface {
	DescribeTrails(context.Context, *ct.DescribeTrailsInput, ...func(*ct.Options)) (*ct.DescribeTrailsOutput, error)
	GetTrailStatus(context.Context, *ct.GetTrailStatusInput, ...func(*ct.Options)) (*ct.GetTrailStatusOutput, error)
	GetEventSelectors(context.Context, *ct.GetEventSelectorsInput, ...func(*ct.Options)) (*ct.GetEventSelectorsOutput, error)
}

var _ TrailStatusAPI = (*ct.Client)(nil)

// TrailStatus is the trail-status snapshot (artifact kind
// cloudtrail-trail-status): what the trail records, as CloudTrail said at
// CapturedAt. Parts that could not be read are named in Unreadable.
type TrailStatus struct {
	Account    string    `json:"account"`
	Region     string    `json:"region"`
	TrailName  string    `json:"trailName"`
	CapturedAt time.Time `json:"capturedAt"`
	// Found is false when DescribeTrails no longer lists the trail.
	Found                  bool                    `json:"found"`
	Trail                  *TrailDescription       `json:"trail,omitempty"`
	Status                 *TrailLoggingStatus     `json:"status,omitempty"`
	EventSelectors         []EventSelector         `json:"eventSelectors"`
	AdvancedEventSelectors []AdvancedEventSelector `json:"advancedEventSelectors"`
	// DataEvents is, for each monitored bucket of the account, how much
	// of its S3 object reads and writes the selectors record.
	DataEvents []BucketDataEvents `json:"dataEvents"`
	// Unreadable maps a call (GetTrailStatus) to why it failed.
	Unreadable map[string]string `json:"unreadable,omitempty"`
}

// TrailDescription is the trail as DescribeTrails lists it.
type TrailDescription struct {
	Name                       string `json:"name"`
	TrailARN                   string `json:"trailArn"`
	HomeRegion                 string `json:"homeRegion"`
	S3BucketName               string `json:"s3BucketName"`
	S3KeyPrefix                string `json:"s3KeyPrefix,omitempty"`
	IsMultiRegionTrail         bool   `json:"isMultiRegionTrail"`
	IsOrganizationTrail        bool   `json:"isOrganizationTrail"`
	IncludeGlobalServiceEvents bool   `json:"includeGlobalServiceEvents"`
	LogFileValidationEnabled   bool   `json:"logFileValidationEnabled"`
	KMSKeyID                   string `json:"kmsKeyId,omitempty"`
	HasCustomEventSelectors    bool   `json:"hasCustomEventSelectors"`
	HasInsightSelectors        bool   `json:"hasInsightSelectors"`
	CloudWatchLogsLogGroupARN  string `json:"cloudWatchLogsLogGroupArn,omitempty"`
	SNSTopicARN                string `json:"snsTopicArn,omitempty"`
}

// TrailLoggingStatus is GetTrailStatus's answer.
type TrailLoggingStatus struct {
	IsLogging                         bool       `json:"isLogging"`
	StartLoggingTime                  *time.Time `json:"startLoggingTime,omitempty"`
	StopLoggingTime                   *time.Time `json:"stopLoggingTime,omitempty"`
	LatestDeliveryTime                *time.Time `json:"latestDeliveryTime,omitempty"`
	LatestDigestDeliveryTime          *time.Time `json:"latestDigestDeliveryTime,omitempty"`
	LatestDeliveryError               string     `json:"latestDeliveryError,omitempty"`
	LatestDigestDeliveryError         string     `json:"latestDigestDeliveryError,omitempty"`
	LatestNotificationError           string     `json:"latestNotificationError,omitempty"`
	LatestCloudWatchLogsDeliveryError string     `json:"latestCloudWatchLogsDeliveryError,omitempty"`
	LatestDeliveryAttemptTime         string     `json:"latestDeliveryAttemptTime,omitempty"`
	LatestDeliveryAttemptSucceeded    string     `json:"latestDeliveryAttemptSucceeded,omitempty"`
	TimeLoggingStarted                string     `json:"timeLoggingStarted,omitempty"`
	TimeLoggingStopped                string     `json:"timeLoggingStopped,omitempty"`
}

// BucketDataEvents is how much of a monitored bucket's S3 data events the
// trail records.
type BucketDataEvents struct {
	Bucket string   `json:"bucket"`
	Reads  Coverage `json:"reads"`
	Writes Coverage `json:"writes"`
}

// trailStatusResult is what the snapshot leaves for after the seal.
type trailStatusResult struct{ deleted bool }

// afterSeal records that a trail's deletion was reported (sealed), so
// that discovery stops standing for a trail that is gone.
func (r *trailStatusResult) afterSeal(ctx context.Context, c *CloudTrail) error {
	if r == nil || !r.deleted {
		return nil
	}
	return c.Ledger.SetCursor(ctx, trailGoneCursor, c.scope(), c.Now().UTC().Format(time.RFC3339))
}

// snapshotStatus reads what the trail records, seals it as a JSON
// artifact and notes its findings. Only storing the snapshot can fail the
// run: a status that cannot be read is a warning naming the permission.
func (c *CloudTrail) snapshotStatus(ctx context.Context, run Run, now time.Time, note func(custody.Finding)) (*trailStatusResult, error) {
	st := TrailStatus{Account: c.Account, Region: c.Region, TrailName: c.Trail.Name, CapturedAt: now,
		EventSelectors: []EventSelector{}, AdvancedEventSelectors: []AdvancedEventSelector{}, DataEvents: []BucketDataEvents{}}
	res := &trailStatusResult{}
	unreadable := func(call string, err error) {
		if st.Unreadable == nil {
			st.Unreadable = map[string]string{}
		}
		st.Unreadable[call] = err.Error()
		remedy := awsclient.CollectorRole.Grant(err)
		if remedy == "" {
			remedy = "grant cloudtrail:" + call + " to the collector role (configs/iam/collector-role-policy.json) and check the trail's region"
		}
		note(custody.Finding{Severity: custody.SeverityWarning, Kind: finding.CloudTrailStatusUnreadable, Object: c.Name(),
			Message: fmt.Sprintf("%s of trail %s: %v; the trail-status snapshot lacks it", call, c.Trail.Name, err), Remedy: remedy})
	}
	c.readStatus(ctx, &st, unreadable)
	res.deleted = !st.Found && st.Unreadable["DescribeTrails"] == ""
	for _, f := range statusFindings(c.Name(), c.Trail, c.Region, st) {
		note(f)
	}
	body, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, err
	}
	key := custody.ArtifactKey(c.Prefix, c.Account, c.Region, "cloudtrail", now, run.RunID(), "trail-status.json")
	if _, err := run.Put(ctx, key, bytes.NewReader(body), custody.PutOptions{Kind: cloudtrail.KindTrailStatus, Account: c.Account, Region: c.Region,
		Source: "cloudtrail:DescribeTrails/" + c.Region + "/" + c.Trail.Name, ContentType: "application/json"}); err != nil {
		return nil, err
	}
	return res, nil
}

// readStatus fills st from DescribeTrails (in the collector's region,
// shadow trails included), then GetTrailStatus and GetEventSelectors by
// the trail's ARN in its home region.
func (c *CloudTrail) readStatus(ctx context.Context, st *TrailStatus, unreadable func(string, error)) {
	dt, err := c.TrailAPI(c.Region).DescribeTrails(ctx, &ct.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		unreadable("DescribeTrails", err)
		return
	}
	for _, t := range dt.TrailList {
		if aws.ToString(t.Name) == c.Trail.Name || aws.ToString(t.TrailARN) == c.Trail.Name {
			st.Found, st.Trail = true, describeTrail(t)
			break
		}
	}
	if !st.Found {
		return
	}
	home := st.Trail.HomeRegion
	if home == "" {
		home = c.Region
	}
	api, id := c.TrailAPI(home), st.Trail.TrailARN
	if id == "" {
		id = st.Trail.Name
	}
	if s, err := api.GetTrailStatus(ctx, &ct.GetTrailStatusInput{Name: aws.String(id)}); err != nil {
		unreadable("GetTrailStatus", err)
	} else {
		st.Status = loggingStatus(s)
	}
	sel, err := api.GetEventSelectors(ctx, &ct.GetEventSelectorsInput{TrailName: aws.String(id)})
	if err != nil {
		unreadable("GetEventSelectors", err)
		return
	}
	for _, s := range sel.EventSelectors {
		e := EventSelector{ReadWriteType: string(s.ReadWriteType), IncludeManagementEvents: s.IncludeManagementEvents, ExcludeManagementEventSources: s.ExcludeManagementEventSources}
		for _, dr := range s.DataResources {
			e.DataResources = append(e.DataResources, DataResource{Type: aws.ToString(dr.Type), Values: dr.Values})
		}
		st.EventSelectors = append(st.EventSelectors, e)
	}
	for _, s := range sel.AdvancedEventSelectors {
		e := AdvancedEventSelector{Name: aws.ToString(s.Name), FieldSelectors: []FieldSelector{}}
		for _, f := range s.FieldSelectors {
			e.FieldSelectors = append(e.FieldSelectors, FieldSelector{Field: aws.ToString(f.Field), Equals: f.Equals, StartsWith: f.StartsWith,
				EndsWith: f.EndsWith, NotEquals: f.NotEquals, NotStartsWith: f.NotStartsWith, NotEndsWith: f.NotEndsWith})
		}
		st.AdvancedEventSelectors = append(st.AdvancedEventSelectors, e)
	}
	partition := arnPartition(st.Trail.TrailARN)
	for _, b := range c.Buckets {
		r, w := DataEventCoverage(partition, b, st.EventSelectors, st.AdvancedEventSelectors)
		st.DataEvents = append(st.DataEvents, BucketDataEvents{Bucket: b, Reads: r, Writes: w})
	}
}

func describeTrail(t cttypes.Trail) *TrailDescription {
	return &TrailDescription{Name: aws.ToString(t.Name), TrailARN: aws.ToString(t.TrailARN), HomeRegion: aws.ToString(t.HomeRegion),
		S3BucketName: aws.ToString(t.S3BucketName), S3KeyPrefix: aws.ToString(t.S3KeyPrefix), IsMultiRegionTrail: aws.ToBool(t.IsMultiRegionTrail),
		IsOrganizationTrail: aws.ToBool(t.IsOrganizationTrail), IncludeGlobalServiceEvents: aws.ToBool(t.IncludeGlobalServiceEvents),
		LogFileValidationEnabled: aws.ToBool(t.LogFileValidationEnabled), KMSKeyID: aws.ToString(t.KmsKeyId),
		HasCustomEventSelectors: aws.ToBool(t.HasCustomEventSelectors), HasInsightSelectors: aws.ToBool(t.HasInsightSelectors),
		CloudWatchLogsLogGroupARN: aws.ToString(t.CloudWatchLogsLogGroupArn), SNSTopicARN: aws.ToString(t.SnsTopicARN)}
}

func loggingStatus(s *ct.GetTrailStatusOutput) *TrailLoggingStatus {
	return &TrailLoggingStatus{IsLogging: aws.ToBool(s.IsLogging), StartLoggingTime: s.StartLoggingTime, StopLoggingTime: s.StopLoggingTime,
		LatestDeliveryTime: s.LatestDeliveryTime, LatestDigestDeliveryTime: s.LatestDigestDeliveryTime,
		LatestDeliveryError: aws.ToString(s.LatestDeliveryError), LatestDigestDeliveryError: aws.ToString(s.LatestDigestDeliveryError),
		LatestNotificationError: aws.ToString(s.LatestNotificationError), LatestCloudWatchLogsDeliveryError: aws.ToString(s.LatestCloudWatchLogsDeliveryError),
		LatestDeliveryAttemptTime: aws.ToString(s.LatestDeliveryAttemptTime), LatestDeliveryAttemptSucceeded: aws.ToString(s.LatestDeliveryAttemptSucceeded),
		TimeLoggingStarted: aws.ToString(s.TimeLoggingStarted), TimeLoggingStopped: aws.ToString(s.TimeLoggingStopped)}
}

// arnPartition is the partition an ARN names ("aws" when it names none).
func arnPartition(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) == 3 && parts[0] == "arn" && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}

// statusFindings are the findings of a trail-status snapshot, each with
// the aws CLI command that fixes it.
func statusFindings(object string, tr config.Trail, region string, st TrailStatus) []custody.Finding {
	var out []custody.Finding
	if !st.Found {
		if st.Unreadable["DescribeTrails"] != "" {
			return nil
		}
		create := fmt.Sprintf("aws cloudtrail create-trail --region %s --name %s --s3-bucket-name %s", homeOr(tr.HomeRegion, region), shellQuote(tr.Name), tr.Bucket)
		if tr.Prefix != "" {
			create += " --s3-key-prefix " + shellQuote(tr.Prefix)
		}
		if tr.OrgID != "" {
			create += " --is-organization-trail"
		}
		create += " --is-multi-region-trail --enable-log-file-validation"
		out = append(out, custody.Finding{Severity: custody.SeverityFailure, Kind: finding.CloudTrailTrailDeleted, Object: object,
			Message: fmt.Sprintf("trail %s is no longer in DescribeTrails of %s: it was deleted (or renamed); what its bucket s3://%s still holds is collected", tr.Name, region, tr.Bucket),
			Remedy: fmt.Sprintf("find who deleted it (aws cloudtrail lookup-events --region %s --lookup-attributes AttributeKey=EventName,AttributeValue=DeleteTrail), then re-create it: %s && aws cloudtrail start-logging --region %s --name %s",
				homeOr(tr.HomeRegion, region), create, homeOr(tr.HomeRegion, region), shellQuote(tr.Name))})
		return out
	}
	t := st.Trail
	home := homeOr(t.HomeRegion, region)
	if st.Status != nil && !st.Status.IsLogging {
		when := "it has not logged since it was created (no StartLoggingTime)"
		switch {
		case st.Status.StopLoggingTime != nil:
			when = "stopped at " + st.Status.StopLoggingTime.UTC().Format(time.RFC3339)
		case st.Status.TimeLoggingStopped != "":
			when = "stopped at " + st.Status.TimeLoggingStopped
		}
		out = append(out, custody.Finding{Severity: custody.SeverityFailure, Kind: finding.CloudTrailLoggingStopped, Object: t.TrailARN,
			Message: fmt.Sprintf("trail %s is not logging: %s; nothing is recorded since", t.Name, when),
			Remedy: fmt.Sprintf("aws cloudtrail start-logging --region %s --name %s; find who stopped it: aws cloudtrail lookup-events --region %s --lookup-attributes AttributeKey=EventName,AttributeValue=StopLogging",
				home, shellQuote(t.TrailARN), home)})
	}
	if !t.LogFileValidationEnabled {
		out = append(out, custody.Finding{Severity: custody.SeverityFailure, Kind: finding.CloudTrailValidationOff, Object: t.TrailARN,
			Message: fmt.Sprintf("trail %s has log file validation off: CloudTrail writes no signed digests, so nothing proves its log files unaltered", t.Name),
			Remedy:  fmt.Sprintf("aws cloudtrail update-trail --region %s --name %s --enable-log-file-validation", home, shellQuote(t.TrailARN))})
	}
	if _, denied := st.Unreadable["GetEventSelectors"]; denied {
		return out
	}
	var missing []string
	for _, d := range st.DataEvents {
		if d.Reads != CoverageFull || d.Writes != CoverageFull {
			missing = append(missing, d.Bucket)
		}
	}
	if len(missing) == 0 {
		return out
	}
	remedy := "add S3 data events of every monitored bucket the trail misses (put-event-selectors replaces the trail's selectors, so this repeats the current ones; data events are billed): " +
		putSelectorsCommand(home, t.TrailARN, arnPartition(t.TrailARN), missing, st.EventSelectors, st.AdvancedEventSelectors)
	for _, d := range st.DataEvents {
		if !slices.Contains(missing, d.Bucket) {
			continue
		}
		out = append(out, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.CloudTrailDataEventsOff, Object: "s3://" + d.Bucket,
			Message: fmt.Sprintf("trail %s records %s: who read or changed which object cannot be established from it", t.Name, describeCoverage(d)), Remedy: remedy})
	}
	return out
}

func describeCoverage(d BucketDataEvents) string {
	say := func(c Coverage, what string) string {
		switch c {
		case CoverageNone:
			return "no " + what
		case CoveragePartial:
			return what + " of only part of its objects or events"
		}
		return "all " + what
	}
	return fmt.Sprintf("%s and %s of bucket %s", say(d.Reads, "object reads (GetObject, HeadObject)"), say(d.Writes, "object writes (PutObject, DeleteObject, CopyObject)"), d.Bucket)
}

func homeOr(home, region string) string {
	if home != "" {
		return home
	}
	return region
}

// Cursors that remember discovered trails: trailsCursor (per account and
// region) lists the trails discovery has seen, trailGoneCursor (per trail)
// says a trail's deletion was reported.
const (
	trailsCursor    = "cloudtrail-trails"
	trailGoneCursor = "cloudtrail-trail-gone"
)

// rememberTrails returns the trails to collect in an account's region: the
// ones found, and the ones an earlier discovery found that are gone and
// whose deletion is not reported yet (their collector reports it, and
// preserves what their bucket still holds). It records the list.
func rememberTrails(ctx context.Context, l *ledger.Ledger, scope string, found []config.Trail) ([]config.Trail, error) {
	var seen []config.Trail
	if v, err := l.Cursor(ctx, trailsCursor, scope); err == nil {
		if err := json.Unmarshal([]byte(v), &seen); err != nil {
			seen = nil // unreadable memory: start again from what is found
		}
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return nil, err
	}
	out := slices.Clone(found)
	names := map[string]bool{}
	for _, t := range found {
		names[t.Name] = true
		if v, err := l.Cursor(ctx, trailGoneCursor, scope+"/"+t.Name); err == nil && v != "" {
			if err := l.SetCursor(ctx, trailGoneCursor, scope+"/"+t.Name, ""); err != nil { // back again
				return nil, err
			}
		}
	}
	for _, t := range seen {
		if names[t.Name] {
			continue
		}
		if v, err := l.Cursor(ctx, trailGoneCursor, scope+"/"+t.Name); err == nil && v != "" {
			continue // reported and sealed: forgotten
		}
		names[t.Name] = true
		out = append(out, t)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	if err := l.SetCursor(ctx, trailsCursor, scope, string(b)); err != nil {
		return nil, err
	}
	return out, nil
}
