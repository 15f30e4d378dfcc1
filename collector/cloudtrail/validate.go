package cloudtrail

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/workers"
)

// Source is where the trail's files are read from. Keys are the files'
// original keys; a source holding copies maps them.
type Source interface {
	// List calls fn with every key under prefix.
	List(ctx context.Context, prefix string, fn func(key string) error) error
	// Get returns an object's bytes and its user metadata (lower-case
	// names without x-amz-meta-). A missing object is ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, map[string]string, error)
}

// ErrNotFound means an object is not in the source.
var ErrNotFound = errors.New("object not found")

// Options say which trail, where and when to validate.
type Options struct {
	Bucket      string // the bucket the digests must name (the trail's bucket)
	Prefix      string // the trail's S3 key prefix
	OrgID       string // for organization trails
	Account     string
	Region      string
	Trail       string
	Start, End  time.Time
	Keys        []PublicKey
	Concurrency int
	// Now is the clock (required by Validate): an hour's digest is
	// expected once deliveryGrace has passed since the hour ended.
	Now func() time.Time
}

// deliveryGrace is how long CloudTrail may take to deliver a digest.
const deliveryGrace = time.Hour

// Result is what Validate found.
type Result struct {
	OK       bool             `json:"ok"`
	Checked  Checked          `json:"checked"`
	Findings finding.Findings `json:"findings"`
}

// Checked counts what was validated.
type Checked struct {
	Digests  int   `json:"digests"`
	LogFiles int   `json:"logFiles"`
	Bytes    int64 `json:"bytes"` // uncompressed log bytes hashed
	Chains   int   `json:"chains"`
}

const signatureAlgorithm = "SHA256withRSA"

type digestRecord struct {
	key        string
	name       DigestKey
	d          *Digest
	sha        string // of the uncompressed digest
	signature  string // hex, from the object's metadata
	start, end time.Time
	valid      bool
}

// Validate checks a trail's digests and log files between Start and End
// exactly as CloudTrail defines them, collecting every finding. An error
// means the source could not be listed.
func Validate(ctx context.Context, src Source, o Options) (*Result, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.Now == nil {
		return nil, errors.New("validate trail: no clock (Options.Now is nil)")
	}
	if !o.End.After(o.Start) {
		return nil, fmt.Errorf("the end %s is not after the start %s", o.End.Format(time.RFC3339), o.Start.Format(time.RFC3339))
	}
	res := &Result{Findings: finding.Findings{}}
	keys, err := ListDigests(ctx, src, o)
	if err != nil {
		return nil, err
	}
	records := make([]*digestRecord, len(keys))
	var mu sync.Mutex
	add := func(fs finding.Findings) {
		mu.Lock()
		res.Findings = append(res.Findings, fs...)
		mu.Unlock()
	}
	workers.Each(len(keys), o.Concurrency, func(i int) {
		rec, fs := checkDigest(ctx, src, o, keys[i])
		records[i] = rec
		add(fs)
	})
	res.Checked.Digests = len(keys)

	res.Checked.Chains = checkChain(o, records, &res.Findings)

	type logJob struct {
		r  *digestRecord
		lf LogFile
	}
	var jobs []logJob
	for _, r := range records {
		if r == nil || r.d == nil {
			continue
		}
		for _, lf := range r.d.LogFiles {
			jobs = append(jobs, logJob{r, lf})
		}
	}
	var bytesHashed int64
	workers.Each(len(jobs), o.Concurrency, func(i int) {
		n, fs := checkLogFile(ctx, src, jobs[i].r, jobs[i].lf)
		mu.Lock()
		bytesHashed += n
		res.Findings = append(res.Findings, fs...)
		mu.Unlock()
	})
	res.Checked.LogFiles, res.Checked.Bytes = len(jobs), bytesHashed
	sort.SliceStable(res.Findings, func(i, j int) bool {
		if res.Findings[i].Severity != res.Findings[j].Severity {
			return res.Findings[i].Severity == finding.Failure
		}
		return res.Findings[i].Object < res.Findings[j].Object
	})
	res.OK = res.Findings.Failures() == 0
	return res, nil
}

// ListDigests lists the trail's digest keys whose file time falls in the
// window (plus the delivery delay after End), a day's prefix at a time,
// several days at once (Concurrency).
func ListDigests(ctx context.Context, src Source, o Options) ([]DigestKey, error) {
	var days []time.Time
	for day := o.Start.UTC().Truncate(24 * time.Hour); !day.After(o.End.Add(2 * time.Hour)); day = day.Add(24 * time.Hour) {
		days = append(days, day)
	}
	found := make([][]DigestKey, len(days))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, min(o.Concurrency, 16)))
	for i, day := range days {
		g.Go(func() error {
			return src.List(gctx, DigestPrefix(o.Prefix, o.OrgID, o.Account, o.Region, day), func(key string) error {
				k, ok := ParseDigestKey(key)
				if !ok || k.Trail != o.Trail || k.Account != o.Account || k.Region != o.Region {
					return nil
				}
				if k.Time.Before(o.Start) || k.Time.After(o.End.Add(2*time.Hour)) {
					return nil
				}
				found[i] = append(found[i], k)
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []DigestKey
	for _, ks := range found {
		out = append(out, ks...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

func (o Options) object(key string) string { return "s3://" + o.Bucket + "/" + key }

const remedyDigest = "CloudTrail's own evidence for this period is not intact: preserve the findings, compare with the copies in the evidence store, and investigate who changed the trail's bucket"

// checkDigest reads one digest and checks its location, key and signature.
func checkDigest(ctx context.Context, src Source, o Options, k DigestKey) (*digestRecord, finding.Findings) {
	var fs finding.Findings
	key := k.String()
	obj := o.object(key)
	fail := func(kind finding.Kind, format string, args ...any) {
		fs = append(fs, finding.Finding{Severity: finding.Failure, Kind: kind, Object: obj, Message: fmt.Sprintf(format, args...), Remedy: remedyDigest})
	}
	rec := &digestRecord{key: key, name: k}
	rc, meta, err := src.Get(ctx, key)
	if err != nil {
		fail(finding.DigestUnreadable, "cannot read: %v", err)
		return rec, fs
	}
	gz, err := io.ReadAll(io.LimitReader(rc, maxDigestSize))
	rc.Close()
	if err != nil {
		fail(finding.DigestUnreadable, "cannot read: %v", err)
		return rec, fs
	}
	d, sha, err := ParseDigest(gz)
	if err != nil {
		fail(finding.DigestMalformed, "%v", err)
		return rec, fs
	}
	rec.d, rec.sha = d, sha
	if rec.start, rec.end, err = d.Times(); err != nil {
		fail(finding.DigestMalformed, "%v", err)
		return rec, fs
	}
	rec.signature = strings.ToLower(meta["signature"])
	if d.DigestS3Object != key || (o.Bucket != "" && d.DigestS3Bucket != o.Bucket) {
		fail(finding.DigestMisplaced, "says it is s3://%s/%s: a digest moved or copied from elsewhere", d.DigestS3Bucket, d.DigestS3Object)
	}
	if d.AWSAccountID != k.Account {
		fail(finding.DigestMisplaced, "is for account %s, stored under %s", d.AWSAccountID, k.Account)
	}
	if d.DigestSignatureAlgorithm != signatureAlgorithm || (meta["signature-algorithm"] != "" && meta["signature-algorithm"] != signatureAlgorithm) {
		fail(finding.DigestSignatureInvalid, "signature algorithm %q (metadata %q), %s expected", d.DigestSignatureAlgorithm, meta["signature-algorithm"], signatureAlgorithm)
		return rec, fs
	}
	sig, err := hex.DecodeString(rec.signature)
	if err != nil || len(sig) == 0 {
		fail(finding.DigestSignatureMissing, "no hex signature in the object's x-amz-meta-signature (copies must keep the S3 metadata)")
		return rec, fs
	}
	pk, ok := selectKey(o.Keys, d.DigestPublicKeyFingerprint, rec.end)
	if !ok {
		fail(finding.DigestKeyUnknown, "no public key with fingerprint %s valid at %s: fetch the keys for this period (ListPublicKeys) or pass --public-keys", d.DigestPublicKeyFingerprint, d.DigestEndTime)
		return rec, fs
	}
	h := sha256.Sum256([]byte(d.SigningString(sha)))
	if err := rsa.VerifyPKCS1v15(pk.key, crypto.SHA256, h[:], sig); err != nil {
		fail(finding.DigestSignatureInvalid, "the signature does not verify with key %s: the digest or its metadata was altered", pk.Fingerprint)
		return rec, fs
	}
	rec.valid = true
	return rec, fs
}

func selectKey(keys []PublicKey, fingerprint string, at time.Time) (PublicKey, bool) {
	for _, k := range keys {
		if strings.EqualFold(k.Fingerprint, fingerprint) && k.ValidAt(at) && k.key != nil {
			return k, true
		}
	}
	return PublicKey{}, false
}

// checkChain walks the hourly digests in order: each links to the one
// before by its signature and hash; a first digest starts a new chain;
// every hour without a digest is reported, each on its own.
func checkChain(o Options, records []*digestRecord, fs *finding.Findings) int {
	var hourly []*digestRecord
	for _, r := range records {
		if r != nil && r.d != nil && !r.name.Backfill && !r.end.IsZero() {
			hourly = append(hourly, r)
		}
	}
	sort.Slice(hourly, func(i, j int) bool { return hourly[i].end.Before(hourly[j].end) })
	fail := func(kind finding.Kind, obj, format string, args ...any) {
		*fs = append(*fs, finding.Finding{Severity: finding.Failure, Kind: kind, Object: obj, Message: fmt.Sprintf(format, args...), Remedy: remedyDigest})
	}
	// Only hours inside the window (and the delivery delay after it) are
	// reported: a digest's own times bound the gaps, and an altered one
	// could otherwise claim centuries of missing hours.
	lo, hi := o.Start.Truncate(time.Hour), o.End.Add(2*time.Hour)
	missingHours := func(after, before time.Time, named string) {
		if after.Before(lo) {
			after = lo
		}
		if before.After(hi) {
			before = hi
		}
		for t := after; before.Sub(t) >= 30*time.Minute; t = t.Add(time.Hour) {
			obj := o.object(DigestPrefix(o.Prefix, o.OrgID, o.Account, o.Region, t))
			msg := fmt.Sprintf("no digest for %s to %s: CloudTrail delivers one every hour, even with no events", t.Format(time.RFC3339), t.Add(time.Hour).Format(time.RFC3339))
			if named != "" && before.Sub(t) < 90*time.Minute {
				obj, msg = o.object(named), msg+"; the next digest names it as its previous"
			}
			fail(finding.DigestMissing, obj, "%s", msg)
		}
	}
	chains := 0
	if len(hourly) == 0 {
		due := o.End
		if now := o.Now().Add(-deliveryGrace); now.Before(due) {
			due = now
		}
		missingHours(o.Start.Truncate(time.Hour), due, "")
		return 0
	}
	// Before the first digest, hours are missing unless it starts a chain:
	// then logging began (or restarted) with it.
	if first := hourly[0]; !first.d.First() && first.start.Sub(o.Start) >= 90*time.Minute {
		missingHours(o.Start.Truncate(time.Hour), first.start, "")
	}
	for i, cur := range hourly {
		d := cur.d
		if d.First() {
			chains++
			if i > 0 {
				*fs = append(*fs, finding.Finding{Severity: finding.Warning, Kind: finding.DigestChainRestart, Object: o.object(cur.key),
					Message: "starts a new chain (logging was stopped and started, or the trail re-created)", Remedy: "check CloudTrail StopLogging/StartLogging events for this time"})
			}
			continue
		}
		if i == 0 {
			chains++
			continue // its previous digest is before the window
		}
		prev := hourly[i-1]
		if d.PreviousDigestS3Object == nil || *d.PreviousDigestS3Object != prev.key {
			named := ""
			if d.PreviousDigestS3Object != nil {
				named = *d.PreviousDigestS3Object
			}
			missingHours(prev.end, cur.start, named)
			continue
		}
		if d.PreviousDigestSignature == nil || !strings.EqualFold(*d.PreviousDigestSignature, prev.signature) {
			fail(finding.DigestChainBroken, o.object(cur.key), "previousDigestSignature does not match the signature of %s", prev.key)
		}
		if d.PreviousDigestHashValue == nil || !strings.EqualFold(*d.PreviousDigestHashValue, prev.sha) {
			fail(finding.DigestChainBroken, o.object(cur.key), "previousDigestHashValue does not match the SHA-256 of %s (%s)", prev.key, prev.sha)
		}
	}
	due := o.End
	if now := o.Now().Add(-deliveryGrace); now.Before(due) {
		due = now
	}
	if last := hourly[len(hourly)-1]; due.Sub(last.end) >= 30*time.Minute {
		missingHours(last.end, due, "")
	}
	return chains
}

// checkLogFile hashes one log file's uncompressed bytes against its digest.
func checkLogFile(ctx context.Context, src Source, r *digestRecord, lf LogFile) (int64, finding.Findings) {
	var fs finding.Findings
	obj := "s3://" + lf.S3Bucket + "/" + lf.S3Object
	fail := func(kind finding.Kind, format string, args ...any) {
		fs = append(fs, finding.Finding{Severity: finding.Failure, Kind: kind, Object: obj, Message: fmt.Sprintf(format, args...), Remedy: remedyDigest})
	}
	if lf.HashAlgorithm != "SHA-256" {
		fail(finding.LogMalformed, "hash algorithm %q in digest %s, SHA-256 expected", lf.HashAlgorithm, r.key)
		return 0, fs
	}
	sum, known := LogSum{}, false
	if ss, ok := src.(SummedSource); ok {
		sum, known = ss.LogSum(lf.S3Object)
	}
	if !known {
		rc, _, err := src.Get(ctx, lf.S3Object)
		if errors.Is(err, ErrNotFound) {
			fail(finding.LogMissing, "listed by digest %s but not found", r.key)
			return 0, fs
		}
		if err != nil {
			fail(finding.LogUnreadable, "cannot read: %v", err)
			return 0, fs
		}
		sum = SumLog(rc)
		rc.Close()
	}
	if sum.Malformed != nil {
		fail(finding.LogMalformed, "%v", sum.Malformed)
		return sum.Size, fs
	}
	if !strings.EqualFold(sum.SHA256, lf.HashValue) {
		fail(finding.LogHashMismatch, "uncompressed bytes hash to %s, digest %s lists %s", sum.SHA256, r.key, lf.HashValue)
	}
	return sum.Size, fs
}

// SummedSource is a Source that may already know the sums of log files
// (hashed as they were copied, with SumLog or a Summer): validation takes
// those instead of reading the files again. A file it does not know (ok
// false) is read from the source.
type SummedSource interface {
	Source
	LogSum(key string) (sum LogSum, ok bool)
}
