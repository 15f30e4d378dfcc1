// Package cloudtrail validates CloudTrail's own evidence: the signed,
// hourly digest files that chain to each other and list the SHA-256 of
// every log file, exactly as CloudTrail defines them. It is what `aws
// cloudtrail validate-logs` does, but over any bucket that holds the files
// (the original, a copy in the evidence store, an export) and offline.
package cloudtrail

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Digest is a CloudTrail digest file.
type Digest struct {
	AWSAccountID                string    `json:"awsAccountId"`
	DigestStartTime             string    `json:"digestStartTime"`
	DigestEndTime               string    `json:"digestEndTime"`
	DigestS3Bucket              string    `json:"digestS3Bucket"`
	DigestS3Object              string    `json:"digestS3Object"`
	DigestPublicKeyFingerprint  string    `json:"digestPublicKeyFingerprint"`
	DigestSignatureAlgorithm    string    `json:"digestSignatureAlgorithm"`
	NewestEventTime             *string   `json:"newestEventTime"`
	OldestEventTime             *string   `json:"oldestEventTime"`
	PreviousDigestS3Bucket      *string   `json:"previousDigestS3Bucket"`
	PreviousDigestS3Object      *string   `json:"previousDigestS3Object"`
	PreviousDigestHashValue     *string   `json:"previousDigestHashValue"`
	PreviousDigestHashAlgorithm *string   `json:"previousDigestHashAlgorithm"`
	PreviousDigestSignature     *string   `json:"previousDigestSignature"`
	LogFiles                    []LogFile `json:"logFiles"`
}

// LogFile is one log file a digest covers.
type LogFile struct {
	S3Bucket        string `json:"s3Bucket"`
	S3Object        string `json:"s3Object"`
	HashValue       string `json:"hashValue"`
	HashAlgorithm   string `json:"hashAlgorithm"`
	NewestEventTime string `json:"newestEventTime"`
	OldestEventTime string `json:"oldestEventTime"`
}

// First reports whether the digest starts a chain (all previous fields null).
func (d *Digest) First() bool {
	return d.PreviousDigestSignature == nil && d.PreviousDigestHashValue == nil && d.PreviousDigestS3Object == nil
}

// Times parses the digest's start and end times.
func (d *Digest) Times() (start, end time.Time, err error) {
	if start, err = time.Parse(time.RFC3339, d.DigestStartTime); err != nil {
		return start, end, fmt.Errorf("digestStartTime %q: %w", d.DigestStartTime, err)
	}
	if end, err = time.Parse(time.RFC3339, d.DigestEndTime); err != nil {
		return start, end, fmt.Errorf("digestEndTime %q: %w", d.DigestEndTime, err)
	}
	return start, end, nil
}

// SigningString is what CloudTrail signs for a digest: its end time, its
// own location, the hex SHA-256 of its uncompressed content and the
// previous digest's signature ("null" for the first of a chain).
func (d *Digest) SigningString(uncompressedSHA256 string) string {
	prev := "null"
	if d.PreviousDigestSignature != nil {
		prev = *d.PreviousDigestSignature
	}
	return d.DigestEndTime + "\n" + d.DigestS3Bucket + "/" + d.DigestS3Object + "\n" + uncompressedSHA256 + "\n" + prev
}

// Limits on what is decompressed, against gzip bombs.
const (
	maxDigestSize  = 64 << 20
	maxLogFileSize = 8 << 30
)

// gzipReaders are gzip readers to reuse.
var gzipReaders sync.Pool

// ErrTrailingData means bytes follow the gzip stream.
var ErrTrailingData = errors.New("data after the end of the gzip stream")

// Gunzip decompresses one gzip member from r into w, at most limit bytes,
// and fails on anything after it. It returns the uncompressed size.
func Gunzip(w io.Writer, r io.Reader, limit int64) (int64, error) {
	br := bufio.NewReader(r) // a ByteReader: gzip stops exactly at its member's end
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(br)
	} else {
		err = zr.Reset(br)
	}
	if err != nil {
		return 0, fmt.Errorf("not gzip: %w", err)
	}
	// A reader is reused only after a clean Reset: its decompressor (tens
	// of KiB) is what a backfill of thousands of log files would allocate.
	defer gzipReaders.Put(zr)
	zr.Multistream(false)
	n, err := io.Copy(w, io.LimitReader(zr, limit+1))
	if err != nil {
		return n, fmt.Errorf("gzip: %w", err)
	}
	if n > limit {
		return n, fmt.Errorf("more than %d bytes uncompressed", limit)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		return n, ErrTrailingData
	}
	return n, nil
}

// ParseDigest decompresses and parses a digest file, returning it with the
// hex SHA-256 of its uncompressed bytes.
func ParseDigest(gz []byte) (*Digest, string, error) {
	var raw bytes.Buffer
	if _, err := Gunzip(&raw, bytes.NewReader(gz), maxDigestSize); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(raw.Bytes())
	var d Digest
	dec := json.NewDecoder(&raw)
	if err := dec.Decode(&d); err != nil {
		return nil, "", fmt.Errorf("digest JSON: %w", err)
	}
	if dec.More() {
		return nil, "", errors.New("digest JSON: more than one value")
	}
	return &d, hex.EncodeToString(sum[:]), nil
}

// DigestKey is the location of a digest file within a trail's bucket.
type DigestKey struct {
	Prefix     string // the trail's S3 key prefix, "" for none
	OrgID      string // for organization trails
	Account    string
	Region     string
	Trail      string
	HomeRegion string
	Time       time.Time // the timestamp in the file name
	Backfill   bool
}

var digestKeyRE = regexp.MustCompile(`^(?:(.+)/)?AWSLogs/(?:(o-[a-z0-9]{10,32})/)?(\d{12})/CloudTrail-Digest/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/(\d{12})_CloudTrail-Digest_([a-z0-9-]+)_(.+)_([a-z0-9-]+)_(\d{8}T\d{6}Z)(_backfill)?\.json\.gz$`)

// ParseDigestKey reads a digest key; ok is false for anything else.
func ParseDigestKey(key string) (DigestKey, bool) {
	m := digestKeyRE.FindStringSubmatch(key)
	if m == nil {
		return DigestKey{}, false
	}
	t, err := time.Parse("20060102T150405Z", m[12])
	if err != nil || m[3] != m[8] || m[4] != m[9] {
		return DigestKey{}, false
	}
	if t.Format("2006/01/02") != m[5]+"/"+m[6]+"/"+m[7] {
		return DigestKey{}, false
	}
	return DigestKey{Prefix: m[1], OrgID: m[2], Account: m[3], Region: m[4], Trail: m[10], HomeRegion: m[11], Time: t, Backfill: m[13] != ""}, true
}

// String renders the key.
func (k DigestKey) String() string {
	var b strings.Builder
	if k.Prefix != "" {
		b.WriteString(k.Prefix + "/")
	}
	b.WriteString("AWSLogs/")
	if k.OrgID != "" {
		b.WriteString(k.OrgID + "/")
	}
	t := k.Time.UTC()
	fmt.Fprintf(&b, "%s/CloudTrail-Digest/%s/%s/%s_CloudTrail-Digest_%s_%s_%s_%s", k.Account, k.Region, t.Format("2006/01/02"),
		k.Account, k.Region, k.Trail, k.HomeRegion, t.Format("20060102T150405Z"))
	if k.Backfill {
		b.WriteString("_backfill")
	}
	b.WriteString(".json.gz")
	return b.String()
}

// DigestPrefix is the key prefix of a trail's digests for one account,
// region and day.
func DigestPrefix(prefix, orgID, account, region string, day time.Time) string {
	k := DigestKey{Prefix: prefix, OrgID: orgID, Account: account, Region: region, Time: day}
	s := k.String()
	return s[:strings.Index(s, day.UTC().Format("2006/01/02"))+len("2006/01/02/")]
}
