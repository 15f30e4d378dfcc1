package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzReadCloudTrail: any bytes a sealed log file may hold either parse
// into records or fail with ErrMalformedLog; never a panic.
func FuzzReadCloudTrail(f *testing.F) {
	f.Add([]byte(`{"Records":[{"eventTime":"2026-10-01T00:00:00Z","eventName":"GetObject","userIdentity":{"arn":"arn:aws:iam::1:user/a","accessKeyId":"AKIA"},"requestParameters":{"bucketName":"b","key":"k"},"responseElements":{"x-amz-version-id":"v","x-amz-delete-marker":"true"}}]}`))
	f.Add([]byte(`{"Records":[]}`))
	f.Add([]byte(`{"Other":1,"Records":[{"eventTime":"x"}]}`))
	f.Add([]byte(`{"Records":[{"requestParameters":"not an object"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		err := readCloudTrail(b, func(r *Record) error {
			n++
			if r.Source != SourceCloudTrail || r.Time.Location() != time.UTC {
				t.Fatalf("record without its source, or not in UTC: %+v", r)
			}
			Filter{Principals: []string{"a"}, Key: "k*", SourceIPs: []string{"10.0.0.0/8"}}.Match(r)
			return nil
		})
		if err != nil && !errors.Is(err, ErrMalformedLog) {
			t.Fatalf("error not ErrMalformedLog: %v", err)
		}
	})
}

// FuzzReadCloudTrailAsEncodingJSON: the parser reads what encoding/json
// decoding into ctEvent (the parser it replaced, kept here as the
// reference) reads: whenever both accept a file, the records are the same.
func FuzzReadCloudTrailAsEncodingJSON(f *testing.F) {
	f.Add([]byte(`{"Records":[{"eventTime":"2026-10-01T00:00:00Z","eventName":"GetObject","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","accessKeyId":"ASIA","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/r","userName":"r"}}},"requestParameters":{"bucketName":"b","key":"k","versionId":"v0"},"responseElements":{"x-amz-version-id":"v","x-amz-delete-marker":"true"},"managementEvent":false,"errorCode":"AccessDenied"}]}`))
	f.Add([]byte(`{"Records":[{"EventTime":"2026-10-01T00:00:00Z","EVENTNAME":"x","eventName":"y","userIdentity":null,"responseElements":{"x-amz-delete-marker":true}}],"Other":[1]}`))
	f.Add([]byte(`{"Records":[{"eventTime":"2026-10-01T00:00:00Z"}],"Records":[{"eventTime":"2026-10-02T00:00:00Z","managementEvent":true}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want []Record
		err := readCloudTrail(b, func(r *Record) error { got = append(got, *r); return nil })
		stdErr := readCloudTrailStd(b, func(r *Record) error { want = append(want, *r); return nil })
		if err != nil || stdErr != nil || !utf8.Valid(b) {
			return // the two may differ on what they refuse, never on what they read
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("records differ:\n%+v\n%+v", got, want)
		}
	})
}

// readCloudTrailStd is the encoding/json parser readCloudTrail replaced.
func readCloudTrailStd(b []byte, fn func(*Record) error) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	expect := func(want json.Delim) error {
		tok, err := dec.Token()
		if d, ok := tok.(json.Delim); err != nil || !ok || d != want {
			return ErrMalformedLog
		}
		return nil
	}
	if err := expect('{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ErrMalformedLog
		}
		if name, _ := tok.(string); name != "Records" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return ErrMalformedLog
			}
			continue
		}
		if err := expect('['); err != nil {
			return err
		}
		for dec.More() {
			var e ctEvent
			if err := dec.Decode(&e); err != nil {
				return ErrMalformedLog
			}
			r, err := e.record()
			if err != nil {
				return ErrMalformedLog
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return ErrMalformedLog
		}
	}
	if _, err := dec.Token(); err != nil {
		return ErrMalformedLog
	}
	if _, err := dec.Token(); err != io.EOF {
		return ErrMalformedLog
	}
	return nil
}
