package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5" //nolint:gosec // S3 Inventory names its files' MD5
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cs "github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
	recovery "github.com/custody-ir/custody/recover"
)

// offlineConfig is an AWS Config client answering every request with body
// as JSON, offline as testaws.OfflineS3.
func offlineConfig(body []byte) *cs.Client {
	h := testaws.OfflineHTTP(func(r *http.Request) (*http.Response, error) {
		_, _ = io.Copy(io.Discard, r.Body)
		return testaws.Reply(200, "application/x-amz-json-1.1", body), nil
	})
	return cs.New(cs.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, HTTPClient: h, Retryer: aws.NopRetryer{},
		BaseEndpoint: aws.String("https://config.offline.invalid")})
}

// memRun is a custody run that keeps what is put in memory.
type memRun struct {
	puts map[string][]byte
	opts map[string]custody.PutOptions
}

func newMemRun() *memRun {
	return &memRun{puts: map[string][]byte{}, opts: map[string]custody.PutOptions{}}
}

func (r *memRun) RunID() string { return "20261120T060000Z-0badf00d" }

func (r *memRun) Put(_ context.Context, key string, body io.Reader, o custody.PutOptions) (custody.Artifact, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return custody.Artifact{}, err
	}
	r.puts[key], r.opts[key] = b, o
	return custody.Artifact{Key: key, Size: int64(len(b)), Kind: o.Kind}, nil
}

var fuzzNow = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)

func fuzzLedger(f *testing.F) *ledger.Ledger {
	l, err := ledger.Open(context.Background(), filepath.Join(f.TempDir(), "ledger.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	return l
}

// publicRef is a second reading of "the policy grants everyone": it
// walks the decoded document instead of matching text. ok is false for
// documents with repeated names (which of them a decoder keeps is not
// what this checks).
func publicRef(raw []byte) (public, ok bool) {
	var doc any
	if json.Unmarshal(raw, &doc) != nil {
		return false, true
	}
	m, isObj := doc.(map[string]any)
	if !isObj {
		return false, true
	}
	field := func(m map[string]any, name string) (any, bool, bool) {
		var v any
		n := 0
		for k, x := range m {
			if strings.EqualFold(k, name) {
				v, n = x, n+1
			}
		}
		return v, n == 1, n <= 1
	}
	st, found, single := field(m, "Statement")
	if !single {
		return false, false
	}
	if !found || st == nil {
		return false, true
	}
	var stmts []any
	switch s := st.(type) {
	case []any:
		stmts = s
	case map[string]any:
		stmts = []any{s}
	default:
		return false, true
	}
	public = false
	for _, x := range stmts {
		if x == nil {
			continue
		}
		s, isObj := x.(map[string]any)
		if !isObj {
			return false, true // the statement list does not decode
		}
		eff, _, single1 := field(s, "Effect")
		pr, _, single2 := field(s, "Principal")
		if !single1 || !single2 {
			return false, false
		}
		e, isStr := eff.(string)
		if eff != nil && !isStr {
			return false, true // an Effect that is not a string: the statement list does not decode
		}
		if e != "Allow" {
			continue
		}
		switch p := pr.(type) {
		case string:
			public = public || p == "*"
		case map[string]any:
			switch a := p["AWS"].(type) {
			case string:
				public = public || a == "*"
			case []any:
				for _, v := range a {
					public = public || v == "*"
				}
			}
		}
	}
	return public, true
}

// policySeeds are bucket policies as S3 returns them.
var policySeeds = []string{
	`{"Version":"2012-10-17","Statement":[{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
	`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:*","Resource":"arn:aws:s3:::b"}}`,
	`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:root","*"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
	`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS": [
		"*"
	]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
	`{"Statement":[{"Effect":"Allow","Principal":"\u002a","Action":"s3:GetObject"}]}`,
	`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`,
	`{"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject"}]}`,
	`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/x"},"Action":"s3:GetObject"}]}`,
	`{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::1:root"},"Action":"s3:GetObject"}]}`,
	`{"Statement":[{"Effect":1,"Principal":"*"}]}`,
	`{"Statement":["x"]}`,
	`not json`, ``, `null`, `[]`, `"*"`,
}

// FuzzBucketPolicy: the public-policy check reads the policy, not its
// formatting: the same document, compact, indented (as the ledger keeps
// the previous snapshot) or re-encoded, gives the same answer, and that
// answer is what walking the decoded document gives. Canonical forms are
// stable, and a policy compared with itself never shows a change.
func FuzzBucketPolicy(f *testing.F) {
	for i, a := range policySeeds {
		f.Add(a, policySeeds[(i+1)%len(policySeeds)])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ca := canonicalJSON(a)
		if !json.Valid(ca) || !bytes.Equal(canonicalJSON(string(ca)), ca) {
			t.Fatalf("canonical form of %q is %q, not stable valid JSON", a, ca)
		}
		pub := grantsEveryone(ca)
		var indented bytes.Buffer
		if err := json.Indent(&indented, ca, "", "  "); err != nil {
			t.Fatal(err)
		}
		if grantsEveryone(indented.Bytes()) != pub {
			t.Fatalf("indenting %s changes its public reading (%v)", ca, pub)
		}
		if json.Valid([]byte(a)) && grantsEveryone([]byte(a)) != pub {
			t.Fatalf("%q reads %v, its canonical form %v", a, grantsEveryone([]byte(a)), pub)
		}
		if ref, ok := publicRef(ca); ok && ref != pub {
			t.Fatalf("%s: grantsEveryone %v, reading the document %v", ca, pub, ref)
		}
		// The ledger keeps the previous snapshot indented; the new one is
		// compact. Only a real change is one, and only a newly public
		// policy is a risk.
		snap := func(policy string) *Snapshot {
			return &Snapshot{Bucket: "b", TakenAt: fuzzNow, Settings: map[string]Setting{"policy": classify(json.RawMessage(canonicalJSON(policy)), nil, nil)}}
		}
		raw, err := json.MarshalIndent(snap(a), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		var prev Snapshot
		if err := json.Unmarshal(raw, &prev); err != nil {
			t.Fatalf("a snapshot does not read back: %v", err)
		}
		if d := Diff(&prev, snap(a)); len(d) != 0 {
			t.Fatalf("a policy differs from itself after the ledger: %+v", d)
		}
		cb := canonicalJSON(b)
		changes := Diff(&prev, snap(b))
		if (len(changes) != 0) != !bytes.Equal(ca, cb) {
			t.Fatalf("%s -> %s: changes %+v", ca, cb, changes)
		}
		wantRisk := grantsEveryone(cb) && !pub
		if len(changes) == 1 && (changes[0].Risk != "") != wantRisk {
			t.Fatalf("%s -> %s: risk %q", ca, cb, changes[0].Risk)
		}
	})
}

// postureSettings are the settings a snapshot with an account API holds.
var postureSettings = []string{"accountPublicAccessBlock", "acl", "encryption", "lifecycle", "location", "logging", "objectLock", "ownershipControls",
	"policy", "policyStatus", "publicAccessBlock", "replication", "tags", "versioning"}

// s3XMLSeeds are S3 answers: each is a valid body for one of the
// posture reads (and nonsense for the others).
var s3XMLSeeds = []string{
	`<?xml version="1.0" encoding="UTF-8"?>
<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID><DisplayName>owner</DisplayName></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="AmazonCustomerByEmail"><EmailAddress>a@example.com</EmailAddress></Grantee><Permission>WRITE_ACP</Permission></Grant></AccessControlList></AccessControlPolicy>`,
	`<?xml version="1.0" encoding="UTF-8"?><PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>maybe</RestrictPublicBuckets></PublicAccessBlockConfiguration>`,
	`<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>`,
	`<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>3650</Days><Years>-1</Years></DefaultRetention></Rule></ObjectLockConfiguration>`,
	`<ReplicationConfiguration><Role>arn:aws:iam::1:role/r</Role><Rule><ID>r</ID><Priority>99999999999</Priority><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::d</Bucket></Destination></Rule></ReplicationConfiguration>`,
	`<LifecycleConfiguration><Rule><ID>expire</ID><Status>Enabled</Status><Expiration><Date>2026-13-45T00:00:00Z</Date></Expiration><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration></Rule></LifecycleConfiguration>`,
	`<Tagging><TagSet><Tag><Key>k</Key><Value>&lt;v&amp;&#x1F600;</Value></Tag></TagSet></Tagging>`,
	`<BucketLoggingStatus><LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix>p/</TargetPrefix></LoggingEnabled></BucketLoggingStatus>`,
	`<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>`,
	`<PolicyStatus><IsPublic>TRUE</IsPublic></PolicyStatus>`,
	`<Error><Code>NoSuchBucketPolicy</Code><Message>The bucket policy does not exist</Message></Error>`,
	`<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`,
	`<ErrorResponse><Error><Code>NotImplemented</Code></Error></ErrorResponse>`,
	`<!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><Tagging><TagSet><Tag><Key>&b;</Key></Tag></TagSet></Tagging>`,
	`<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a></a>`,
	``,
}

// FuzzPostureSnapshot: S3's answers to every posture read (the ACL, the
// policy, the public access blocks, ...) go through the SDK's own
// deserializers. Whatever they are, the snapshot holds every setting in a
// known state, is the same on every read, reads back from the ledger
// without showing a change, and Collect stores it.
func FuzzPostureSnapshot(f *testing.F) {
	for i, s := range s3XMLSeeds {
		f.Add(uint8(i%7), []byte(s))
	}
	for _, p := range policySeeds[:4] {
		f.Add(uint8(0), []byte(p))
	}
	statuses := []int{200, 200, 200, 403, 404, 500, 501}
	f.Fuzz(func(t *testing.T, code uint8, body []byte) {
		status := statuses[int(code)%len(statuses)]
		h := testaws.XMLReplies(status, body)
		p := &Posture{API: testaws.OfflineS3(h), AccountAPI: testaws.OfflineS3Control(h), Bucket: "source-bucket", Account: "123456789012",
			Region: "us-east-1", Prefix: "custody", Now: func() time.Time { return fuzzNow }}
		ctx := context.Background()
		snap := p.Snapshot(ctx)
		names := sortedKeys(snap.Settings)
		if strings.Join(names, ",") != strings.Join(postureSettings, ",") {
			t.Fatalf("settings %v", names)
		}
		for n, s := range snap.Settings {
			switch s.State {
			case StatePresent:
				if !json.Valid(s.Value) {
					t.Fatalf("%s: present with invalid JSON %q", n, s.Value)
				}
			case StateError:
				if s.Error == "" {
					t.Fatalf("%s: an error without a message", n)
				}
			case StateAbsent, StateDenied, StateUnsupported:
			default:
				t.Fatalf("%s: state %q", n, s.State)
			}
		}
		if pol := snap.Settings["policy"]; pol.State == StatePresent && !bytes.Equal(canonical(pol.Value), pol.Value) {
			t.Fatalf("the policy is kept as %s, not in canonical form", pol.Value)
		}
		again := p.Snapshot(ctx)
		j1, _ := json.Marshal(snap)
		j2, _ := json.Marshal(again)
		if !bytes.Equal(j1, j2) {
			t.Fatalf("two snapshots of the same answers differ:\n%s\n%s", j1, j2)
		}
		// As Collect keeps it for the next run.
		raw, err := json.MarshalIndent(snap, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		var prev Snapshot
		if err := json.Unmarshal(raw, &prev); err != nil {
			t.Fatalf("the snapshot does not read back: %v", err)
		}
		if d := Diff(&prev, &again); len(d) != 0 {
			t.Fatalf("unchanged settings reported as changes: %+v", d)
		}
	})
}

// versionsXML is a ListObjectVersions answer.
func versionsXML(truncated bool, extra string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>source-bucket</Name><Prefix></Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>1000</MaxKeys><IsTruncated>` + strconv.FormatBool(truncated) + `</IsTruncated>` + extra +
		`<Version><Key>reports/q1.csv</Key><VersionId>3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-19T10:00:00.000Z</LastModified><ETag>"fba9dede5f27731c9771645a39863328"</ETag><Size>434234</Size><StorageClass>STANDARD</StorageClass><Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID></Owner><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm></Version>` +
		`<Version><Key>reports/q1.csv</Key><VersionId>null</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-18T10:00:00.000Z</LastModified><ETag>"e"</ETag><Size>1</Size><StorageClass>GLACIER</StorageClass></Version>` +
		`<DeleteMarker><Key>a &amp; b.txt</Key><VersionId>dm1</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-20T01:00:00Z</LastModified></DeleteMarker>` +
		`<Version><Key>a &amp; b.txt</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-19T01:00:00Z</LastModified><Size>-5</Size></Version>` +
		`<CommonPrefixes><Prefix>logs/</Prefix></CommonPrefixes></ListVersionsResult>`
}

// emptyLister is a bucket with nothing in it.
type emptyLister struct{}

func (emptyLister) ListObjectVersions(context.Context, *s3.ListObjectVersionsInput, ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	return &s3.ListObjectVersionsOutput{}, nil
}

// readVersionList decodes a version list artifact, checking every line
// is exactly the JSON of its record.
func readVersionList(t *testing.T, gz []byte) []VersionRecord {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("the version list is not gzip: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("the version list does not decompress: %v", err)
	}
	var out []VersionRecord
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r VersionRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		again, _ := json.Marshal(&r)
		if !bytes.Equal(append(again, '\n'), line) {
			t.Fatalf("line %q reads back as %s", line, again)
		}
		if r.LastModified.Location() != time.UTC {
			t.Fatalf("time %v not in UTC", r.LastModified)
		}
		out = append(out, r)
	}
	return out
}

// recoverReads checks that recover plans from a version list as written:
// every key of it is one key of the plan.
func recoverReads(t *testing.T, gz []byte, records []VersionRecord) {
	t.Helper()
	keys := map[string]bool{}
	for _, r := range records {
		keys[r.Key] = true
	}
	ev := &recovery.Evidence{At: fuzzNow, Name: "fuzzed list", Parts: []func(context.Context) (io.ReadCloser, error){
		func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(gz)), nil }}}
	plan, err := recovery.MakePlan(context.Background(), emptyLister{}, "source-bucket", fuzzNow, recovery.PlanOptions{Evidence: ev})
	if err != nil {
		t.Fatalf("recover cannot read the version list: %v", err)
	}
	if plan.Keys != len(keys) {
		t.Fatalf("recover planned %d keys, the list has %d", plan.Keys, len(keys))
	}
}

// FuzzVersions: a ListObjectVersions answer, through the SDK, becomes a
// version list that reads back record for record, in S3's order, and that
// recover can plan from; a listing that never ends is an error.
func FuzzVersions(f *testing.F) {
	f.Add([]byte(versionsXML(false, "")), false)
	f.Add([]byte(versionsXML(false, "")), true)
	f.Add([]byte(versionsXML(true, `<NextKeyMarker>reports/q1.csv</NextKeyMarker><NextVersionIdMarker>null</NextVersionIdMarker>`)), false)
	f.Add([]byte(versionsXML(true, "")), false)
	f.Add([]byte(`<ListVersionsResult><IsTruncated>true</IsTruncated><NextKeyMarker>z</NextKeyMarker></ListVersionsResult>`), true)
	f.Add([]byte(`<ListVersionsResult><Version><Key>b</Key><LastModified>not a time</LastModified></Version></ListVersionsResult>`), false)
	f.Add([]byte(`<Error><Code>NoSuchBucket</Code></Error>`), false)
	f.Fuzz(func(t *testing.T, body []byte, split bool) {
		var calls atomic.Int64
		h := testaws.OfflineHTTP(func(r *http.Request) (*http.Response, error) {
			if calls.Add(1) > 1000 {
				t.Fatalf("more than 1000 ListObjectVersions calls for one answer")
			}
			return testaws.Reply(200, "application/xml", body), nil
		})
		v := &Versions{API: testaws.OfflineS3(h), Bucket: "source-bucket", Account: "123456789012", Region: "us-east-1", Prefix: "custody",
			Now: func() time.Time { return fuzzNow }, PageSize: 1000}
		var buf bytes.Buffer
		var count atomic.Int64
		var prefixes []string
		delimiter, pp := "", (*[]string)(nil)
		if split {
			delimiter, pp = "/", &prefixes
		}
		err := v.write(context.Background(), &buf, "", delimiter, &count, pp)
		if err != nil {
			if !strings.Contains(err.Error(), "s3://source-bucket") {
				t.Fatalf("an error that does not name the bucket: %v", err)
			}
			return
		}
		records := readVersionList(t, buf.Bytes())
		if int64(len(records)) != count.Load() {
			t.Fatalf("counted %d, wrote %d", count.Load(), len(records))
		}
		for i := 1; i < len(records); i++ {
			a, b := records[i-1], records[i]
			if a.Key > b.Key || (a.Key == b.Key && !a.IsLatest && b.IsLatest) ||
				(a.Key == b.Key && a.IsLatest == b.IsLatest && a.LastModified.Before(b.LastModified)) {
				t.Fatalf("records %d and %d out of S3's order: %+v %+v", i-1, i, a, b)
			}
		}
		recoverReads(t, buf.Bytes(), records)
	})
}

// inventoryFile is one S3 Inventory CSV file and its manifest.
func inventoryFile(rows string, schema string, badMD5 bool) (manifest, file []byte) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(rows)) // into memory: cannot fail
	zw.Close()
	sum := md5.Sum(buf.Bytes()) //nolint:gosec // S3 Inventory's checksum is MD5
	md := hex.EncodeToString(sum[:])
	if badMD5 {
		md = strings.Repeat("0", 32)
	}
	manifest, _ = json.Marshal(map[string]any{"sourceBucket": "source-bucket", "destinationBucket": "arn:aws:s3:::inv", "version": "2016-11-30",
		"creationTimestamp": "1763600000000", "fileFormat": "CSV", "fileSchema": schema,
		"files": []map[string]any{{"key": "inventory/source-bucket/all/data/a.csv.gz", "size": buf.Len(), "MD5checksum": md}}})
	return manifest, []byte(rows)
}

const inventorySchema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass"

var inventoryRows = `"source-bucket","reports/q0+2026%2Bfinal%25.csv","v2","true","false","1","2026-11-19T10:00:00.000Z","e1","STANDARD"
"source-bucket","reports/q0+2026%2Bfinal%25.csv","v1","false","false","2","2026-11-18T10:00:00.000Z","e2","GLACIER"
"source-bucket","reports/q1.csv","","true","true","","2026-11-19T11:00:00Z","",""
`

const listingXML = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>inv</Name><Prefix>inventory/source-bucket/all/</Prefix><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated>` +
	`<CommonPrefixes><Prefix>inventory/source-bucket/all/2026-11-20T00-00Z/</Prefix></CommonPrefixes>` +
	`<CommonPrefixes><Prefix>inventory/source-bucket/all/2026-11-22T00-00Z/</Prefix></CommonPrefixes>` +
	`<CommonPrefixes><Prefix>inventory/source-bucket/all/data/</Prefix></CommonPrefixes></ListBucketResult>`

const manifestKey = "inventory/source-bucket/all/2026-11-22T00-00Z/manifest.json"

// offlineInventory is an inventory destination bucket answering a
// listing, a manifest, and served for every data file, through the SDK.
func offlineInventory(listing, manifest, served []byte, call func()) *Inventory {
	h := testaws.OfflineHTTP(func(r *http.Request) (*http.Response, error) {
		call()
		switch {
		case r.URL.Query().Get("list-type") == "2":
			return testaws.Reply(200, "application/xml", listing), nil
		case strings.HasSuffix(r.URL.Path, "/manifest.json"):
			return testaws.Reply(200, "application/json", manifest), nil
		}
		return testaws.Reply(200, "application/octet-stream", served), nil
	})
	return &Inventory{API: testaws.OfflineS3(h), Bucket: "inv", Prefix: "inventory/source-bucket/all"}
}

// gzipOf is the gzip of n bytes of c.
func gzipOf(c byte, n int) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(bytes.Repeat([]byte{c}, n)) // into memory: cannot fail
	zw.Close()
	return buf.Bytes()
}

// TestInventoryRowBomb: a small file inflating to one endless row ends
// in a clear error, without holding the row.
func TestInventoryRowBomb(t *testing.T) {
	quoted := func() []byte { // an open quote, then newlines: one endless quoted field
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write([]byte(`"`))
		_, _ = zw.Write(bytes.Repeat([]byte("\n"), 64<<20))
		zw.Close()
		return buf.Bytes()
	}()
	for _, bomb := range [][]byte{gzipOf('a', 64<<20), quoted} {
		sum := md5.Sum(bomb) //nolint:gosec // S3 Inventory's checksum is MD5
		manifest, _ := json.Marshal(map[string]any{"fileFormat": "CSV", "fileSchema": inventorySchema,
			"files": []map[string]any{{"key": "inventory/source-bucket/all/data/bomb.csv.gz", "MD5checksum": hex.EncodeToString(sum[:])}}})
		inv := offlineInventory(nil, manifest, bomb, func() {})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, _, err := inv.WriteVersions(context.Background(), manifestKey, io.Discard)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "longer than") || !strings.Contains(err.Error(), "s3://inv/inventory/source-bucket/all/data/bomb.csv.gz") {
			t.Fatalf("%d bytes inflating to 64 MiB: %v", len(bomb), err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
			t.Fatalf("reading a bomb allocated %d MiB", grew>>20)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("reading a bomb took %v", d)
		}
	}
}

// FuzzInventory: the newest report is found under the configured prefix
// (or the listing is an error); a report's manifest and CSV, however
// damaged, end in an error naming the file, or in version records that
// read back, whose order is the one reported, from files whose MD5 the
// manifest gave; recover can plan from a sorted one.
func FuzzInventory(f *testing.F) {
	m, csv := inventoryFile(inventoryRows, inventorySchema, false)
	f.Add([]byte(listingXML), m, csv, false)
	m2, _ := inventoryFile(inventoryRows, inventorySchema, true)
	f.Add([]byte(strings.Replace(listingXML, "<IsTruncated>false", "<NextContinuationToken>t</NextContinuationToken><IsTruncated>true", 1)), m2, csv, false)
	m3, csv3 := inventoryFile("\"b\",\"k%FF\",\"v\",\"true\",\"false\",\"1\",\"2026-11-19T10:00:00Z\",\"e\",\"S\"\n\"b\",\"k%F0%9F%98%80\",\"v\",\"true\",\"false\",\"1\",\"2026-11-19T10:00:00Z\",\"e\",\"S\"\n", inventorySchema, false)
	f.Add([]byte(strings.Replace(listingXML, "inventory/source-bucket/all/2026-11-22", "elsewhere/2027-01-01", 1)), m3, csv3, false)
	m4, csv4 := inventoryFile("Key,VersionId,IsLatest,IsDeleteMarker,LastModifiedDate\n\"unterminated,v,true,false,x\n", "Key, VersionId, IsLatest, IsDeleteMarker, LastModifiedDate", false)
	f.Add([]byte(listingXML), m4, csv4, false)
	m5, csv5 := inventoryFile("b,z,v,true,false,1,2026-11-19T10:00:00Z,e,S\nb,a,v,true,false,1,2026-11-19T10:00:00Z,e,S\n", "Key, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass", false)
	f.Add([]byte(listingXML), m5, csv5, false)
	f.Add([]byte(listingXML), []byte(`{"fileFormat":"ORC","fileSchema":"x","files":[]}`), []byte(nil), false)
	f.Add([]byte(listingXML), m, []byte("not gzip"), true)
	f.Add([]byte(listingXML), m4, gzipOf('a', 2<<20), true) // one 2 MiB row
	f.Fuzz(func(t *testing.T, listing, manifest, file []byte, gzipped bool) {
		served := file
		if !gzipped {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(file)
			zw.Close()
			served = buf.Bytes()
		}
		var calls atomic.Int64
		inv := offlineInventory(listing, manifest, served, func() {
			if calls.Add(1) > 1000 {
				t.Fatalf("more than 1000 requests")
			}
		})
		ctx := context.Background()
		if latest, err := inv.Latest(ctx); err == nil {
			if !strings.HasPrefix(latest, inv.Prefix+"/") || !reportFolderRE.MatchString(strings.TrimSuffix(latest, "manifest.json")) {
				t.Fatalf("the newest report is %q, not a report folder under %s/", latest, inv.Prefix)
			}
		} else if !strings.Contains(err.Error(), "s3://inv/") {
			t.Fatalf("an error that does not name the listing: %v", err)
		}
		calls.Store(0)
		var out bytes.Buffer
		n, sorted, err := inv.WriteVersions(ctx, manifestKey, &out)
		if err != nil {
			if !strings.Contains(err.Error(), "s3://inv/") {
				t.Fatalf("an error that does not name the object: %v", err)
			}
			return
		}
		var im InventoryManifest
		// A manifest that does not parse here names no file to check.
		_ = json.Unmarshal(manifest, &im)
		sum := md5.Sum(served) //nolint:gosec // S3 Inventory's checksum is MD5
		for _, file := range im.Files {
			if file.MD5Checksum != "" && !strings.EqualFold(file.MD5Checksum, hex.EncodeToString(sum[:])) {
				t.Fatalf("a file whose MD5 is not the manifest's was read")
			}
		}
		records := readVersionList(t, out.Bytes())
		if int64(len(records)) != n {
			t.Fatalf("counted %d, wrote %d", n, len(records))
		}
		inOrder := sort.SliceIsSorted(records, func(i, j int) bool { return records[i].Key < records[j].Key })
		if sorted != inOrder {
			t.Fatalf("reported sorted=%v, the list as written is sorted=%v", sorted, inOrder)
		}
		for _, r := range records {
			if r.VersionID == "" {
				t.Fatalf("a record without a version id: %+v", r)
			}
		}
		if sorted {
			recoverReads(t, out.Bytes(), records)
		}
	})
}

// safeSegment is what custody keeps of a key's segment.
var safeSegment = regexp.MustCompile(`^[A-Za-z0-9._=-]+$`)

// configListingXML and configHistoryJSON are a Config delivery bucket's
// listing and the answers of Config's API (one document serves every call).
const configListingXML = `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>cfg</Name><IsTruncated>false</IsTruncated>` +
	`<Contents><Key>config/AWSLogs/123456789012/Config/us-east-1/2026/11/20/ConfigSnapshot/123456789012_Config_us-east-1_ConfigSnapshot_20261120T010000Z_a.json.gz</Key><LastModified>2026-11-20T01:00:00.000Z</LastModified><ETag>"e"</ETag><Size>3</Size></Contents>` +
	`<Contents><Key>config/AWSLogs/123456789012/Config/us-east-1/2026/11/20/../../../../x//./a b%2F\.json</Key><LastModified>2026-11-20T02:00:00Z</LastModified></Contents>` +
	`<Contents><Key>old</Key><LastModified>2000-01-01T00:00:00Z</LastModified></Contents></ListBucketResult>`

const configHistoryJSON = `{"nextToken":"","deliveryChannels":[{"name":"default","s3BucketName":"cfg"}],"configSnapshotId":"s",` +
	`"resourceIdentifiers":[{"resourceType":"AWS::S3::Bucket","resourceId":"source-bucket","resourceName":"source-bucket"}],` +
	`"configurationItems":[{"version":"1.3","accountId":"123456789012","configurationItemCaptureTime":1.7636e9,"configurationItemStatus":"OK",` +
	`"resourceType":"AWS::S3::Bucket","resourceId":"source-bucket","configuration":"{\"name\":\"source-bucket\"}","tags":{"k":"v"},"relationships":[]}]}`

// FuzzAWSConfig: a Config collection over a delivery bucket's listing and
// objects and Config's own API answers, all through the SDK: it ends (a
// repeated page token is not a loop), stores every delivered file under
// the run's folder with safe segments only, and the history artifact is
// gzip NDJSON.
func FuzzAWSConfig(f *testing.F) {
	f.Add([]byte(configListingXML), []byte("{}"), []byte(configHistoryJSON))
	f.Add([]byte(strings.Replace(configListingXML, "<IsTruncated>false", "<NextContinuationToken>t</NextContinuationToken><IsTruncated>true", 1)), []byte("x"),
		[]byte(strings.Replace(configHistoryJSON, `"nextToken":""`, `"nextToken":"again"`, 1)))
	f.Add([]byte(`<Error><Code>AccessDenied</Code></Error>`), []byte(nil), []byte(`{"__type":"AccessDeniedException","message":"no"}`))
	f.Add([]byte(configListingXML), []byte(nil), []byte(`{"configurationItems":[{"configurationItemCaptureTime":"yesterday"}]}`))
	l := fuzzLedger(f)
	f.Fuzz(func(t *testing.T, listing, object, api []byte) {
		// Some calls run in the history writer's goroutine: past the
		// budget they fail, and the test fails after Collect.
		var calls atomic.Int64
		var over atomic.Bool
		count := func() error {
			if calls.Add(1) > 2000 {
				over.Store(true)
				return errors.New("request budget exceeded")
			}
			return nil
		}
		s3h := testaws.OfflineHTTP(func(r *http.Request) (*http.Response, error) {
			if err := count(); err != nil {
				return nil, err
			}
			if r.URL.Query().Get("list-type") == "2" {
				return testaws.Reply(200, "application/xml", listing), nil
			}
			return testaws.Reply(200, "application/octet-stream", object), nil
		})
		cfg := offlineConfig(api)
		c := &AWSConfig{S3: testaws.OfflineS3(s3h), API: countingConfig{cfg, count}, Ledger: l, Account: "123456789012", Region: "us-east-1",
			Delivery: []config.BucketPrefix{{Bucket: "cfg", Prefix: "config"}}, ResourceTypes: []string{"AWS::S3::Bucket"}, Deliver: true,
			Prefix: "custody", Now: func() time.Time { return fuzzNow }, Lookback: 30 * time.Hour}
		run := newMemRun()
		_, err := c.Collect(context.Background(), run)
		if over.Load() {
			t.Fatalf("more than 2000 requests for one collection (a listing or page token that repeats?)")
		}
		if err != nil && !strings.Contains(err.Error(), "s3://cfg/") {
			t.Fatalf("an error that does not name the object: %v", err)
		}
		base := "custody/123456789012/us-east-1/config/2026/11/20/" + run.RunID() + "/"
		for key, o := range run.puts {
			rest, ok := strings.CutPrefix(key, base)
			if !ok {
				t.Fatalf("stored at %q, outside the run's folder", key)
			}
			for _, seg := range strings.Split(rest, "/") {
				if !safeSegment.MatchString(seg) || seg == "." || seg == ".." {
					t.Fatalf("stored at %q: segment %q", key, seg)
				}
			}
			switch run.opts[key].Kind {
			case "config-file":
				if !strings.HasPrefix(run.opts[key].Source, "s3://cfg/") || !bytes.Equal(o, object) {
					t.Fatalf("config file %s from %q holds other bytes", key, run.opts[key].Source)
				}
			case "config-history":
				zr, err := gzip.NewReader(bytes.NewReader(o))
				if err != nil {
					t.Fatalf("history is not gzip: %v", err)
				}
				dec := json.NewDecoder(zr)
				for dec.More() {
					var item map[string]any
					if err := dec.Decode(&item); err != nil {
						t.Fatalf("history is not NDJSON: %v", err)
					}
				}
			default:
				t.Fatalf("artifact of kind %q", run.opts[key].Kind)
			}
		}
	})
}

// countingConfig counts Config API calls towards the request budget.
type countingConfig struct {
	c     *cs.Client
	count func() error
}

func (c countingConfig) ListDiscoveredResources(ctx context.Context, in *cs.ListDiscoveredResourcesInput, o ...func(*cs.Options)) (*cs.ListDiscoveredResourcesOutput, error) {
	if err := c.count(); err != nil {
		return nil, err
	}
	return c.c.ListDiscoveredResources(ctx, in, o...)
}

func (c countingConfig) GetResourceConfigHistory(ctx context.Context, in *cs.GetResourceConfigHistoryInput, o ...func(*cs.Options)) (*cs.GetResourceConfigHistoryOutput, error) {
	if err := c.count(); err != nil {
		return nil, err
	}
	return c.c.GetResourceConfigHistory(ctx, in, o...)
}

func (c countingConfig) DescribeDeliveryChannels(ctx context.Context, in *cs.DescribeDeliveryChannelsInput, o ...func(*cs.Options)) (*cs.DescribeDeliveryChannelsOutput, error) {
	if err := c.count(); err != nil {
		return nil, err
	}
	return c.c.DescribeDeliveryChannels(ctx, in, o...)
}

func (c countingConfig) DeliverConfigSnapshot(ctx context.Context, in *cs.DeliverConfigSnapshotInput, o ...func(*cs.Options)) (*cs.DeliverConfigSnapshotOutput, error) {
	if err := c.count(); err != nil {
		return nil, err
	}
	return c.c.DeliverConfigSnapshot(ctx, in, o...)
}
