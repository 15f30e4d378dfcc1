package search

import (
	"errors"
	"testing"
	"time"
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
