package cloudtrail_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/testaws"
)

var t0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	s3    *s3.Client
	trail cttest.Trail
	w     *cttest.Written
}

func newFixture(t *testing.T, mutate func(*cttest.Trail)) *fixture {
	t.Helper()
	c := testaws.Require(t).S3(t)
	tr := cttest.Trail{
		Bucket: testaws.CreateBucket(t, c, testaws.BucketOptions{}), Account: "123456789012", Region: "us-east-1",
		Name: "org-trail", Start: t0, Hours: 6, LogsPerHour: 2, EmptyHours: map[int]bool{2: true}, RotateAt: 3,
	}
	if mutate != nil {
		mutate(&tr)
	}
	w, err := cttest.Write(context.Background(), c, tr)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, s3: c, trail: tr, w: w}
}

func (f *fixture) validate(keys []cloudtrail.PublicKey) *cloudtrail.Result {
	f.t.Helper()
	if keys == nil {
		keys = f.w.Keys
	}
	tr := f.trail
	r, err := cloudtrail.Validate(context.Background(), cloudtrail.BucketSource{API: f.s3, Bucket: tr.Bucket}, cloudtrail.Options{
		Bucket: tr.Bucket, Prefix: tr.Prefix, OrgID: tr.OrgID, Account: tr.Account, Region: tr.Region, Trail: tr.Name,
		Start: tr.Start, End: tr.Start.Add(time.Duration(tr.Hours) * time.Hour), Keys: keys, Now: time.Now,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) get(key string) ([]byte, map[string]string) {
	f.t.Helper()
	out, err := f.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(f.trail.Bucket), Key: aws.String(key)})
	if err != nil {
		f.t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return b, out.Metadata
}

func (f *fixture) put(key string, body []byte, meta map[string]string) {
	f.t.Helper()
	if _, err := f.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(f.trail.Bucket), Key: aws.String(key), Body: bytes.NewReader(body), Metadata: meta}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) del(key string) {
	f.t.Helper()
	if _, err := f.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(f.trail.Bucket), Key: aws.String(key)}); err != nil {
		f.t.Fatal(err)
	}
}

func count(r *cloudtrail.Result, kind string) int {
	n := 0
	for _, f := range r.Findings {
		if string(f.Kind) == kind && f.Severity == finding.Failure {
			n++
		}
	}
	return n
}

func TestValidTrails(t *testing.T) {
	t.Parallel()
	for name, mutate := range map[string]func(*cttest.Trail){
		"account trail with rotation and an empty hour": nil,
		"organization trail with a prefix":              func(tr *cttest.Trail) { tr.OrgID, tr.Prefix = "o-abcdef1234", "logs/cloudtrail" },
		"keys as SubjectPublicKeyInfo":                  func(tr *cttest.Trail) { tr.SPKI = true },
		"backfill digests":                              func(tr *cttest.Trail) { tr.Backfill = map[int]bool{1: true} },
		"a chain restart":                               func(tr *cttest.Trail) { tr.RestartAt = map[int]bool{4: true} },
		"home region differs":                           func(tr *cttest.Trail) { tr.HomeRegion = "eu-west-1" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, mutate)
			r := f.validate(nil)
			if fs := testaws.Failures(r.Findings); len(fs) != 0 || !r.OK {
				t.Fatalf("valid trail: %v", fs)
			}
			wantDigests := 6 + len(f.w.Backfill)
			if r.Checked.Digests != wantDigests || r.Checked.LogFiles != 10+2*len(f.w.Backfill) || r.Checked.Bytes == 0 {
				t.Fatalf("checked = %+v", r.Checked)
			}
		})
	}
}

func TestValidationFindsTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		trail func(*cttest.Trail)
		keys  func(f *fixture) []cloudtrail.PublicKey
		do    func(f *fixture) (kind, object string, n int)
	}{
		{name: "digest deleted", do: func(f *fixture) (string, string, int) {
			f.del(f.w.Digests[3])
			return "digest-missing", f.w.Digests[3], 1
		}},
		{name: "two consecutive digests deleted", do: func(f *fixture) (string, string, int) {
			f.del(f.w.Digests[2])
			f.del(f.w.Digests[3])
			return "digest-missing", f.w.Digests[3], 2
		}},
		{name: "newest digest deleted", do: func(f *fixture) (string, string, int) {
			f.del(f.w.Digests[5])
			return "digest-missing", "CloudTrail-Digest", 1
		}},
		{name: "digest content edited", do: func(f *fixture) (string, string, int) {
			body, meta := f.get(f.w.Digests[1])
			var raw bytes.Buffer
			if _, err := cloudtrail.Gunzip(&raw, bytes.NewReader(body), 1<<20); err != nil {
				f.t.Fatal(err)
			}
			edited := strings.Replace(raw.String(), `"logFiles":[{`, `"logFiles":[{"extra":1,`, 1)
			f.put(f.w.Digests[1], cttest.Gzip([]byte(edited)), meta)
			return "digest-signature-invalid", f.w.Digests[1], 1
		}},
		{name: "signature metadata lost", do: func(f *fixture) (string, string, int) {
			body, _ := f.get(f.w.Digests[4])
			f.put(f.w.Digests[4], body, nil)
			return "digest-signature-missing", f.w.Digests[4], 1
		}},
		{name: "digest moved to another hour's key", do: func(f *fixture) (string, string, int) {
			body, meta := f.get(f.w.Digests[1])
			f.put(f.w.Digests[3], body, meta)
			return "digest-misplaced", f.w.Digests[3], 1
		}},
		{name: "log file edited", do: func(f *fixture) (string, string, int) {
			f.put(f.w.Logs[0], cttest.Gzip([]byte(`{"Records":[]}`)), nil)
			return "log-hash-mismatch", f.w.Logs[0], 1
		}},
		{name: "log file deleted", do: func(f *fixture) (string, string, int) {
			f.del(f.w.Logs[3])
			return "log-missing", f.w.Logs[3], 1
		}},
		{name: "data after the gzip stream", do: func(f *fixture) (string, string, int) {
			body, _ := f.get(f.w.Logs[1])
			f.put(f.w.Logs[1], append(body, "appended"...), nil)
			return "log-malformed", f.w.Logs[1], 1
		}},
		{name: "digest that is not gzip", do: func(f *fixture) (string, string, int) {
			_, meta := f.get(f.w.Digests[0])
			f.put(f.w.Digests[0], []byte("{}"), meta)
			return "digest-malformed", f.w.Digests[0], 1
		}},
		{name: "a signed digest that links to the wrong predecessor", trail: func(tr *cttest.Trail) { tr.BadLinkAt = map[int]bool{4: true} },
			do: func(f *fixture) (string, string, int) { return "digest-chain-broken", f.w.Digests[4], 2 }},
		{name: "rotated key unknown", keys: func(f *fixture) []cloudtrail.PublicKey { return f.w.Keys[:1] },
			do: func(f *fixture) (string, string, int) { return "digest-key-unknown", f.w.Digests[3], 4 }},
		{name: "old key used after its validity", keys: func(f *fixture) []cloudtrail.PublicKey {
			k := f.w.Keys[0]
			k.ValidityEnd = t0.Add(time.Hour)
			return []cloudtrail.PublicKey{k, f.w.Keys[1]}
		}, do: func(f *fixture) (string, string, int) { return "digest-key-unknown", f.w.Digests[1], 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.trail)
			kind, object, n := tc.do(f)
			var keys []cloudtrail.PublicKey
			if tc.keys != nil {
				keys = tc.keys(f)
			}
			r := f.validate(keys)
			if r.OK {
				t.Fatal("validation passed after tampering")
			}
			testaws.RequireFinding(t, r.Findings, finding.Kind(kind), object)
			if got := count(r, kind); got != n {
				t.Fatalf("%d %s findings, want %d: %v", got, kind, n, r.Findings)
			}
		})
	}
}

// Validate reads no clock of its own: without Options.Now it refuses,
// before reading the source.
func TestValidateNeedsClock(t *testing.T) {
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	_, err := cloudtrail.Validate(context.Background(), nil, cloudtrail.Options{Bucket: "trail", Account: "123456789012",
		Region: "us-east-1", Trail: "main", Start: start, End: start.Add(time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "Options.Now") {
		t.Fatalf("Validate without a clock: %v, want an error naming Options.Now", err)
	}
}
