package collector

import (
	"encoding/json"
	"fmt"
	"strings"
)

// EventSelector is a trail's basic event selector, as GetEventSelectors
// returns it.
type EventSelector struct {
	ReadWriteType                 string         `json:"readWriteType,omitempty"`
	IncludeManagementEvents       *bool          `json:"includeManagementEvents,omitempty"`
	DataResources                 []DataResource `json:"dataResources,omitempty"`
	ExcludeManagementEventSources []string       `json:"excludeManagementEventSources,omitempty"`
}

// DataResource is a basic selector's data resource: a type and ARN
// prefixes.
type DataResource struct {
	Type   string   `json:"type,omitempty"`
	Values []string `json:"values,omitempty"`
}

// AdvancedEventSelector is a trail's advanced event selector: an event is
// recorded when every field selector matches it.
type AdvancedEventSelector struct {
	Name           string          `json:"name,omitempty"`
	FieldSelectors []FieldSelector `json:"fieldSelectors"`
}

// FieldSelector is one condition of an advanced selector: the field
// matches when it matches one of the positive operators (if any) and none
// of the negative ones.
type FieldSelector struct {
	Field         string   `json:"field"`
	Equals        []string `json:"equals,omitempty"`
	StartsWith    []string `json:"startsWith,omitempty"`
	EndsWith      []string `json:"endsWith,omitempty"`
	NotEquals     []string `json:"notEquals,omitempty"`
	NotStartsWith []string `json:"notStartsWith,omitempty"`
	NotEndsWith   []string `json:"notEndsWith,omitempty"`
}

// Coverage is how much of a bucket's S3 data events of one kind (reads or
// writes) a trail records.
type Coverage int

// Coverages, from least to most.
const (
	CoverageNone    Coverage = iota // no selector records them
	CoveragePartial                 // only some objects or some events
	CoverageFull                    // every object, every event
)

func (c Coverage) String() string {
	switch c {
	case CoverageFull:
		return "full"
	case CoveragePartial:
		return "partial"
	}
	return "none"
}

// MarshalText writes the coverage as its name.
func (c Coverage) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a coverage's name.
func (c *Coverage) UnmarshalText(b []byte) error {
	for _, v := range []Coverage{CoverageNone, CoveragePartial, CoverageFull} {
		if v.String() == string(b) {
			*c = v
			return nil
		}
	}
	return fmt.Errorf("coverage %q: none, partial or full expected", b)
}

// DataEventCoverage says how much of bucket's S3 object reads and writes
// the selectors record, in partition ("aws" when empty). Basic selectors:
// an AWS::S3::Object data resource whose value is a prefix of the
// bucket's object ARN (arn:aws:s3, arn:aws:s3:::bucket/) records all of
// it, one longer than that (an object key prefix) part of it; ReadWriteType
// says reads, writes or both. Advanced selectors: eventCategory must
// accept Data and resources.type AWS::S3::Object, readOnly says reads
// ("true") or writes ("false"), resources.ARN is weighed as the values
// above are (StartsWith, Equals, EndsWith, and their negations, which can
// exclude part or all of the bucket), and a condition on any other field
// (eventName, userIdentity.arn, ...) leaves part of the events out. The
// best selector decides; nothing is assumed covered that is not.
func DataEventCoverage(partition, bucket string, basic []EventSelector, advanced []AdvancedEventSelector) (reads, writes Coverage) {
	if partition == "" {
		partition = "aws"
	}
	objects := "arn:" + partition + ":s3:::" + bucket + "/"
	for _, s := range basic {
		r, w := basicRW(s.ReadWriteType)
		for _, dr := range s.DataResources {
			if dr.Type != "AWS::S3::Object" {
				continue
			}
			for _, v := range dr.Values {
				c := prefixCoverage(v, objects)
				if r {
					reads = max(reads, c)
				}
				if w {
					writes = max(writes, c)
				}
			}
		}
	}
	for _, s := range advanced {
		r, w := advancedCoverage(s, objects)
		reads, writes = max(reads, r), max(writes, w)
	}
	return reads, writes
}

// basicRW: which of reads and writes a ReadWriteType records (All when
// unset, as CloudTrail defaults).
func basicRW(t string) (reads, writes bool) {
	switch t {
	case "ReadOnly":
		return true, false
	case "WriteOnly":
		return false, true
	case "All", "":
		return true, true
	}
	return false, false
}

// prefixCoverage: how much of the object ARNs under objects an ARN prefix
// matches.
func prefixCoverage(prefix, objects string) Coverage {
	switch {
	case strings.HasPrefix(objects, prefix):
		return CoverageFull
	case strings.HasPrefix(prefix, objects):
		return CoveragePartial
	}
	return CoverageNone
}

func advancedCoverage(s AdvancedEventSelector, objects string) (reads, writes Coverage) {
	category, typ := false, false
	reads, writes = CoverageFull, CoverageFull
	limit := func(c Coverage) { reads, writes = min(reads, c), min(writes, c) }
	for _, f := range s.FieldSelectors {
		switch f.Field {
		case "eventCategory":
			category = f.accepts("Data")
			if !category {
				return CoverageNone, CoverageNone
			}
		case "resources.type":
			typ = f.accepts("AWS::S3::Object")
			if !typ {
				return CoverageNone, CoverageNone
			}
		case "eventSource":
			if !f.accepts("s3.amazonaws.com") {
				return CoverageNone, CoverageNone
			}
		case "readOnly":
			if !f.accepts("true") {
				reads = CoverageNone
			}
			if !f.accepts("false") {
				writes = CoverageNone
			}
		case "resources.ARN":
			limit(f.arnCoverage(objects))
		default:
			if f.restricts() {
				limit(CoveragePartial)
			}
		}
	}
	if !category || !typ {
		return CoverageNone, CoverageNone
	}
	return reads, writes
}

// accepts reports whether the field selector matches the value v.
func (f FieldSelector) accepts(v string) bool {
	pos := len(f.Equals)+len(f.StartsWith)+len(f.EndsWith) == 0
	for _, x := range f.Equals {
		pos = pos || v == x
	}
	for _, x := range f.StartsWith {
		pos = pos || strings.HasPrefix(v, x)
	}
	for _, x := range f.EndsWith {
		pos = pos || strings.HasSuffix(v, x)
	}
	if !pos {
		return false
	}
	for _, x := range f.NotEquals {
		if v == x {
			return false
		}
	}
	for _, x := range f.NotStartsWith {
		if strings.HasPrefix(v, x) {
			return false
		}
	}
	for _, x := range f.NotEndsWith {
		if strings.HasSuffix(v, x) {
			return false
		}
	}
	return true
}

// restricts reports whether the field selector can leave any value out.
func (f FieldSelector) restricts() bool {
	return len(f.Equals)+len(f.StartsWith)+len(f.EndsWith)+len(f.NotEquals)+len(f.NotStartsWith)+len(f.NotEndsWith) > 0
}

// arnCoverage: how much of the object ARNs under objects (any key after
// it) the resources.ARN condition matches.
func (f FieldSelector) arnCoverage(objects string) Coverage {
	c := CoverageFull
	if len(f.Equals)+len(f.StartsWith)+len(f.EndsWith) > 0 {
		c = CoverageNone
		for _, x := range f.Equals {
			if strings.HasPrefix(x, objects) {
				c = max(c, CoveragePartial) // one object
			}
		}
		for _, x := range f.StartsWith {
			c = max(c, prefixCoverage(x, objects))
		}
		for _, x := range f.EndsWith {
			if x == "" {
				c = CoverageFull
			} else {
				c = max(c, CoveragePartial)
			}
		}
	}
	for _, x := range f.NotEquals {
		if strings.HasPrefix(x, objects) {
			c = min(c, CoveragePartial)
		}
	}
	for _, x := range f.NotStartsWith {
		switch prefixCoverage(x, objects) {
		case CoverageFull:
			c = CoverageNone
		case CoveragePartial:
			c = min(c, CoveragePartial)
		}
	}
	for _, x := range f.NotEndsWith {
		if x == "" {
			c = CoverageNone
		} else {
			c = min(c, CoveragePartial)
		}
	}
	return c
}

// putSelectorsCommand is the aws CLI command that adds a selector
// recording every S3 data event of buckets to the trail's selectors,
// repeating the current ones (put-event-selectors replaces them all). A
// trail on basic selectors stays on them; otherwise advanced selectors are
// used, with one for management events when the trail has none at all.
func putSelectorsCommand(region, trail, partition string, buckets []string, basic []EventSelector, advanced []AdvancedEventSelector) string {
	if partition == "" {
		partition = "aws"
	}
	type cliResource struct {
		Type   string
		Values []string
	}
	type cliBasic struct {
		ReadWriteType                 string        `json:",omitempty"`
		IncludeManagementEvents       *bool         `json:",omitempty"`
		DataResources                 []cliResource `json:",omitempty"`
		ExcludeManagementEventSources []string      `json:",omitempty"`
	}
	type cliField struct {
		Field         string
		Equals        []string `json:",omitempty"`
		StartsWith    []string `json:",omitempty"`
		EndsWith      []string `json:",omitempty"`
		NotEquals     []string `json:",omitempty"`
		NotStartsWith []string `json:",omitempty"`
		NotEndsWith   []string `json:",omitempty"`
	}
	type cliAdvanced struct {
		Name           string `json:",omitempty"`
		FieldSelectors []cliField
	}
	var arns []string
	for _, b := range buckets {
		arns = append(arns, "arn:"+partition+":s3:::"+b+"/")
	}
	var flag string
	var doc any
	if len(basic) > 0 && len(advanced) == 0 {
		var out []cliBasic
		for _, s := range basic {
			e := cliBasic{ReadWriteType: s.ReadWriteType, IncludeManagementEvents: s.IncludeManagementEvents, ExcludeManagementEventSources: s.ExcludeManagementEventSources}
			for _, dr := range s.DataResources {
				e.DataResources = append(e.DataResources, cliResource(dr))
			}
			out = append(out, e)
		}
		no := false
		out = append(out, cliBasic{ReadWriteType: "All", IncludeManagementEvents: &no, DataResources: []cliResource{{Type: "AWS::S3::Object", Values: arns}}})
		flag, doc = "--event-selectors", out
	} else {
		var out []cliAdvanced
		for _, s := range advanced {
			e := cliAdvanced{Name: s.Name}
			for _, f := range s.FieldSelectors {
				e.FieldSelectors = append(e.FieldSelectors, cliField(f))
			}
			out = append(out, e)
		}
		if len(out) == 0 {
			out = append(out, cliAdvanced{Name: "Management events", FieldSelectors: []cliField{{Field: "eventCategory", Equals: []string{"Management"}}}})
		}
		out = append(out, cliAdvanced{Name: "S3 data events of the monitored buckets", FieldSelectors: []cliField{
			{Field: "eventCategory", Equals: []string{"Data"}},
			{Field: "resources.type", Equals: []string{"AWS::S3::Object"}},
			{Field: "resources.ARN", StartsWith: arns}}})
		flag, doc = "--advanced-event-selectors", out
	}
	b, _ := json.Marshal(doc) // plain structs of strings: cannot fail
	return "aws cloudtrail put-event-selectors --region " + region + " --trail-name " + shellQuote(trail) + " " + flag + " " + shellQuote(string(b))
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
