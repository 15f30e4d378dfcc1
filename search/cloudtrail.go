package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
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

// readCloudTrail calls fn with each record of one decompressed CloudTrail
// log file ({"Records":[...]}), decoding one record at a time. A record
// that is not an object of the expected shape stops the file: its bytes
// were sealed as they were, and the caller reports it.
func readCloudTrail(b []byte, fn func(*Record) error) error {
	return decodeCloudTrail(bytes.NewReader(b), fn)
}

// decodeCloudTrail is readCloudTrail over a stream: memory holds one
// record at a time.
func decodeCloudTrail(r io.Reader, fn func(*Record) error) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformedLog, err)
		}
		if name, _ := tok.(string); name != "Records" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("%w: %v", ErrMalformedLog, err)
			}
			continue
		}
		if err := expectDelim(dec, '['); err != nil {
			return err
		}
		for i := 0; dec.More(); i++ {
			var e ctEvent
			if err := dec.Decode(&e); err != nil {
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
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("%w: %v", ErrMalformedLog, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedLog, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the top-level object", ErrMalformedLog)
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedLog, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%w: %v where %q was expected", ErrMalformedLog, tok, want)
	}
	return nil
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
