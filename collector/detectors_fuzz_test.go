package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/testaws"
)

const fuzzSecurityHubJSON = `{"Findings":[{"SchemaVersion":"2018-10-08","Id":"f1","AwsAccountId":"123456789012","UpdatedAt":"2026-11-19T10:00:00.000Z",
"Severity":{"Label":"HIGH"},"Title":"t","Resources":[{"Type":"AwsS3Bucket","Id":"arn:aws:s3:::data"}]},
{"Id":"f2","AwsAccountId":"123456789012","UpdatedAt":"yesterday","Severity":{"Normalized":90},"Resources":[{"Id":"arn:aws:s3:::data/k"}]},
{"Id":"other","AwsAccountId":"999999999999","UpdatedAt":"2026-11-19T10:00:00Z"}],"NextToken":""}`

const fuzzGuardDutyGetJSON = `{"findings":[{"id":"g1","accountId":"123456789012","updatedAt":"2026-11-19T10:00:00.000Z","severity":8.5,"title":"t",
"resource":{"resourceType":"S3Bucket","s3BucketDetails":[{"name":"data","arn":"arn:aws:s3:::data"}]}}]}`

// FuzzDetectors feeds what Security Hub and GuardDuty answer, whatever it
// is, through the SDK's deserializers into the detector findings
// collector: it never crashes, stores only gzip NDJSON records, and
// reports only its own kinds of finding.
func FuzzDetectors(f *testing.F) {
	f.Add(uint8(0), []byte(fuzzSecurityHubJSON), []byte(`{"findingIds":["g1"]}`), []byte(fuzzGuardDutyGetJSON))
	f.Add(uint8(1), []byte(`{"__type":"InvalidAccessException","message":"not subscribed"}`), []byte(`{"findingIds":["g1"],"nextToken":"n"}`), []byte(fuzzGuardDutyGetJSON))
	f.Add(uint8(2), []byte(`{"__type":"AccessDeniedException","message":"no"}`), []byte(`{"findingIds":[]}`), []byte(`{}`))
	f.Add(uint8(0), []byte(`{"Findings":[{"Id":"a","AwsAccountId":"123456789012","UpdatedAt":"2026-11-19T10:00:00Z"}],"NextToken":"again"}`), []byte(`x`), []byte(`[`))
	l := fuzzLedger(f)
	f.Fuzz(func(t *testing.T, status uint8, sh, gdList, gdGet []byte) {
		shStatus := []int{200, 400, 403}[int(status)%3]
		// Pages are read in the artifact writer's goroutine: past the
		// budget requests fail, and the test fails after Collect.
		var calls atomic.Int64
		var over atomic.Bool
		answer := func(r *http.Request, code int, body []byte) (*http.Response, error) {
			if calls.Add(1) > 2000 {
				over.Store(true)
				return nil, errors.New("request budget exceeded")
			}
			if r.Body != nil {
				_, _ = io.Copy(io.Discard, r.Body)
			}
			resp := testaws.Reply(code, "application/json", body)
			if code != 200 {
				var e struct {
					Type string `json:"__type"`
				}
				_ = json.Unmarshal(body, &e)
				resp.Header.Set("X-Amzn-Errortype", e.Type)
			}
			return resp, nil
		}
		shc := securityhub.New(securityhub.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{},
			BaseEndpoint: aws.String("https://securityhub.offline.invalid"),
			HTTPClient:   testaws.OfflineHTTP(func(r *http.Request) (*http.Response, error) { return answer(r, shStatus, sh) })})
		gdc := guardduty.New(guardduty.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{},
			BaseEndpoint: aws.String("https://guardduty.offline.invalid"),
			HTTPClient: testaws.OfflineHTTP(func(r *http.Request) (*http.Response, error) {
				switch {
				case r.URL.Path == "/detector":
					return answer(r, 200, []byte(`{"detectorIds":["d1"]}`))
				case strings.HasSuffix(r.URL.Path, "/findings"):
					return answer(r, 200, gdList)
				}
				return answer(r, 200, gdGet)
			})})
		c := &Detectors{SecurityHub: shc, GuardDuty: gdc, Ledger: l, Account: "123456789012", Region: "us-east-1", Buckets: []string{"data"},
			Prefix: "custody", Now: func() time.Time { return fuzzNow }}
		run := newMemRun()
		out, err := c.Collect(context.Background(), run)
		if over.Load() {
			t.Fatalf("more than 2000 requests for one collection (a page token that repeats?)")
		}
		if err != nil && !strings.Contains(err.Error(), "123456789012") {
			t.Fatalf("an error that does not name the account: %v", err)
		}
		for _, fd := range out.Findings {
			switch fd.Kind {
			case finding.DetectorFindingOnBucket, finding.DetectorsUnavailable, finding.DetectorUnreadable, finding.DetectorFindingMalformed:
			default:
				t.Fatalf("a finding of kind %s", fd.Kind)
			}
		}
		for key, b := range run.puts {
			if run.opts[key].Kind != "detector-findings" || !strings.HasPrefix(key, "custody/123456789012/us-east-1/findings/") {
				t.Fatalf("stored %s as %q", key, run.opts[key].Kind)
			}
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s is not gzip: %v", key, err)
			}
			dec := json.NewDecoder(zr)
			for dec.More() {
				var rec DetectorRecord
				if err := dec.Decode(&rec); err != nil || (rec.Source != "securityhub" && rec.Source != "guardduty") {
					t.Fatalf("%s: a line that is no record (%v): %+v", key, err, rec)
				}
			}
		}
	})
}
