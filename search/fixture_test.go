package search

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

// event is one generated CloudTrail event, the test's own truth.
type event struct {
	At          time.Time
	Name        string
	ARN         string
	RoleARN     string // the session issuer, for an assumed role
	AccessKey   string
	IP          string
	Bucket, Key string
	Version     string
	Marker      bool
	ErrorCode   string
	ID          string
}

// json renders the event as CloudTrail does (eventVersion 1.09), built
// from maps, independent of the parser it feeds.
func (e event) json() map[string]any {
	ident := map[string]any{"type": "IAMUser", "arn": e.ARN, "accountId": "111122223333", "accessKeyId": e.AccessKey, "principalId": "AIDA" + e.ID[:8]}
	if e.RoleARN != "" {
		ident["type"] = "AssumedRole"
		ident["sessionContext"] = map[string]any{"sessionIssuer": map[string]any{"type": "Role", "arn": e.RoleARN, "userName": filepath.Base(e.RoleARN)},
			"attributes": map[string]any{"mfaAuthenticated": "false"}}
	} else {
		ident["userName"] = filepath.Base(e.ARN)
	}
	rec := map[string]any{
		"eventVersion": "1.09", "userIdentity": ident, "eventTime": e.At.UTC().Format(time.RFC3339), "eventSource": "s3.amazonaws.com",
		"eventName": e.Name, "awsRegion": "us-east-1", "sourceIPAddress": e.IP, "userAgent": "[aws-cli/2.15.0]",
		"requestParameters": map[string]any{"bucketName": e.Bucket, "Host": e.Bucket + ".s3.amazonaws.com"},
		"responseElements":  nil, "requestID": "REQ" + e.ID, "eventID": e.ID, "readOnly": e.Name == "GetObject",
		"eventType": "AwsApiCall", "managementEvent": false, "recipientAccountId": "111122223333",
	}
	if e.Key != "" {
		rec["requestParameters"].(map[string]any)["key"] = e.Key
		rec["resources"] = []any{map[string]any{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::" + e.Bucket + "/" + e.Key}}
	}
	if e.Version != "" {
		resp := map[string]any{"x-amz-version-id": e.Version}
		if e.Marker {
			resp["x-amz-delete-marker"] = "true"
		}
		rec["responseElements"] = resp
	}
	if e.ErrorCode != "" {
		rec["errorCode"], rec["errorMessage"] = e.ErrorCode, "Access Denied"
	}
	return rec
}

// world is an evidence store holding a generated trail, sealed.
type world struct {
	t      *testing.T
	s3     *s3.Client
	cfg    config.Store
	ledger *ledger.Ledger
	trust  []custody.TrustedKey
	events []event
	files  []string // sealed log keys, in time order
	fileAt []time.Time
	chain  *custody.Chain
}

// seal seals one more file of kind, copied from source (s3://...).
func (w *world) seal(kind, source string, body []byte) string {
	w.t.Helper()
	ctx := context.Background()
	run, err := w.chain.StartRun(ctx, "accesslogs")
	if err != nil {
		w.t.Fatal(err)
	}
	key := custody.ArtifactPath(w.cfg.Prefix, "111122223333", "us-east-1", "accesslogs", time.Now(), run.ID, strings.TrimPrefix(source, "s3://"))
	if _, err := run.Put(ctx, key, bytes.NewReader(body), custody.PutOptions{Kind: kind, Account: "111122223333", Region: "us-east-1", Source: source, ContentType: "text/plain"}); err != nil {
		w.t.Fatal(err)
	}
	if _, err := run.Seal(ctx, custody.SealRequest{Event: custody.EventCollect, Account: "111122223333", Region: "us-east-1"}, nil); err != nil {
		w.t.Fatal(err)
	}
	return key
}

var (
	attackerKey = "AKIAATTACKER0000007"
	appKey      = "ASIAAPPSESSION00001"
	attacker    = "arn:aws:iam::111122223333:user/mallory"
	appRole     = "arn:aws:iam::111122223333:role/app"
	appSession  = "arn:aws:sts::111122223333:assumed-role/app/i-0abc"
)

// newWorld generates days of a trail, a log file every 20 minutes, each
// with the application's reads and writes and, at known times, the
// attacker's: a policy made public, reads, a delete (a delete marker),
// and a denied call. Every file is sealed through a custody chain.
func newWorld(t *testing.T, start time.Time, days int) *world {
	t.Helper()
	ctx := context.Background()
	c := testaws.Require(t).S3(t)
	st := config.Store{Bucket: testaws.BucketName(t), Region: "us-east-1", Prefix: "custody", Retention: config.Retention{Mode: config.ModeGovernance, Days: 1}}
	if _, err := custody.InitBucket(ctx, c, st); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Now().UTC() }
	l, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), ledger.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	store, err := custody.OpenStore(ctx, c, st, now)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := custody.NewChain(store, c, l, signer, "agent-1", custody.Who{Host: "test", Software: "custody-test"}, now)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := custody.NewTrustedKey("test-key", &priv.PublicKey, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, s3: c, cfg: st, ledger: l, trust: []custody.TrustedKey{tk}, chain: chain}
	n := 0
	id := func() string { n++; return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n) }
	for d := 0; d < days; d++ {
		run, err := chain.StartRun(ctx, "cloudtrail")
		if err != nil {
			t.Fatal(err)
		}
		for f := 0; f < 72; f++ {
			delivered := start.Add(time.Duration(d)*24*time.Hour + time.Duration(f+1)*20*time.Minute)
			var recs []any
			for j := 0; j < 3; j++ {
				at := delivered.Add(-time.Duration(17-j*5) * time.Minute)
				e := event{At: at, Name: "PutObject", ARN: appSession, RoleARN: appRole, AccessKey: appKey, IP: "10.0.3.7", Bucket: "customer-data",
					Key: fmt.Sprintf("records/%d-%d-%d.json", d, f, j), Version: "v" + id()[:8], ID: id()}
				if j == 1 {
					e.Name, e.Version = "GetObject", ""
				}
				w.events = append(w.events, e)
				recs = append(recs, e.json())
			}
			if f%24 == 5 { // three times a day, the attacker
				at := delivered.Add(-2 * time.Minute)
				for _, e := range []event{
					{At: at.Add(-60 * time.Second), Name: "PutBucketPolicy", ARN: attacker, AccessKey: attackerKey, IP: "203.0.113.7", Bucket: "customer-data", ID: id()},
					{At: at.Add(-40 * time.Second), Name: "GetObject", ARN: attacker, AccessKey: attackerKey, IP: "203.0.113.7", Bucket: "customer-data", Key: fmt.Sprintf("records/%d-0-0.json", d), ID: id()},
					{At: at.Add(-20 * time.Second), Name: "DeleteObject", ARN: attacker, AccessKey: attackerKey, IP: "203.0.113.8", Bucket: "customer-data", Key: fmt.Sprintf("records/%d-0-2.json", d), Version: "dm" + id()[:8], Marker: true, ID: id()},
					{At: at, Name: "PutBucketReplication", ARN: attacker, AccessKey: attackerKey, IP: "203.0.113.7", Bucket: "customer-data", ErrorCode: "AccessDenied", ID: id()},
				} {
					w.events = append(w.events, e)
					recs = append(recs, e.json())
				}
			}
			raw, err := json.Marshal(map[string]any{"Records": recs})
			if err != nil {
				t.Fatal(err)
			}
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			if _, err := zw.Write(raw); err != nil {
				panic(err)
			}
			zw.Close()
			src := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/%s/111122223333_CloudTrail_us-east-1_%s_%016x.json.gz",
				delivered.Format("2006/01/02"), delivered.Format("20060102T1504Z"), d*100+f)
			key := custody.ArtifactPath(st.Prefix, "111122223333", "us-east-1", "cloudtrail", now(), run.ID, src)
			if _, err := run.Put(ctx, key, &gz, custody.PutOptions{Kind: KindCloudTrailLog, Account: "111122223333", Region: "us-east-1",
				Source: "s3://trail-bucket/" + src, ContentType: "application/gzip"}); err != nil {
				t.Fatal(err)
			}
			w.files, w.fileAt = append(w.files, key), append(w.fileAt, delivered)
		}
		if _, err := run.Seal(ctx, custody.SealRequest{Event: custody.EventCollect, Account: "111122223333", Region: "us-east-1"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// want returns the generated events that match pred, in time order.
func (w *world) want(pred func(event) bool) []event {
	var out []event
	for _, e := range w.events {
		if pred(e) {
			out = append(out, e)
		}
	}
	sortEvents(out)
	return out
}
