package collector

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDataEventCoverage(t *testing.T) {
	const b = "data"
	no := false
	adv := func(fs ...FieldSelector) []AdvancedEventSelector {
		return []AdvancedEventSelector{{Name: "s", FieldSelectors: fs}}
	}
	data := FieldSelector{Field: "eventCategory", Equals: []string{"Data"}}
	object := FieldSelector{Field: "resources.type", Equals: []string{"AWS::S3::Object"}}
	cases := []struct {
		name          string
		basic         []EventSelector
		advanced      []AdvancedEventSelector
		reads, writes Coverage
	}{
		{name: "no selectors"},
		{name: "management only", basic: []EventSelector{{ReadWriteType: "All", IncludeManagementEvents: &no}}},
		{name: "all buckets", basic: []EventSelector{{ReadWriteType: "All", DataResources: []DataResource{{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3"}}}}}, reads: CoverageFull, writes: CoverageFull},
		{name: "all buckets, trailing colons", basic: []EventSelector{{DataResources: []DataResource{{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3:::"}}}}}, reads: CoverageFull, writes: CoverageFull},
		{name: "the bucket, reads", basic: []EventSelector{{ReadWriteType: "ReadOnly", DataResources: []DataResource{{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3:::data/"}}}}}, reads: CoverageFull},
		{name: "the bucket, writes", basic: []EventSelector{{ReadWriteType: "WriteOnly", DataResources: []DataResource{{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3:::data/"}}}}}, writes: CoverageFull},
		{name: "a prefix of it", basic: []EventSelector{{ReadWriteType: "All", DataResources: []DataResource{{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3:::data/orders/"}}}}}, reads: CoveragePartial, writes: CoveragePartial},
		{name: "another bucket", basic: []EventSelector{{DataResources: []DataResource{{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3:::data-2/"}}}}}},
		{name: "another partition", basic: []EventSelector{{DataResources: []DataResource{{Type: "AWS::S3::Object", Values: []string{"arn:aws-cn:s3"}}}}}},
		{name: "Lambda data events", basic: []EventSelector{{DataResources: []DataResource{{Type: "AWS::Lambda::Function", Values: []string{"arn:aws:lambda"}}}}}},
		{name: "reads and writes in two selectors", basic: []EventSelector{
			{ReadWriteType: "ReadOnly", DataResources: []DataResource{{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3:::data/"}}}},
			{ReadWriteType: "WriteOnly", DataResources: []DataResource{{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3"}}}}}, reads: CoverageFull, writes: CoverageFull},
		{name: "advanced, every S3 object", advanced: adv(data, object), reads: CoverageFull, writes: CoverageFull},
		{name: "advanced, the bucket", advanced: adv(data, object, FieldSelector{Field: "resources.ARN", StartsWith: []string{"arn:aws:s3:::data/"}}), reads: CoverageFull, writes: CoverageFull},
		{name: "advanced, one object", advanced: adv(data, object, FieldSelector{Field: "resources.ARN", Equals: []string{"arn:aws:s3:::data/a.json"}}), reads: CoveragePartial, writes: CoveragePartial},
		{name: "advanced, another bucket", advanced: adv(data, object, FieldSelector{Field: "resources.ARN", StartsWith: []string{"arn:aws:s3:::other/"}})},
		{name: "advanced, the bucket excluded", advanced: adv(data, object, FieldSelector{Field: "resources.ARN", NotStartsWith: []string{"arn:aws:s3:::data/"}})},
		{name: "advanced, a prefix excluded", advanced: adv(data, object, FieldSelector{Field: "resources.ARN", NotStartsWith: []string{"arn:aws:s3:::data/tmp/"}}), reads: CoveragePartial, writes: CoveragePartial},
		{name: "advanced, one object excluded", advanced: adv(data, object, FieldSelector{Field: "resources.ARN", NotEquals: []string{"arn:aws:s3:::data/x"}}), reads: CoveragePartial, writes: CoveragePartial},
		{name: "advanced, a suffix excluded", advanced: adv(data, object, FieldSelector{Field: "resources.ARN", NotEndsWith: []string{".tmp"}}), reads: CoveragePartial, writes: CoveragePartial},
		{name: "advanced, reads only", advanced: adv(data, object, FieldSelector{Field: "readOnly", Equals: []string{"true"}}), reads: CoverageFull},
		{name: "advanced, writes only", advanced: adv(data, object, FieldSelector{Field: "readOnly", Equals: []string{"false"}}), writes: CoverageFull},
		{name: "advanced, some event names", advanced: adv(data, object, FieldSelector{Field: "eventName", Equals: []string{"GetObject"}}), reads: CoveragePartial, writes: CoveragePartial},
		{name: "advanced, management", advanced: adv(FieldSelector{Field: "eventCategory", Equals: []string{"Management"}})},
		{name: "advanced, no resources.type", advanced: adv(data)},
		{name: "advanced, DynamoDB", advanced: adv(data, FieldSelector{Field: "resources.type", Equals: []string{"AWS::DynamoDB::Table"}})},
		{name: "advanced, S3 excluded by NotEquals", advanced: adv(data, FieldSelector{Field: "resources.type", NotEquals: []string{"AWS::S3::Object"}})},
		{name: "advanced, eventSource S3", advanced: adv(data, object, FieldSelector{Field: "eventSource", Equals: []string{"s3.amazonaws.com"}}), reads: CoverageFull, writes: CoverageFull},
		{name: "best of several", advanced: append(adv(data, object, FieldSelector{Field: "readOnly", Equals: []string{"true"}}),
			AdvancedEventSelector{FieldSelectors: []FieldSelector{data, object, {Field: "resources.ARN", StartsWith: []string{"arn:aws:s3:::data/logs/"}}}}), reads: CoverageFull, writes: CoveragePartial},
	}
	for _, c := range cases {
		r, w := DataEventCoverage("aws", b, c.basic, c.advanced)
		if r != c.reads || w != c.writes {
			t.Errorf("%s: reads %s writes %s, want %s %s", c.name, r, w, c.reads, c.writes)
		}
	}
}

func TestPutSelectorsCommandKeepsTheTrailsSelectors(t *testing.T) {
	basic := []EventSelector{{ReadWriteType: "All", DataResources: []DataResource{{Type: "AWS::Lambda::Function", Values: []string{"arn:aws:lambda"}}}}}
	cmd := putSelectorsCommand("us-east-1", "arn:aws:cloudtrail:us-east-1:1:trail/it's", "aws", []string{"a", "b"}, basic, nil)
	if !strings.HasPrefix(cmd, "aws cloudtrail put-event-selectors --region us-east-1 --trail-name 'arn:aws:cloudtrail:us-east-1:1:trail/it'\\''s' --event-selectors '") {
		t.Fatalf("command: %s", cmd)
	}
	var got []EventSelector
	if err := json.Unmarshal([]byte(remedyJSON(t, cmd, "--event-selectors")), &got); err != nil || len(got) != 2 {
		t.Fatalf("selectors %v: %v", got, err)
	}
	if r, w := DataEventCoverage("aws", "b", got, nil); r != CoverageFull || w != CoverageFull {
		t.Fatalf("the command's selectors do not cover b: %s %s", r, w)
	}
	cmd = putSelectorsCommand("eu-west-1", "t", "aws", []string{"a"}, nil, nil)
	var adv []AdvancedEventSelector
	if err := json.Unmarshal([]byte(remedyJSON(t, cmd, "--advanced-event-selectors")), &adv); err != nil || len(adv) != 2 || adv[0].FieldSelectors[0].Equals[0] != "Management" {
		t.Fatalf("a trail without selectors keeps management events: %v %v", adv, err)
	}
	if r, w := DataEventCoverage("aws", "a", nil, adv); r != CoverageFull || w != CoverageFull {
		t.Fatalf("the command's advanced selectors do not cover a: %s %s", r, w)
	}
}

// FuzzDataEventCoverage feeds GetEventSelectors answers (as JSON) to the
// evaluator: it never panics, and adding a selector that records every S3
// object makes any bucket fully covered; removing all makes none.
func FuzzDataEventCoverage(f *testing.F) {
	f.Add("data", `[{"readWriteType":"ReadOnly","dataResources":[{"type":"AWS::S3::Object","values":["arn:aws:s3:::data/"]}]}]`,
		`[{"fieldSelectors":[{"field":"eventCategory","equals":["Data"]},{"field":"resources.ARN","notStartsWith":["arn:aws:s3:::data/x"]}]}]`)
	f.Add("", `[]`, `[{"fieldSelectors":[{"field":"resources.ARN","notEndsWith":[""]}]}]`)
	f.Fuzz(func(t *testing.T, bucket, basicJSON, advancedJSON string) {
		var basic []EventSelector
		var advanced []AdvancedEventSelector
		if json.Unmarshal([]byte(basicJSON), &basic) != nil || json.Unmarshal([]byte(advancedJSON), &advanced) != nil {
			return
		}
		r, w := DataEventCoverage("aws", bucket, basic, advanced)
		if r < CoverageNone || r > CoverageFull || w < CoverageNone || w > CoverageFull {
			t.Fatalf("coverage out of range: %d %d", r, w)
		}
		all := EventSelector{ReadWriteType: "All", DataResources: []DataResource{{Type: "AWS::S3::Object", Values: []string{"arn:aws:s3"}}}}
		if r, w := DataEventCoverage("aws", bucket, append(basic, all), advanced); r != CoverageFull || w != CoverageFull {
			t.Fatalf("a selector of every S3 object left %q at %s/%s", bucket, r, w)
		}
		if r, w := DataEventCoverage("aws", bucket, nil, nil); r != CoverageNone || w != CoverageNone {
			t.Fatal("no selectors, yet covered")
		}
		_ = putSelectorsCommand("us-east-1", "t", "aws", []string{bucket}, basic, advanced)
	})
}
