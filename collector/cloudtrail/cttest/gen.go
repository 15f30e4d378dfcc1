// Package cttest writes CloudTrail trails in AWS's exact format into a
// bucket, signed with test RSA keys: hourly digests chained to each other,
// log files, empty hours, chain restarts, backfills, key rotation and the
// organization-trail layout. Tests validate and tamper with what it writes.
package cttest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/collector/cloudtrail"
)

// Putter is what writing a trail needs.
type Putter interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Trail describes the trail to write.
type Trail struct {
	Bucket, Prefix, OrgID, Account, Region, Name, HomeRegion string
	Start                                                    time.Time    // the first hour
	Hours                                                    int          // how many hourly digests
	LogsPerHour                                              int          // log files per hour (0: every hour empty)
	EmptyHours                                               map[int]bool // hours with no log files
	RestartAt                                                map[int]bool // hours whose digest starts a new chain
	RotateAt                                                 int          // hour from which the second key signs (0: never)
	Backfill                                                 map[int]bool // hours that also get a backfill digest
	SPKI                                                     bool         // publish keys as SubjectPublicKeyInfo instead of PKCS#1 (the fingerprint stays the PKCS#1 one, as AWS computes it)
	// BadLinkAt are hours whose digest, correctly signed, links to the
	// wrong hash and signature of its predecessor.
	BadLinkAt   map[int]bool
	Concurrency int
	// LogBody, if set, makes the JSON (before gzip) of log file i of hour
	// h, delivered at at, instead of three generic GetObject records.
	LogBody func(at time.Time, h, i int) []byte
}

// Written is what Write produced.
type Written struct {
	Digests  []string // digest keys, in order
	Backfill []string
	Logs     []string
	Keys     []cloudtrail.PublicKey
}

// Write generates and uploads the trail.
func Write(ctx context.Context, p Putter, t Trail) (*Written, error) {
	if t.Concurrency == 0 {
		t.Concurrency = 16
	}
	if t.HomeRegion == "" {
		t.HomeRegion = t.Region
	}
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der := func(k *rsa.PrivateKey) []byte {
		if t.SPKI {
			b, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
			return b
		}
		return x509.MarshalPKCS1PublicKey(&k.PublicKey)
	}
	rotate := t.Start.Add(time.Duration(t.RotateAt) * time.Hour)
	w := &Written{}
	pk1, _ := cloudtrail.NewPublicKey(der(k1), "", t.Start.Add(-24*time.Hour), time.Time{})
	if t.RotateAt > 0 {
		pk1.ValidityEnd = rotate
		pk2, _ := cloudtrail.NewPublicKey(der(k2), "", rotate, time.Time{})
		w.Keys = append(w.Keys, pk1, pk2)
	} else {
		w.Keys = append(w.Keys, pk1)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.Concurrency)
	put := func(key string, body []byte, meta map[string]string) {
		g.Go(func() error {
			_, err := p.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(key), Body: bytes.NewReader(body), Metadata: meta})
			if err != nil {
				return fmt.Errorf("put %s: %w", key, err)
			}
			return nil
		})
	}
	var prev *cloudtrail.Digest
	var prevSHA, prevSig string
	for h := 0; h < t.Hours; h++ {
		start := t.Start.Add(time.Duration(h) * time.Hour)
		end := start.Add(time.Hour)
		var logs []cloudtrail.LogFile
		if t.LogsPerHour > 0 && !t.EmptyHours[h] {
			for i := 0; i < t.LogsPerHour; i++ {
				key, body, sum := logFile(t, start.Add(time.Duration(i)*time.Minute), h, i)
				put(key, body, nil)
				w.Logs = append(w.Logs, key)
				logs = append(logs, cloudtrail.LogFile{S3Bucket: t.Bucket, S3Object: key, HashValue: sum, HashAlgorithm: "SHA-256",
					NewestEventTime: start.Add(50 * time.Minute).Format(time.RFC3339), OldestEventTime: start.Format(time.RFC3339)})
			}
		}
		signer := k1
		if t.RotateAt > 0 && !end.Before(rotate) {
			signer = k2
		}
		name := cloudtrail.DigestKey{Prefix: t.Prefix, OrgID: t.OrgID, Account: t.Account, Region: t.Region, Trail: t.Name, HomeRegion: t.HomeRegion, Time: end.Add(7 * time.Minute)}
		d := &cloudtrail.Digest{
			AWSAccountID: t.Account, DigestStartTime: start.Format(time.RFC3339), DigestEndTime: end.Format(time.RFC3339),
			DigestS3Bucket: t.Bucket, DigestS3Object: name.String(), DigestPublicKeyFingerprint: cloudtrail.Fingerprint(x509.MarshalPKCS1PublicKey(&signer.PublicKey)),
			DigestSignatureAlgorithm: "SHA256withRSA", LogFiles: logs,
		}
		if logs == nil {
			d.LogFiles = []cloudtrail.LogFile{}
		}
		if prev != nil && !t.RestartAt[h] {
			d.PreviousDigestS3Bucket, d.PreviousDigestS3Object = aws.String(prev.DigestS3Bucket), aws.String(prev.DigestS3Object)
			d.PreviousDigestHashValue, d.PreviousDigestHashAlgorithm = aws.String(prevSHA), aws.String("SHA-256")
			d.PreviousDigestSignature = aws.String(prevSig)
			if t.BadLinkAt[h] {
				d.PreviousDigestHashValue = aws.String(strings.Repeat("0", 64))
				d.PreviousDigestSignature = aws.String(strings.Repeat("ab", 256))
			}
		}
		body, sha, sig, err := signDigest(d, signer)
		if err != nil {
			return nil, err
		}
		put(name.String(), body, map[string]string{"signature": sig, "signature-algorithm": "SHA256withRSA"})
		w.Digests = append(w.Digests, name.String())
		prev, prevSHA, prevSig = d, sha, sig

		if t.Backfill[h] {
			bname := name
			bname.Backfill, bname.Time = true, name.Time.Add(3*time.Hour)
			bd := *d
			bd.DigestS3Object = bname.String()
			bd.PreviousDigestS3Bucket, bd.PreviousDigestS3Object, bd.PreviousDigestHashValue, bd.PreviousDigestHashAlgorithm, bd.PreviousDigestSignature = nil, nil, nil, nil, nil
			bbody, _, bsig, err := signDigest(&bd, signer)
			if err != nil {
				return nil, err
			}
			put(bname.String(), bbody, map[string]string{"signature": bsig, "signature-algorithm": "SHA256withRSA"})
			w.Backfill = append(w.Backfill, bname.String())
		}
	}
	return w, g.Wait()
}

// signDigest gzips the digest and signs it as CloudTrail does.
func signDigest(d *cloudtrail.Digest, k *rsa.PrivateKey) (gz []byte, sha, sig string, err error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, "", "", err
	}
	sum := sha256.Sum256(raw)
	sha = hex.EncodeToString(sum[:])
	h := sha256.Sum256([]byte(d.SigningString(sha)))
	s, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
	if err != nil {
		return nil, "", "", err
	}
	return Gzip(raw), sha, hex.EncodeToString(s), nil
}

// logFile makes one gzipped log file with a few events.
func logFile(t Trail, at time.Time, h, i int) (key string, gz []byte, sha string) {
	type event struct {
		EventVersion string `json:"eventVersion"`
		EventTime    string `json:"eventTime"`
		EventSource  string `json:"eventSource"`
		EventName    string `json:"eventName"`
		AWSRegion    string `json:"awsRegion"`
		RequestID    string `json:"requestID"`
		Resources    []any  `json:"resources"`
	}
	var recs struct {
		Records []event `json:"Records"`
	}
	for j := 0; j < 3; j++ {
		recs.Records = append(recs.Records, event{"1.08", at.Add(time.Duration(j) * time.Second).Format(time.RFC3339), "s3.amazonaws.com", "GetObject", t.Region, fmt.Sprintf("REQ%04d%02d%02d", h, i, j), []any{}})
	}
	raw, _ := json.Marshal(recs)
	if t.LogBody != nil {
		raw = t.LogBody(at, h, i)
	}
	sum := sha256.Sum256(raw)
	base := "AWSLogs/"
	if t.Prefix != "" {
		base = t.Prefix + "/" + base
	}
	if t.OrgID != "" {
		base += t.OrgID + "/"
	}
	key = fmt.Sprintf("%s%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%08x.json.gz", base, t.Account, t.Region, at.UTC().Format("2006/01/02"),
		t.Account, t.Region, at.UTC().Format("20060102T1504Z"), h*1000+i)
	return key, Gzip(raw), hex.EncodeToString(sum[:])
}

// Gzip compresses b as one gzip member.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b) // into memory: cannot fail
	_ = zw.Close()
	return buf.Bytes()
}
