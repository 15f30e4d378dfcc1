package search

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// ctEvent is the part of a CloudTrail record a Record is made of.
type ctEvent struct {
	EventTime    string `json:"eventTime"`
	EventSource  string `json:"eventSource"`
	EventName    string `json:"eventName"`
	AWSRegion    string `json:"awsRegion"`
	SourceIP     string `json:"sourceIPAddress"`
	UserAgent    string `json:"userAgent"`
	ErrorCode    string `json:"errorCode"`
	RequestID    string `json:"requestID"`
	EventID      string `json:"eventID"`
	Recipient    string `json:"recipientAccountId"`
	Category     string `json:"eventCategory"`
	Management   *bool  `json:"managementEvent"`
	UserIdentity struct {
		Type        string `json:"type"`
		PrincipalID string `json:"principalId"`
		ARN         string `json:"arn"`
		AccountID   string `json:"accountId"`
		AccessKeyID string `json:"accessKeyId"`
		UserName    string `json:"userName"`
		InvokedBy   string `json:"invokedBy"`
		Session     struct {
			Issuer struct {
				ARN      string `json:"arn"`
				UserName string `json:"userName"`
			} `json:"sessionIssuer"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	RequestParameters struct {
		BucketName string `json:"bucketName"`
		Key        string `json:"key"`
		VersionID  string `json:"versionId"`
	} `json:"requestParameters"`
	ResponseElements map[string]any `json:"responseElements"`
}

// ErrMalformedLog means bytes are not a CloudTrail log file.
var ErrMalformedLog = errors.New("not a CloudTrail log file")

// ctParsers parse whole log files: a tree per file, reused (a file's
// records are not held after fn returns).
var ctParsers fastjson.ParserPool

// readCloudTrail calls fn with each record of one decompressed CloudTrail
// log file ({"Records":[...]}). A record that is not an object of the
// expected shape (a field of the wrong type) stops the file: its bytes
// were sealed as they were, and the caller reports it. Field names match
// as encoding/json matches them: exactly, else ignoring case.
func readCloudTrail(b []byte, fn func(*Record) error) error {
	p := ctParsers.Get()
	defer ctParsers.Put(p)
	v, err := p.ParseBytes(b)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedLog, err)
	}
	top, err := v.Object()
	if err != nil {
		return fmt.Errorf("%w: %s where '{' was expected", ErrMalformedLog, v.Type())
	}
	var recs [][]*fastjson.Value
	top.Visit(func(k []byte, v *fastjson.Value) {
		if string(k) != "Records" {
			return
		}
		a, aerr := v.Array()
		if aerr != nil && err == nil {
			err = fmt.Errorf("%w: Records is %s where '[' was expected", ErrMalformedLog, v.Type())
		}
		recs = append(recs, a)
	})
	if err != nil {
		return err
	}
	var d ctDecoder
	for _, a := range recs {
		for i, rv := range a {
			var e ctEvent
			if err := e.from(rv, &d); err != nil {
				return fmt.Errorf("%w: record %d: %v", ErrMalformedLog, i, err)
			}
			r, err := e.record()
			if err != nil {
				return fmt.Errorf("%w: record %d: %v", ErrMalformedLog, i, err)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// Field names of the parts of a record a Record is made of.
var (
	recordFields   = []string{"eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent", "errorCode", "requestID", "eventID", "recipientAccountId", "eventCategory", "managementEvent", "userIdentity", "requestParameters", "responseElements"}
	identityFields = []string{"type", "principalId", "arn", "accountId", "accessKeyId", "userName", "invokedBy", "sessionContext"}
	sessionFields  = []string{"sessionIssuer"}
	issuerFields   = []string{"arn", "userName"}
	requestFields  = []string{"bucketName", "key", "versionId"}
	responseFields = []string{"x-amz-version-id", "x-amz-delete-marker"}
)

// from fills e from one record, as encoding/json would decode it into
// ctEvent: a missing or null field is empty, one of another type is an
// error.
func (e *ctEvent) from(v *fastjson.Value, d *ctDecoder) error {
	d.err = nil
	o := d.object(v, "record")
	if o == nil {
		if d.err == nil && v.Type() == fastjson.TypeNull {
			return nil
		}
		return d.err
	}
	f := d.lookup(o, recordFields)
	e.EventTime, e.EventSource, e.EventName = d.str(f[0], "eventTime"), d.str(f[1], "eventSource"), d.str(f[2], "eventName")
	e.AWSRegion, e.SourceIP, e.UserAgent = d.str(f[3], "awsRegion"), d.str(f[4], "sourceIPAddress"), d.str(f[5], "userAgent")
	e.ErrorCode, e.RequestID, e.EventID = d.str(f[6], "errorCode"), d.str(f[7], "requestID"), d.str(f[8], "eventID")
	e.Recipient, e.Category = d.str(f[9], "recipientAccountId"), d.str(f[10], "eventCategory")
	if m := f[11]; m != nil && m.Type() != fastjson.TypeNull {
		b, err := m.Bool()
		if err != nil {
			d.fail("managementEvent", m)
		}
		e.Management = &b
	}
	user, req, resp := f[12], f[13], f[14]
	if u := d.object(user, "userIdentity"); u != nil {
		f := d.lookup(u, identityFields)
		ui := &e.UserIdentity
		ui.Type, ui.PrincipalID, ui.ARN, ui.AccountID = d.str(f[0], "type"), d.str(f[1], "principalId"), d.str(f[2], "arn"), d.str(f[3], "accountId")
		ui.AccessKeyID, ui.UserName, ui.InvokedBy = d.str(f[4], "accessKeyId"), d.str(f[5], "userName"), d.str(f[6], "invokedBy")
		if sc := d.object(f[7], "sessionContext"); sc != nil {
			if is := d.object(d.lookup(sc, sessionFields)[0], "sessionIssuer"); is != nil {
				f := d.lookup(is, issuerFields)
				ui.Session.Issuer.ARN, ui.Session.Issuer.UserName = d.str(f[0], "arn"), d.str(f[1], "userName")
			}
		}
	}
	if rp := d.object(req, "requestParameters"); rp != nil {
		f := d.lookup(rp, requestFields)
		e.RequestParameters.BucketName, e.RequestParameters.Key, e.RequestParameters.VersionID = d.str(f[0], "bucketName"), d.str(f[1], "key"), d.str(f[2], "versionId")
	}
	if re := d.object(resp, "responseElements"); re != nil {
		// As a map[string]any: any shape inside, keys exact; only these
		// two are read.
		f := d.exact(re, responseFields)
		e.ResponseElements = map[string]any{}
		if v := f[0]; v != nil && v.Type() == fastjson.TypeString {
			e.ResponseElements["x-amz-version-id"] = string(v.GetStringBytes())
		}
		if v := f[1]; v != nil {
			switch v.Type() {
			case fastjson.TypeTrue:
				e.ResponseElements["x-amz-delete-marker"] = true
			case fastjson.TypeString:
				e.ResponseElements["x-amz-delete-marker"] = string(v.GetStringBytes())
			}
		}
	}
	return d.err
}

// ctDecoder keeps the first type error of a record, and the buffers its
// lookups reuse.
type ctDecoder struct {
	err    error
	vals   [16]*fastjson.Value
	others []keyValue
}

type keyValue struct {
	k []byte
	v *fastjson.Value
}

func (d *ctDecoder) fail(name string, v *fastjson.Value) {
	if d.err == nil {
		d.err = fmt.Errorf("%s is %s", name, v.Type())
	}
}

// lookup finds names in o in one pass, as encoding/json matches struct
// fields: exactly (the last of duplicates), else ignoring case. The
// result is valid until the next lookup.
func (d *ctDecoder) lookup(o *fastjson.Object, names []string) []*fastjson.Value {
	out := d.vals[:len(names)]
	clear(out)
	d.others = d.others[:0]
	o.Visit(func(k []byte, v *fastjson.Value) {
		for i, n := range names {
			if string(k) == n {
				out[i] = v
				return
			}
		}
		d.others = append(d.others, keyValue{k, v})
	})
	for i, n := range names {
		if out[i] != nil {
			continue
		}
		for _, kv := range d.others {
			if len(kv.k) == len(n) && bytes.EqualFold(kv.k, []byte(n)) {
				out[i] = kv.v
			}
		}
	}
	return out
}

// exact finds names in o, exactly (the last of duplicates), as a map's
// keys.
func (d *ctDecoder) exact(o *fastjson.Object, names []string) []*fastjson.Value {
	out := d.vals[:len(names)]
	clear(out)
	o.Visit(func(k []byte, v *fastjson.Value) {
		for i, n := range names {
			if string(k) == n {
				out[i] = v
			}
		}
	})
	return out
}

// object is v as an object: nil when v is missing or null, or (with an
// error) of another type.
func (d *ctDecoder) object(v *fastjson.Value, name string) *fastjson.Object {
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil
	}
	o, err := v.Object()
	if err != nil {
		d.fail(name, v)
		return nil
	}
	return o
}

// str is v as a string ("" when missing or null).
func (d *ctDecoder) str(v *fastjson.Value, name string) string {
	if v == nil || v.Type() == fastjson.TypeNull {
		return ""
	}
	b, err := v.StringBytes()
	if err != nil {
		d.fail(name, v)
		return ""
	}
	return string(b)
}

// record normalizes a CloudTrail event.
func (e *ctEvent) record() (*Record, error) {
	at, err := time.Parse(time.RFC3339, e.EventTime)
	if err != nil {
		return nil, fmt.Errorf("eventTime %q", e.EventTime)
	}
	u := e.UserIdentity
	r := &Record{Time: at.UTC(), Source: SourceCloudTrail, Account: e.Recipient, Region: e.AWSRegion, Principal: u.ARN, AccessKey: u.AccessKeyID,
		Action: e.EventName, Service: strings.TrimSuffix(e.EventSource, ".amazonaws.com"), Bucket: e.RequestParameters.BucketName, Key: e.RequestParameters.Key,
		VersionID: e.RequestParameters.VersionID, Status: "OK", SourceIP: e.SourceIP, UserAgent: e.UserAgent, RequestID: e.RequestID, EventID: e.EventID}
	if r.Account == "" {
		r.Account = u.AccountID
	}
	switch {
	case e.Management != nil && *e.Management, e.Category == "Management":
		r.Category = "management"
	case e.Management != nil, e.Category == "Data":
		r.Category = "data"
	}
	if r.Principal == "" {
		r.Principal = firstOf(u.InvokedBy, u.PrincipalID, u.Type)
	}
	if e.ErrorCode != "" {
		r.Status, r.Error = e.ErrorCode, true
	}
	if v, ok := e.ResponseElements["x-amz-version-id"].(string); ok && v != "" {
		r.VersionID = v // the version (or delete marker) the call created
	}
	if d, ok := e.ResponseElements["x-amz-delete-marker"]; ok && (d == true || d == "true") {
		r.DeleteMarker = true
	}
	r.names = []string{u.Session.Issuer.ARN, u.Session.Issuer.UserName, u.UserName, u.PrincipalID}
	if strings.Contains(u.ARN, ":assumed-role/") {
		r.names = append(r.names, u.ARN[strings.LastIndex(u.ARN, "/")+1:]) // the session name
	}
	return r, nil
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
