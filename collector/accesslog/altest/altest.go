// Package altest writes Amazon S3 server access logs as AWS delivers
// them, for tests and the demo: records formatted field by field with
// fmt from known values (never through the accesslog parser they feed),
// in log objects named in either of S3's key formats.
package altest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Entry is one request's values.
type Entry struct {
	Owner, Bucket       string
	Time                time.Time
	RemoteIP, Requester string // "" writes -
	RequestID           string
	Operation, Key      string // Key as AWS logs it (URL-encoded); "" writes -
	RequestURI          string // the request line, written between quotes
	Status              int
	ErrorCode           string
	BytesSent, Size     int64 // -1 writes -
	TotalMS, TurnMS     int64
	Referer, UserAgent  string // written between quotes, "" as "-"
	VersionID, HostID   string
	SigV, Cipher, Auth  string
	Host, TLS           string
	AccessPoint, ACLReq string
	// Fields is how many fields to write (0: all 26): 17 and 18 write
	// AWS's older records, which end after the user agent or version id.
	Fields int
}

// Line formats e as one log line (no newline).
func (e Entry) Line() string {
	d := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	n := func(v int64) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprint(v)
	}
	q := func(s string) string { return `"` + d(s) + `"` }
	status := "-"
	if e.Status != 0 {
		status = fmt.Sprint(e.Status)
	}
	all := []string{d(e.Owner), d(e.Bucket), e.Time.UTC().Format("[02/Jan/2006:15:04:05 +0000]"), d(e.RemoteIP), d(e.Requester), d(e.RequestID),
		d(e.Operation), d(e.Key), q(e.RequestURI), status, d(e.ErrorCode), n(e.BytesSent), n(e.Size), n(e.TotalMS), n(e.TurnMS),
		q(e.Referer), q(e.UserAgent), d(e.VersionID), d(e.HostID), d(e.SigV), d(e.Cipher), d(e.Auth), d(e.Host), d(e.TLS), d(e.AccessPoint), d(e.ACLReq)}
	if e.Fields > 0 && e.Fields < len(all) {
		all = all[:e.Fields]
	}
	return strings.Join(all, " ")
}

// Owner is the canonical user id the generated records name.
const Owner = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"

// Entries makes n realistic requests on bucket from start on, one a
// second: reads, writes, deletes and listings by a role and anonymously,
// request lines with encoded spaces, a user agent with quotes in it.
func Entries(bucket string, start time.Time, n int, seed uint64) []Entry {
	r := rand.New(rand.NewPCG(seed, 0x5a11))
	out := make([]Entry, n)
	for i := range out {
		key := fmt.Sprintf("orders/2026/order %04d.json", r.IntN(10000))
		enc := strings.ReplaceAll(key, " ", "%20")
		e := Entry{Owner: Owner, Bucket: bucket, Time: start.Add(time.Duration(i) * time.Second), RemoteIP: fmt.Sprintf("192.0.2.%d", 1+r.IntN(254)),
			Requester: "arn:aws:sts::123456789012:assumed-role/app/session-" + fmt.Sprint(r.IntN(9)), RequestID: fmt.Sprintf("%016X", r.Uint64()),
			Status: 200, BytesSent: -1, Size: -1, TotalMS: int64(1 + r.IntN(90)), TurnMS: int64(r.IntN(20)),
			UserAgent: `aws-sdk-go-v2/1.30.0 os/linux lang/go#1.22 md/GOARCH#amd64 api/s3#1.58.0 (app; "quoted"-build)`,
			HostID:    "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234=", SigV: "SigV4",
			Cipher: "TLS_AES_128_GCM_SHA256", Auth: "AuthHeader", Host: bucket + ".s3.us-east-1.amazonaws.com", TLS: "TLSv1.3"}
		switch i % 5 {
		case 0, 1:
			e.Operation, e.Key, e.RequestURI = "REST.GET.OBJECT", enc, "GET /"+bucket+"/"+enc+" HTTP/1.1"
			e.Size = int64(100 + r.IntN(5000))
			e.BytesSent = e.Size
			e.VersionID = fmt.Sprintf("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY%04d", i%10000)
		case 2:
			e.Operation, e.Key, e.RequestURI = "REST.PUT.OBJECT", enc, "PUT /"+bucket+"/"+enc+"?x-id=PutObject HTTP/1.1"
			e.Size = int64(100 + r.IntN(5000))
		case 3:
			e.Operation, e.Key, e.RequestURI = "REST.DELETE.OBJECT", enc, "DELETE /"+bucket+"/"+enc+" HTTP/1.1"
			e.Status = 204
		case 4:
			e.Operation, e.RequestURI = "REST.GET.BUCKET", "GET /"+bucket+"?list-type=2&prefix=orders%2F HTTP/1.1"
			e.Requester, e.Status, e.ErrorCode, e.BytesSent = "", 403, "AccessDenied", 243
			e.UserAgent, e.Referer = `curl/8.5.0`, "https://example.com/a page"
			e.SigV, e.Auth, e.Cipher, e.TLS = "", "", "", ""
		}
		if i%7 == 6 {
			e.AccessPoint = "arn:aws:s3:us-east-1:123456789012:accesspoint/reports"
		}
		if i%11 == 10 {
			e.ACLReq = "Yes"
		}
		out[i] = e
	}
	return out
}

// Format is a log delivery's key format.
type Format struct {
	Partitioned bool
	// EventTime partitions by the records' day (the key's time is then
	// that day at 00:00:00); otherwise by the delivery time.
	EventTime bool
}

// Key is the key of a log object delivered at t: the simple format
// [prefix]YYYY-mm-DD-HH-MM-SS-UniqueString, or the partitioned one
// [prefix][account]/[region]/[bucket]/YYYY/MM/DD/YYYY-MM-DD-hh-mm-ss-UniqueString.
func Key(f Format, prefix, account, region, bucket string, t time.Time, unique string) string {
	t = t.UTC()
	if !f.Partitioned {
		return prefix + t.Format("2006-01-02-15-04-05") + "-" + unique
	}
	name := t
	if f.EventTime {
		name = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return fmt.Sprintf("%s%s/%s/%s/%04d/%02d/%02d/%s-%s", prefix, account, region, bucket, t.Year(), int(t.Month()), t.Day(), name.Format("2006-01-02-15-04-05"), unique)
}

// Putter is what writing logs needs.
type Putter interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Delivery is a series of log objects to write for one source bucket.
type Delivery struct {
	TargetBucket, TargetPrefix string
	Format                     Format
	Account, Region, Source    string // the source bucket's account, region and name
	Start                      time.Time
	Objects, RecordsPerObject  int
	Every                      time.Duration // between deliveries (default 1 minute)
	Seed                       uint64
}

// Object is one log object written.
type Object struct {
	Key     string
	Entries []Entry
}

// Make makes the delivery's objects without writing them.
func (d Delivery) Make() []Object {
	every := d.Every
	if every == 0 {
		every = time.Minute
	}
	out := make([]Object, d.Objects)
	for i := range out {
		t := d.Start.Add(time.Duration(i) * every)
		unique := fmt.Sprintf("%016X", rand.New(rand.NewPCG(d.Seed, uint64(i))).Uint64())
		out[i] = Object{Key: Key(d.Format, d.TargetPrefix, d.Account, d.Region, d.Source, t, unique),
			Entries: Entries(d.Source, t.Add(-time.Duration(d.RecordsPerObject)*time.Second), d.RecordsPerObject, d.Seed+uint64(i))}
	}
	return out
}

// Body is an object's bytes: one line per entry, each ending in a newline.
func (o Object) Body() string {
	var b strings.Builder
	for _, e := range o.Entries {
		b.WriteString(e.Line())
		b.WriteByte('\n')
	}
	return b.String()
}

// Write writes the delivery's objects, concurrency at a time.
func Write(ctx context.Context, p Putter, d Delivery, concurrency int) ([]Object, error) {
	objs := d.Make()
	if concurrency < 1 {
		concurrency = 1
	}
	sem := make(chan struct{}, concurrency)
	errs := make(chan error, len(objs))
	for _, o := range objs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := p.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(d.TargetBucket), Key: aws.String(o.Key), Body: strings.NewReader(o.Body()),
				ContentType: aws.String("text/plain")})
			if err != nil {
				err = fmt.Errorf("write s3://%s/%s: %w", d.TargetBucket, o.Key, err)
			}
			errs <- err
		}()
	}
	for range concurrency {
		sem <- struct{}{}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return objs, nil
}
