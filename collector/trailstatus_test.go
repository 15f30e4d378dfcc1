package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// motoConfig is a client configuration with every service, S3 included,
// on the shared moto server.
func motoConfig(t *testing.T, e testaws.Env) awsclient.Config {
	t.Helper()
	c, err := awsclient.Load(context.Background(), awsclient.Options{Region: e.Region, Endpoint: e.Endpoint, S3Endpoint: e.Endpoint,
		Credentials: credentials.NewStaticCredentialsProvider(e.AccessKey, e.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// statusTrail is a trail created in moto for a test: moto's CreateTrail
// wants its bucket in moto's own S3.
type statusTrail struct {
	api             *ct.Client
	name, bucket    string
	monitored       []string
	arnOf           func(bucket string) string
	evidenceTrailS3 string // an empty bucket on MinIO, the collector's S3
}

func newStatusTrail(t *testing.T, e *testEnv) *statusTrail {
	t.Helper()
	ctx := context.Background()
	env := testaws.Require(t)
	mc := motoConfig(t, env)
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)
	st := &statusTrail{api: ct.NewFromConfig(mc.AWS), name: "custody-status-" + suffix, bucket: "custody-status-trail-" + suffix,
		monitored: []string{"customer-data-" + suffix, "billing-" + suffix}, arnOf: func(b string) string { return "arn:aws:s3:::" + b + "/" }}
	if _, err := mc.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(st.bucket)}); err != nil {
		t.Fatal(err)
	}
	st.evidenceTrailS3 = testaws.CreateBucket(t, e.s3, testaws.BucketOptions{})
	if _, err := st.api.CreateTrail(ctx, &ct.CreateTrailInput{Name: aws.String(st.name), S3BucketName: aws.String(st.bucket),
		IsMultiRegionTrail: aws.Bool(true), EnableLogFileValidation: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = st.api.DeleteTrail(context.Background(), &ct.DeleteTrailInput{Name: aws.String(st.name)})
	})
	return st
}

func (st *statusTrail) collector(e *testEnv, now func() time.Time) *CloudTrail {
	return &CloudTrail{S3: e.s3, Ledger: e.Ledger, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: now,
		Trail:    config.Trail{Name: st.name, Bucket: st.evidenceTrailS3},
		Keys:     func(context.Context, time.Time, time.Time) ([]cloudtrail.PublicKey, error) { return nil, nil },
		TrailAPI: func(string) TrailStatusAPI { return st.api }, Buckets: st.monitored}
}

// runStatus runs the collector once and returns its trail-status findings
// by kind and the snapshot it sealed.
func runStatus(t *testing.T, e *testEnv, c *CloudTrail) (map[custody.Kind][]custody.Finding, TrailStatus) {
	t.Helper()
	ctx := context.Background()
	res, err := RunOne(ctx, e.Chain, c)
	if err != nil {
		t.Fatalf("a trail's status never fails the run: %v", err)
	}
	kinds := map[custody.Kind][]custody.Finding{}
	for _, f := range res.Found {
		kinds[f.Kind] = append(kinds[f.Kind], f)
	}
	key := custody.ArtifactKey("custody", c.Account, c.Region, "cloudtrail", c.Now().UTC(), res.Run, "trail-status.json")
	out, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(e.store.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("the trail-status snapshot: %v", err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	var st TrailStatus
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("snapshot %s: %v", b, err)
	}
	for _, want := range []string{`"isLogging"`, `"logFileValidationEnabled"`, `"eventSelectors"`, `"advancedEventSelectors"`, `"s3BucketName"`, `"dataEvents"`} {
		if st.Found && !strings.Contains(string(b), want) {
			t.Errorf("snapshot lacks %s:\n%s", want, b)
		}
	}
	return kinds, st
}

var statusKinds = []custody.Kind{finding.CloudTrailLoggingStopped, finding.CloudTrailValidationOff, finding.CloudTrailTrailDeleted,
	finding.CloudTrailDataEventsOff, finding.CloudTrailStatusUnreadable}

// only fails unless the trail-status findings are exactly want (kind:
// count).
func only(t *testing.T, step string, kinds map[custody.Kind][]custody.Finding, want map[custody.Kind]int) {
	t.Helper()
	for _, k := range statusKinds {
		if len(kinds[k]) != want[k] {
			t.Errorf("%s: %d %s finding(s), want %d: %v", step, len(kinds[k]), k, want[k], kinds[k])
		}
		for _, f := range kinds[k] {
			if f.Message == "" || f.Remedy == "" {
				t.Errorf("%s: finding without message or remedy: %+v", step, f)
			}
		}
	}
}

// remedyJSON takes the JSON argument of flag out of a remedy's command.
func remedyJSON(t *testing.T, remedy, flag string) string {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(flag) + ` '([^']*)'`).FindStringSubmatch(remedy)
	if m == nil {
		t.Fatalf("no %s in the remedy %q", flag, remedy)
	}
	return m[1]
}

func TestTrailStatusFindingsFromRealChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	st := newStatusTrail(t, e)
	clock := time.Now().UTC()
	col := st.collector(e, func() time.Time { return clock })
	tick := func() { clock = clock.Add(time.Minute) }

	// A clean trail: logging, validated, every monitored bucket's data
	// events. (Basic selectors first: moto 5.2.1's PutEventSelectors with
	// basic selectors keeps the advanced ones, where AWS replaces them.)
	if _, err := st.api.StartLogging(ctx, &ct.StartLoggingInput{Name: aws.String(st.name)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.api.PutEventSelectors(ctx, &ct.PutEventSelectorsInput{TrailName: aws.String(st.name), EventSelectors: []cttypes.EventSelector{
		{ReadWriteType: cttypes.ReadWriteTypeAll, IncludeManagementEvents: aws.Bool(true), DataResources: []cttypes.DataResource{
			{Type: aws.String("AWS::S3::Object"), Values: []string{st.arnOf(st.monitored[0]), st.arnOf(st.monitored[1])}}}},
	}}); err != nil {
		t.Fatal(err)
	}
	kinds, snap := runStatus(t, e, col)
	only(t, "clean trail", kinds, nil)
	if !snap.Found || snap.Status == nil || !snap.Status.IsLogging || !snap.Trail.LogFileValidationEnabled || len(snap.EventSelectors) != 1 ||
		len(snap.DataEvents) != 2 || snap.DataEvents[0].Reads != CoverageFull || snap.DataEvents[1].Writes != CoverageFull || snap.Status.StartLoggingTime == nil {
		t.Fatalf("clean snapshot: %+v %+v", snap, snap.Status)
	}

	// Logging stopped: a failure saying when.
	tick()
	if _, err := st.api.StopLogging(ctx, &ct.StopLoggingInput{Name: aws.String(st.name)}); err != nil {
		t.Fatal(err)
	}
	kinds, snap = runStatus(t, e, col)
	only(t, "after StopLogging", kinds, map[custody.Kind]int{finding.CloudTrailLoggingStopped: 1})
	if f := kinds[finding.CloudTrailLoggingStopped]; len(f) == 1 && (!strings.Contains(f[0].Message, "stopped at "+snap.Status.StopLoggingTime.UTC().Format("2006-01-02T")) ||
		f[0].Severity != custody.SeverityFailure || !strings.Contains(f[0].Remedy, "aws cloudtrail start-logging")) {
		t.Errorf("logging stopped: %+v", f[0])
	}

	// Validation turned off.
	tick()
	if _, err := st.api.StartLogging(ctx, &ct.StartLoggingInput{Name: aws.String(st.name)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.api.UpdateTrail(ctx, &ct.UpdateTrailInput{Name: aws.String(st.name), EnableLogFileValidation: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	kinds, _ = runStatus(t, e, col)
	only(t, "validation off", kinds, map[custody.Kind]int{finding.CloudTrailValidationOff: 1})
	if f := kinds[finding.CloudTrailValidationOff]; len(f) == 1 && !strings.Contains(f[0].Remedy, "--enable-log-file-validation") {
		t.Errorf("validation off: %+v", f[0])
	}
	if _, err := st.api.UpdateTrail(ctx, &ct.UpdateTrailInput{Name: aws.String(st.name), EnableLogFileValidation: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}

	// Selectors narrowed to basic ones reading one bucket only: the other
	// bucket is uncovered, the first has no writes.
	tick()
	if _, err := st.api.PutEventSelectors(ctx, &ct.PutEventSelectorsInput{TrailName: aws.String(st.name), EventSelectors: []cttypes.EventSelector{
		{ReadWriteType: cttypes.ReadWriteTypeReadOnly, IncludeManagementEvents: aws.Bool(true),
			DataResources: []cttypes.DataResource{{Type: aws.String("AWS::S3::Object"), Values: []string{st.arnOf(st.monitored[0])}}}},
	}}); err != nil {
		t.Fatal(err)
	}
	kinds, snap = runStatus(t, e, col)
	only(t, "selectors narrowed", kinds, map[custody.Kind]int{finding.CloudTrailDataEventsOff: 2})
	if snap.DataEvents[0].Reads != CoverageFull || snap.DataEvents[0].Writes != CoverageNone || snap.DataEvents[1].Reads != CoverageNone {
		t.Errorf("coverage: %+v", snap.DataEvents)
	}
	fs := kinds[finding.CloudTrailDataEventsOff]
	for _, f := range fs {
		if f.Object == "s3://"+st.monitored[0] && !strings.Contains(f.Message, "no object writes") {
			t.Errorf("the read-only bucket: %s", f.Message)
		}
	}
	// The remedy's command, applied as written, covers both buckets and
	// keeps the trail's own selector.
	var sels []cttypes.EventSelector
	if err := json.Unmarshal([]byte(remedyJSON(t, fs[0].Remedy, "--event-selectors")), &sels); err != nil || len(sels) != 2 {
		t.Fatalf("remedy selectors %v: %v", sels, err)
	}
	if _, err := st.api.PutEventSelectors(ctx, &ct.PutEventSelectorsInput{TrailName: aws.String(st.name), EventSelectors: sels}); err != nil {
		t.Fatal(err)
	}
	tick()
	kinds, _ = runStatus(t, e, col)
	only(t, "after the remedy", kinds, nil)

	// Selectors removed: the default management-only selector.
	tick()
	if _, err := st.api.PutEventSelectors(ctx, &ct.PutEventSelectorsInput{TrailName: aws.String(st.name), EventSelectors: []cttypes.EventSelector{
		{ReadWriteType: cttypes.ReadWriteTypeAll, IncludeManagementEvents: aws.Bool(true), DataResources: []cttypes.DataResource{}}}}); err != nil {
		t.Fatal(err)
	}
	kinds, snap = runStatus(t, e, col)
	only(t, "data selectors removed", kinds, map[custody.Kind]int{finding.CloudTrailDataEventsOff: 2})
	if snap.DataEvents[1].Reads != CoverageNone || snap.DataEvents[1].Writes != CoverageNone {
		t.Errorf("coverage: %+v", snap.DataEvents)
	}

	// Advanced selectors leaving part of a bucket out: partial.
	tick()
	if _, err := st.api.PutEventSelectors(ctx, &ct.PutEventSelectorsInput{TrailName: aws.String(st.name), AdvancedEventSelectors: []cttypes.AdvancedEventSelector{
		{Name: aws.String("data but tmp/"), FieldSelectors: []cttypes.AdvancedFieldSelector{
			{Field: aws.String("eventCategory"), Equals: []string{"Data"}},
			{Field: aws.String("resources.type"), Equals: []string{"AWS::S3::Object"}},
			{Field: aws.String("resources.ARN"), NotStartsWith: []string{st.arnOf(st.monitored[1]) + "tmp/"}}}},
	}}); err != nil {
		t.Fatal(err)
	}
	kinds, snap = runStatus(t, e, col)
	only(t, "advanced, part of a bucket excluded", kinds, map[custody.Kind]int{finding.CloudTrailDataEventsOff: 1})
	if snap.DataEvents[0].Reads != CoverageFull || snap.DataEvents[1].Reads != CoveragePartial || snap.DataEvents[1].Writes != CoveragePartial {
		t.Errorf("coverage: %+v", snap.DataEvents)
	}
	if f := kinds[finding.CloudTrailDataEventsOff]; len(f) == 1 && (f[0].Object != "s3://"+st.monitored[1] || !strings.Contains(f[0].Message, "only part")) {
		t.Errorf("partial: %+v", f[0])
	}

	// The trail deleted: a failure, and the snapshot says it is gone.
	tick()
	if _, err := st.api.DeleteTrail(ctx, &ct.DeleteTrailInput{Name: aws.String(st.name)}); err != nil {
		t.Fatal(err)
	}
	kinds, snap = runStatus(t, e, col)
	only(t, "trail deleted", kinds, map[custody.Kind]int{finding.CloudTrailTrailDeleted: 1})
	if snap.Found || !strings.Contains(kinds[finding.CloudTrailTrailDeleted][0].Remedy, "aws cloudtrail create-trail") {
		t.Errorf("deleted: %+v %+v", snap, kinds[finding.CloudTrailTrailDeleted])
	}
}

// TestDiscoveredTrailDeletedIsReportedOnce: a trail an earlier discovery
// found that is gone is still collected once, with the deletion reported;
// after that run is sealed, discovery forgets it.
func TestDiscoveredTrailDeletedIsReportedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	st := newStatusTrail(t, e)
	if _, err := st.api.StartLogging(ctx, &ct.StartLoggingInput{Name: aws.String(st.name)}); err != nil {
		t.Fatal(err)
	}
	env := testaws.Require(t)
	d := &TrailDiscovery{Account: "123456789012", Region: "us-east-1", trails: trails{aws: motoConfig(t, env), account: "123456789012", region: "us-east-1",
		prefix: "custody", ledger: e.Ledger, now: time.Now, buckets: st.monitored}}
	mine := func() *CloudTrail {
		t.Helper()
		cs, err := d.Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c, ok := c.(*CloudTrail); ok && c.Trail.Name == st.name {
				if c.TrailAPI == nil || c.Lookback != 0 || len(c.Buckets) != 2 {
					t.Fatalf("discovered collector not wired: %+v", c)
				}
				c.Keys = func(context.Context, time.Time, time.Time) ([]cloudtrail.PublicKey, error) { return nil, nil }
				return c
			}
		}
		return nil
	}
	c := mine()
	if c == nil {
		t.Fatal("the trail was not discovered")
	}
	kinds, _ := runStatus(t, e, c)
	if len(kinds[finding.CloudTrailTrailDeleted]) != 0 {
		t.Fatalf("a live trail reported deleted: %v", kinds)
	}
	if _, err := st.api.DeleteTrail(ctx, &ct.DeleteTrailInput{Name: aws.String(st.name)}); err != nil {
		t.Fatal(err)
	}
	if c = mine(); c == nil {
		t.Fatal("a trail seen before and now gone is not collected once more")
	}
	kinds, _ = runStatus(t, e, c)
	if len(kinds[finding.CloudTrailTrailDeleted]) != 1 {
		t.Fatalf("deletion not reported: %v", kinds)
	}
	if c = mine(); c != nil {
		t.Fatal("a deleted trail whose deletion was sealed is still collected")
	}
}
