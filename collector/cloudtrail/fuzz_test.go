package cloudtrail

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
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/testaws"
)

// countWriter counts and hashes what it is given, keeping none of it.
type countWriter struct {
	n int64
	h hash.Hash
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	c.h.Write(p)
	return len(p), nil
}

// gunzipRef is the reference reading of one gzip member: its bytes (at
// most limit+1 of them), whether more bytes follow it, and any error.
func gunzipRef(b []byte, limit int64) (out []byte, trailing bool, err error) {
	r := bytes.NewReader(b)
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, false, err
	}
	zr.Multistream(false)
	out, err = io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil || int64(len(out)) > limit {
		return out, false, err
	}
	// The member must end here: read past it to see the trailer checked.
	if _, err := zr.Read(make([]byte, 1)); err != nil && !errors.Is(err, io.EOF) {
		return out, false, err
	}
	return out, r.Len() > 0, nil
}

// gzipBomb is the gzip of size zero bytes: about 1/1000 of it.
func gzipBomb(size int64) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = io.CopyN(zw, zeroReader{}, size) // into memory: cannot fail
	zw.Close()
	return buf.Bytes()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// gunzipSeeds are real shapes of what a trail's bucket holds, and ways
// it can be broken.
func gunzipSeeds() [][]byte {
	log := []byte(`{"Records":[{"eventVersion":"1.09","eventTime":"2026-11-20T00:10:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject"}]}`)
	one := testaws.Gzip(log)
	named := func() []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Name, zw.Comment, zw.Extra = "log.json", "a comment", []byte("xx\x02\x00ab")
		_, _ = zw.Write(log)
		zw.Close()
		return buf.Bytes()
	}()
	stored := func() []byte {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.NoCompression)
		_, _ = zw.Write(log)
		zw.Close()
		return buf.Bytes()
	}()
	badCRC := bytes.Clone(one)
	badCRC[len(badCRC)-5] ^= 0xff
	badSize := bytes.Clone(one)
	badSize[len(badSize)-1] ^= 0x01
	return [][]byte{
		one, named, stored, testaws.Gzip(nil),
		append(bytes.Clone(one), one...),               // two members
		append(bytes.Clone(one), 0),                    // one trailing byte
		append(bytes.Clone(one), "\n\n"...),            // trailing newlines
		append(bytes.Clone(one), testaws.Gzip(nil)...), // an empty second member
		one[:10], one[:len(one)/2], one[:len(one)-4], // truncated
		badCRC, badSize,
		[]byte("\x1f\x8b"), []byte("plain text"), nil,
	}
}

// FuzzGunzip: one gzip member, at most limit bytes, nothing after it;
// everything else ends in an error, and no input makes Gunzip hold the
// inflated bytes (a bomb costs the copy buffer, not its size).
func FuzzGunzip(f *testing.F) {
	for _, s := range gunzipSeeds() {
		f.Add(s, uint32(64<<10))
	}
	f.Add(gzipBomb(1<<20+1), uint32(1<<20)) // one byte over the largest limit fuzzed
	f.Add(gzipBomb(64<<10+1), uint32(64<<10))
	f.Add(testaws.Gzip([]byte("12345")), uint32(5))
	f.Add(testaws.Gzip([]byte("123456")), uint32(5))
	f.Add(testaws.Gzip(nil), uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, limit32 uint32) {
		limit := int64(limit32 % (1<<20 + 1))
		w := &countWriter{h: sha256.New()}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		n, err := Gunzip(w, bytes.NewReader(b), limit)
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<10 {
			t.Fatalf("Gunzip allocated %d bytes for %d bytes of input (limit %d)", grew, len(b), limit)
		}
		if n != w.n {
			t.Fatalf("Gunzip reports %d bytes, wrote %d", n, w.n)
		}
		if w.n > limit+1 {
			t.Fatalf("Gunzip wrote %d bytes, limit %d", w.n, limit)
		}
		ref, trailing, rerr := gunzipRef(b, limit)
		switch {
		case err == nil:
			if rerr != nil || trailing || int64(len(ref)) > limit {
				t.Fatalf("Gunzip accepted what the reference reads as %d bytes, trailing %v, %v", len(ref), trailing, rerr)
			}
			if sum := sha256.Sum256(ref); n != int64(len(ref)) || !bytes.Equal(w.h.Sum(nil), sum[:]) {
				t.Fatalf("Gunzip wrote other bytes than the reference (%d vs %d)", n, len(ref))
			}
		case rerr == nil && int64(len(ref)) > limit:
			if !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes uncompressed", limit)) {
				t.Fatalf("a stream inflating past %d bytes: %v", limit, err)
			}
		case rerr == nil && trailing:
			if !errors.Is(err, ErrTrailingData) {
				t.Fatalf("data after the member: %v", err)
			}
		case rerr == nil:
			t.Fatalf("Gunzip refused a member the reference reads: %v", err)
		}
	})
}

// TestGunzipBombs: digests and log files past their real limits end in
// a clear error, reading no further than the limit.
func TestGunzipBombs(t *testing.T) {
	bomb := gzipBomb(maxDigestSize + 1) // 64 MiB of zeros in about 64 KiB
	start := time.Now()
	if _, _, err := ParseDigest(bomb); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes", maxDigestSize)) {
		t.Fatalf("a digest inflating past %d bytes: %v", maxDigestSize, err)
	}
	w := &countWriter{h: sha256.New()}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Gunzip(w, bytes.NewReader(bomb), 16<<20)
	runtime.ReadMemStats(&after)
	if err == nil || w.n != 16<<20+1 {
		t.Fatalf("16 MiB limit: wrote %d, %v", w.n, err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("Gunzip allocated %d bytes on a bomb", grew)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("bombs took %v", d)
	}
}

// memSource is a trail's bucket in memory.
type memSource map[string]memObject

type memObject struct {
	body []byte
	meta map[string]string
}

func (m memSource) List(_ context.Context, prefix string, fn func(string) error) error {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

func (m memSource) Get(_ context.Context, key string) (io.ReadCloser, map[string]string, error) {
	o, ok := m[key]
	if !ok {
		return nil, nil, ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(o.body)), o.meta, nil
}

// FuzzLogFile: a log file validates only if it is exactly one gzip member
// whose uncompressed bytes hash to what the digest lists; anything else is
// one finding naming the file.
func FuzzLogFile(f *testing.F) {
	for _, s := range gunzipSeeds() {
		f.Add(s, "", true)
	}
	f.Add(testaws.Gzip([]byte("{}")), strings.Repeat("0", 64), false)
	f.Add(testaws.Gzip([]byte("{}")), "44136FA355B3678A1146AD16F7E8649E94FB4FC21FE77E8310C060F61CAAFF8A", false) // upper-case hex of "{}"
	f.Add(gzipBomb(8<<20), "", true)
	f.Fuzz(func(t *testing.T, b []byte, want string, wantRef bool) {
		ref, trailing, rerr := gunzipRef(b, maxLogFileSize)
		if wantRef && rerr == nil {
			sum := sha256.Sum256(ref)
			want = hex.EncodeToString(sum[:])
		}
		const key = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/20/123456789012_CloudTrail_us-east-1_20261120T0005Z_a.json.gz"
		src := memSource{key: {body: b}}
		rec := &digestRecord{key: "the-digest"}
		lf := LogFile{S3Bucket: "trail", S3Object: key, HashValue: want, HashAlgorithm: "SHA-256"}
		n, fs := checkLogFile(context.Background(), src, rec, lf)
		sum := sha256.Sum256(ref)
		good := rerr == nil && !trailing && strings.EqualFold(hex.EncodeToString(sum[:]), want)
		if good != (len(fs) == 0) || len(fs) > 1 {
			t.Fatalf("reference good=%v (err %v, trailing %v), findings %v", good, rerr, trailing, fs)
		}
		if good && n != int64(len(ref)) {
			t.Fatalf("hashed %d bytes, the file has %d", n, len(ref))
		}
		for _, x := range fs {
			if x.Object != "s3://trail/"+key || x.Message == "" || x.Remedy == "" || x.Severity != finding.Failure ||
				(x.Kind != "log-malformed" && x.Kind != "log-hash-mismatch") {
				t.Fatalf("unclear finding %+v", x)
			}
		}

		// Hashed on the way as the collector copies it (a Summer), the
		// file passes through unchanged, and validation from that sum
		// finds exactly what reading the file found.
		s := NewSummer(bytes.NewReader(b))
		copied, err := io.ReadAll(s)
		if err != nil || !bytes.Equal(copied, b) {
			t.Fatalf("a Summer changed the bytes (%v)", err)
		}
		ls, ok := s.Sum(nil)
		if !ok {
			t.Fatal("no sum after a clean read")
		}
		n2, fs2 := checkLogFile(context.Background(), summedMem{memSource{}, map[string]LogSum{key: ls}}, rec, lf)
		if n2 != n || len(fs2) != len(fs) || (len(fs) == 1 && (fs2[0].Kind != fs[0].Kind || fs2[0].Message != fs[0].Message)) {
			t.Fatalf("from the sum: %d bytes, %v; read: %d bytes, %v", n2, fs2, n, fs)
		}
	})
}

// summedMem is a SummedSource whose log files were hashed on the way.
type summedMem struct {
	memSource
	sums map[string]LogSum
}

func (s summedMem) LogSum(key string) (LogSum, bool) { sum, ok := s.sums[key]; return sum, ok }

// validateFixture is a two-hour trail in memory, signed with a real key:
// the first digest starts the chain, the second (the fuzzed one) links to
// it and lists one log file.
type validateFixture struct {
	key               *rsa.PrivateKey
	pub               PublicKey
	digest1, digest2  string // keys
	log               string
	body1, sig1       []byte // pristine digest 1 (uncompressed) and its signature
	body2             []byte // pristine digest 2
	sig2              string
	logGz             []byte
	start, end, clock time.Time
}

var (
	fixtureOnce sync.Once
	fixture     *validateFixture
)

func newValidateFixture(tb testing.TB) *validateFixture {
	fixtureOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			tb.Fatal(err)
		}
		t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
		der := x509.MarshalPKCS1PublicKey(&k.PublicKey)
		pub, err := NewPublicKey(der, "", t0.AddDate(0, -1, 0), time.Time{})
		if err != nil {
			tb.Fatal(err)
		}
		fx := &validateFixture{key: k, pub: pub, start: t0, end: t0.Add(2 * time.Hour), clock: t0.Add(4 * time.Hour)}
		dk := func(h int) string {
			return DigestKey{Account: "123456789012", Region: "us-east-1", Trail: "main", HomeRegion: "us-east-1", Time: t0.Add(time.Duration(h)*time.Hour + 5*time.Minute)}.String()
		}
		fx.digest1, fx.digest2 = dk(1), dk(2)
		fx.log = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/20/123456789012_CloudTrail_us-east-1_20261120T0105Z_abc.json.gz"
		logJSON := []byte(`{"Records":[{"eventTime":"2026-11-20T01:10:00Z","eventName":"PutBucketPolicy"}]}`)
		fx.logGz = testaws.Gzip(logJSON)
		logSum := sha256.Sum256(logJSON)
		d1 := Digest{AWSAccountID: "123456789012", DigestStartTime: "2026-11-20T00:00:00Z", DigestEndTime: "2026-11-20T01:00:00Z",
			DigestS3Bucket: "trail", DigestS3Object: fx.digest1, DigestPublicKeyFingerprint: pub.Fingerprint, DigestSignatureAlgorithm: signatureAlgorithm,
			LogFiles: []LogFile{}}
		var sig1 string
		fx.body1, sig1 = signFixture(tb, k, &d1)
		fx.sig1 = []byte(sig1)
		sum1 := sha256.Sum256(fx.body1)
		prevHash, prevAlg, prevBucket := hex.EncodeToString(sum1[:]), "SHA-256", "trail"
		d2 := Digest{AWSAccountID: "123456789012", DigestStartTime: "2026-11-20T01:00:00Z", DigestEndTime: "2026-11-20T02:00:00Z",
			DigestS3Bucket: "trail", DigestS3Object: fx.digest2, DigestPublicKeyFingerprint: pub.Fingerprint, DigestSignatureAlgorithm: signatureAlgorithm,
			PreviousDigestS3Bucket: &prevBucket, PreviousDigestS3Object: &fx.digest1, PreviousDigestHashValue: &prevHash,
			PreviousDigestHashAlgorithm: &prevAlg, PreviousDigestSignature: &sig1,
			LogFiles: []LogFile{{S3Bucket: "trail", S3Object: fx.log, HashValue: hex.EncodeToString(logSum[:]), HashAlgorithm: "SHA-256",
				NewestEventTime: "2026-11-20T01:10:00Z", OldestEventTime: "2026-11-20T01:10:00Z"}}}
		fx.body2, fx.sig2 = signFixture(tb, k, &d2)
		fixture = fx
	})
	if fixture == nil {
		tb.Fatal("no fixture")
	}
	return fixture
}

func signFixture(tb testing.TB, k *rsa.PrivateKey, d *Digest) ([]byte, string) {
	body, err := json.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(body)
	h := sha256.Sum256([]byte(d.SigningString(hex.EncodeToString(sum[:]))))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
	if err != nil {
		tb.Fatal(err)
	}
	return body, hex.EncodeToString(sig)
}

// FuzzValidate: whatever the second hour's digest (its JSON, its
// signature metadata) and its log file, Validate ends in a result with
// a bounded number of clear findings, the same on every run, and accepts
// the digest's signature only for the bytes that were signed.
func FuzzValidate(f *testing.F) {
	fx := newValidateFixture(f)
	f.Add(fx.body2, fx.sig2, fx.logGz)
	f.Add(fx.body2, strings.ToUpper(fx.sig2), fx.logGz)
	f.Add(fx.body2, fx.sig2, append(bytes.Clone(fx.logGz), 0))
	f.Add(bytes.Replace(fx.body2, []byte("PutBucketPolicy"), []byte("x"), 1), fx.sig2, fx.logGz)
	f.Add(bytes.Replace(fx.body2, []byte(`"2026-11-20T01:00:00Z"`), []byte(`"0001-01-01T00:00:00Z"`), 1), fx.sig2, fx.logGz)
	f.Add(bytes.Replace(fx.body2, []byte(`"2026-11-20T01:00:00Z"`), []byte(`"9999-12-31T23:59:59Z"`), 1), fx.sig2, fx.logGz)
	f.Add(bytes.Replace(fx.body2, []byte(`"2026-11-20T02:00:00Z"`), []byte(`"0001-01-01T00:00:00Z"`), 1), fx.sig2, fx.logGz)
	f.Add([]byte(`{"previousDigestS3Object":"elsewhere","digestStartTime":"2026-11-20T01:00:00Z","digestEndTime":"2026-11-20T02:00:00Z","logFiles":[{"s3Object":"x","hashAlgorithm":"SHA-256"}]}`), "00", []byte(nil))
	f.Add([]byte(`{}`), "", []byte(nil))
	f.Fuzz(func(t *testing.T, body2 []byte, sig2 string, logGz []byte) {
		pristine := bytes.Equal(body2, fx.body2)
		src := memSource{
			fx.digest1: {body: testaws.Gzip(fx.body1), meta: map[string]string{"signature": string(fx.sig1), "signature-algorithm": signatureAlgorithm}},
			fx.digest2: {body: testaws.Gzip(body2), meta: map[string]string{"signature": sig2, "signature-algorithm": signatureAlgorithm}},
			fx.log:     {body: logGz},
		}
		o := Options{Bucket: "trail", Account: "123456789012", Region: "us-east-1", Trail: "main", Start: fx.start, End: fx.end,
			Keys: []PublicKey{fx.pub}, Concurrency: 1, Now: func() time.Time { return fx.clock }}
		res, err := Validate(context.Background(), src, o)
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		again, _ := Validate(context.Background(), src, o)
		j1, _ := json.Marshal(res)
		j2, _ := json.Marshal(again)
		if !bytes.Equal(j1, j2) {
			t.Fatalf("two runs differ:\n%s\n%s", j1, j2)
		}
		if res.Checked.Digests != 2 || res.OK != (res.Findings.Failures() == 0) {
			t.Fatalf("checked %+v, ok %v with %d failures", res.Checked, res.OK, res.Findings.Failures())
		}
		var d2 Digest
		logs := 0
		if json.Unmarshal(body2, &d2) == nil {
			logs = len(d2.LogFiles)
		}
		// Per digest at most a few findings, per log file one, and one per
		// missing hour of the window (a few hours, with the delivery delay).
		if limit := 16 + logs; len(res.Findings) > limit {
			t.Fatalf("%d findings for a two-hour window and %d log files (at most %d): first %+v", len(res.Findings), logs, limit, res.Findings[0])
		}
		obj2 := o.object(fx.digest2)
		signed := true
		for i, x := range res.Findings {
			if x.Kind == "" || x.Object == "" || x.Message == "" {
				t.Fatalf("unclear finding %+v", x)
			}
			if i > 0 && x.Severity == res.Findings[i-1].Severity && x.Object < res.Findings[i-1].Object {
				t.Fatalf("findings out of order at %d", i)
			}
			if x.Object == obj2 {
				switch x.Kind {
				case "digest-malformed", "digest-unreadable", "digest-signature-invalid", "digest-signature-missing", "digest-key-unknown":
					signed = false
				}
			}
		}
		if signed && !pristine {
			t.Fatalf("a digest that was never signed passed its signature check: %q", body2)
		}
		if pristine && strings.EqualFold(sig2, fx.sig2) && bytes.Equal(logGz, fx.logGz) && !res.OK {
			t.Fatalf("the pristine trail fails: %+v", res.Findings)
		}
	})
}

// offlineS3 answers every request of an S3 client with status 200 and
// body (with a digest's signature header), counting them: no network, the
// bytes go through the SDK's own deserializers.
func offlineS3(body []byte, calls *atomic.Int64) *s3.Client {
	return testaws.OfflineS3(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		resp := testaws.Reply(200, "application/xml", body)
		resp.Header.Set("X-Amz-Meta-Signature", "00ff")
		return resp, nil
	})
}

// digestListing is a ListObjectsV2 answer for a trail's digest folder.
func digestListing(truncated bool, extra string) string {
	k := DigestKey{Account: "123456789012", Region: "us-east-1", Trail: "main", HomeRegion: "us-east-1", Time: time.Date(2026, 11, 20, 1, 5, 0, 0, time.UTC)}
	other := k
	other.Trail = "other"
	return `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>trail</Name><IsTruncated>` + strconv.FormatBool(truncated) + `</IsTruncated>` + extra +
		`<Contents><Key>` + k.String() + `</Key><LastModified>2026-11-20T01:06:00.000Z</LastModified><Size>512</Size></Contents>` +
		`<Contents><Key>` + other.String() + `</Key></Contents><Contents><Key>AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/20/x.json.gz</Key></Contents></ListBucketResult>`
}

// FuzzBucketSource: a trail bucket's listing, through the SDK, ends (a
// repeated or missing continuation token is an error naming the bucket,
// not a loop), and ListDigests keeps only this trail's digests, in the
// window, in order, each exactly as listed; an object reads back as sent.
func FuzzBucketSource(f *testing.F) {
	f.Add([]byte(digestListing(false, "")))
	f.Add([]byte(digestListing(true, "<NextContinuationToken>t</NextContinuationToken>")))
	f.Add([]byte(digestListing(true, "")))
	f.Add([]byte(`<Error><Code>NoSuchBucket</Code><Message>no</Message></Error>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var calls atomic.Int64
		src := BucketSource{API: offlineS3(body, &calls), Bucket: "trail"}
		ctx := context.Background()
		listed := map[string]bool{}
		err := src.List(ctx, "AWSLogs/", func(k string) error { listed[k] = true; return nil })
		if calls.Load() > 100 {
			t.Fatalf("%d ListObjectsV2 calls for one listing", calls.Load())
		}
		if err != nil && !strings.Contains(err.Error(), "s3://trail/") {
			t.Fatalf("an error that does not name the bucket: %v", err)
		}
		o := Options{Account: "123456789012", Region: "us-east-1", Trail: "main", Start: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)}
		o.End = o.Start.Add(3 * time.Hour)
		calls.Store(0)
		keys, err := ListDigests(ctx, src, o)
		if calls.Load() > 100 {
			t.Fatalf("%d ListObjectsV2 calls for one day's digests", calls.Load())
		}
		if err == nil {
			for i, k := range keys {
				if k.Trail != o.Trail || k.Account != o.Account || k.Region != o.Region || k.Time.Before(o.Start) || k.Time.After(o.End.Add(2*time.Hour)) ||
					(i > 0 && k.Time.Before(keys[i-1].Time)) {
					t.Fatalf("digest %d %+v: not this trail's, not in the window, or out of order", i, k)
				}
				if err := src.List(ctx, k.String(), func(string) error { return nil }); err != nil {
					t.Fatalf("listed once, not twice: %v", err)
				}
			}
		}
		rc, meta, err := src.Get(ctx, "AWSLogs/x.json.gz")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, body) || meta["signature"] != "00ff" {
			t.Fatalf("Get returns %d bytes of %d, metadata %v, %v", len(got), len(body), meta, err)
		}
	})
}
