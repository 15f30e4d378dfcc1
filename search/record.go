package search

import (
	"net/netip"
	"path"
	"strings"
	"time"
)

// Sources of records.
const (
	SourceCloudTrail = "cloudtrail"
	SourceAccessLog  = "s3-access-log"
)

// Record is one event, in the same shape whatever log it came from.
type Record struct {
	Time      time.Time `json:"time"`
	Source    string    `json:"source"`
	Account   string    `json:"account,omitempty"`
	Region    string    `json:"region,omitempty"`
	Principal string    `json:"principal,omitempty"`
	AccessKey string    `json:"accessKey,omitempty"`
	Action    string    `json:"action"`
	Service   string    `json:"service,omitempty"`
	// Category is CloudTrail's: management or data.
	Category  string `json:"category,omitempty"`
	Bucket    string `json:"bucket,omitempty"`
	Key       string `json:"key,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	// DeleteMarker: the action placed a delete marker (VersionID is the
	// marker's).
	DeleteMarker bool   `json:"deleteMarker,omitempty"`
	Status       string `json:"status"` // OK, or the error code (CloudTrail) or HTTP status and code (access logs)
	Error        bool   `json:"error,omitempty"`
	SourceIP     string `json:"sourceIp,omitempty"`
	UserAgent    string `json:"userAgent,omitempty"`
	RequestID    string `json:"requestId,omitempty"`
	EventID      string `json:"eventId,omitempty"`
	// Evidence is the sealed object the record was read from.
	Evidence Evidence `json:"evidence"`

	// names are the principal's other names a --principal filter matches
	// (role ARN, role or user name, session name, principal id).
	names []string
}

// Evidence names the sealed object a record came from, and the manifest
// that seals it.
type Evidence struct {
	Object   string `json:"object"`             // s3://bucket/key?versionId=...
	SHA256   string `json:"sha256"`             // of the object, as sealed and as read
	Manifest string `json:"manifest,omitempty"` // <stream>/<sequence>
	Source   string `json:"source,omitempty"`   // where the collector copied it from
}

// Filter selects records; every set field must match (values of one
// field are alternatives).
type Filter struct {
	AccessKeys []string
	Principals []string
	SourceIPs  []string // addresses or CIDR prefixes
	Buckets    []string
	Key        string // a prefix, or a glob when it has * ? or [
	Events     []string
	Errors     bool
	Since      time.Time
	Until      time.Time
}

// Match reports whether r is selected.
func (f Filter) Match(r *Record) bool {
	if !f.Since.IsZero() && r.Time.Before(f.Since) || !f.Until.IsZero() && r.Time.After(f.Until) {
		return false
	}
	if f.Errors && !r.Error {
		return false
	}
	if len(f.AccessKeys) > 0 && !anyEqual(f.AccessKeys, r.AccessKey, false) {
		return false
	}
	if len(f.Events) > 0 && !anyEqual(f.Events, r.Action, true) {
		return false
	}
	if len(f.Buckets) > 0 && !anyEqual(f.Buckets, r.Bucket, false) {
		return false
	}
	if f.Key != "" && !matchKey(f.Key, r.Key) {
		return false
	}
	if len(f.SourceIPs) > 0 && !matchIP(f.SourceIPs, r.SourceIP) {
		return false
	}
	if len(f.Principals) > 0 {
		ok := false
		for _, n := range append([]string{r.Principal}, r.names...) {
			ok = ok || n != "" && anyEqual(f.Principals, n, true)
		}
		if !ok {
			return false
		}
	}
	return true
}

func anyEqual(want []string, got string, fold bool) bool {
	for _, w := range want {
		if w == got || fold && strings.EqualFold(w, got) {
			return true
		}
	}
	return false
}

// matchKey matches a key prefix, or a glob (path.Match, whose * does not
// cross a /) when the pattern has a metacharacter.
func matchKey(pattern, key string) bool {
	if strings.ContainsAny(pattern, "*?[") {
		ok, err := path.Match(pattern, key)
		return err == nil && ok
	}
	return strings.HasPrefix(key, pattern)
}

func matchIP(want []string, got string) bool {
	addr, err := netip.ParseAddr(got)
	for _, w := range want {
		if w == got {
			return true
		}
		if p, perr := netip.ParsePrefix(w); perr == nil && err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// needles are strings a file must contain for any record of it to match:
// one alternative list per filter field whose values appear verbatim in
// both logs' bytes (access keys, addresses, bucket names). A file that
// lacks every value of one list is skipped without being parsed.
func (f Filter) needles() [][]string {
	var out [][]string
	for _, vals := range [][]string{f.AccessKeys, f.Buckets} {
		if lit := literals(vals); lit != nil {
			out = append(out, lit)
		}
	}
	var ips []string
	for _, ip := range f.SourceIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			ips = nil // a CIDR prefix: no literal
			break
		}
		ips = append(ips, ip)
	}
	if lit := literals(ips); lit != nil {
		out = append(out, lit)
	}
	return out
}

// literals returns vals if each is made of characters neither log escapes
// (JSON, or the access log's quoting), else nil.
func literals(vals []string) []string {
	if len(vals) == 0 {
		return nil
	}
	for _, v := range vals {
		if v == "" {
			return nil
		}
		for _, c := range v {
			plain := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:@", c)
			if !plain {
				return nil
			}
		}
	}
	return vals
}
