package contain

// Freeze and unfreeze against MinIO: its bucket policies bind anonymous
// requests (the exposed bucket of the playbook) and not the owner, which
// stands in for the allowed responder role; it has lifecycle rules,
// Object Lock and legal holds, and no public access block (reported as
// unsupported). The custody events go to a real chain in another bucket.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

// world is a bucket to freeze and the custody chain its events go to.
type world struct {
	t      *testing.T
	c      *s3.Client
	env    testaws.Env
	bucket string
	chain  *custody.Chain
	sealed *countingSealer
	ledger *ledger.Ledger
}

// allowed stands in for resolved --allow-role principals.
var allowed = []Allowed{{ARN: "arn:aws:iam::123456789012:role/ir-responder", UserID: "AROAEXAMPLERESPONDER:*"}, {ARN: "arn:aws:iam::123456789012:user/moto", UserID: "AIDAEXAMPLECALLER", Caller: true}}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	e := testaws.Require(t)
	c := e.S3(t)
	w := &world{t: t, c: c, env: e}
	w.bucket = testaws.CreateBucket(t, c, testaws.BucketOptions{ObjectLock: true})
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
	if w.chain, err = custody.NewChain(store, c, l, signer, "contain-test", custody.Who{Host: "test", Software: "custody-test"}, now); err != nil {
		t.Fatal(err)
	}
	w.ledger = l
	w.sealed = &countingSealer{EventSealer: w.chain, n: map[string]int{}}
	// The exposed bucket: anyone may write and read; a lifecycle rule
	// expires noncurrent versions (it would race a restore), another
	// expires objects under tmp/, a third is disabled already. (MinIO
	// refuses a rule that only aborts incomplete uploads, the usual rule
	// a freeze leaves alone; TestSuspended covers it.)
	w.putPolicy(fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"PublicReadWrite","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::%s/*"}]}`, w.bucket))
	if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(w.bucket), LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{
		{ID: aws.String("expire-noncurrent"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("")}, NoncurrentVersionExpiration: &s3types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}},
		{ID: aws.String("expire-tmp"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("tmp/")}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(7)}},
		{ID: aws.String("old-archive"), Status: s3types.ExpirationStatusDisabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("archive/")}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(30)}},
	}}}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) putPolicy(p string) {
	w.t.Helper()
	if _, err := w.c.PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String(w.bucket), Policy: aws.String(p)}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) freezer() *Freezer {
	p := &collector.Posture{API: w.c, Bucket: w.bucket, Now: time.Now}
	return &Freezer{API: w.c, Snapshot: p.Snapshot, Seal: w.sealed, Journal: w.ledger, Bucket: w.bucket, Case: "IR-7", Now: time.Now}
}

// anonymous sends an unsigned request: another principal, to whom the
// exposed bucket's policy grants writes.
func (w *world) anonymous(method, key string) int {
	w.t.Helper()
	req, err := http.NewRequest(method, w.env.S3Endpoint+"/"+w.bucket+"/"+key, strings.NewReader("anonymous write"))
	if err != nil {
		w.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// settings reads the settings freeze changes, as S3 returns them.
func (w *world) settings() Settings {
	w.t.Helper()
	s, err := readSettings(context.Background(), w.c, w.bucket)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// countingSealer counts the events sealed, by type.
type countingSealer struct {
	EventSealer
	n    map[string]int
	last custody.Recorded // the last event sealed
}

func (c *countingSealer) Record(ctx context.Context, e custody.Event) (custody.Recorded, error) {
	r, err := c.EventSealer.Record(ctx, e)
	if err == nil {
		c.n[e.Type]++
		c.last = r
	}
	return r, err
}

// events is how many events of a type were sealed.
func (w *world) events(kind string) int { return w.sealed.n[kind] }

func (w *world) assertFrozen(before Settings) {
	w.t.Helper()
	s := w.settings()
	if !hasFreeze(s.Policy, FreezeStatement("aws", w.bucket, allowed)) {
		w.t.Errorf("the policy has no freeze statement: %s", s.Policy)
	}
	want, ids := suspended(before.Lifecycle)
	if !sameRules(s.Lifecycle, want) || strings.Join(ids, ",") != "expire-noncurrent,expire-tmp" {
		w.t.Errorf("lifecycle after freeze: %s, want %s (suspended %v)", canonical(s.Lifecycle), canonical(want), ids)
	}
	if code := w.anonymous(http.MethodPut, "frozen-write"); code != http.StatusForbidden {
		w.t.Errorf("an anonymous write to the frozen bucket: HTTP %d, want 403", code)
	}
	if code := w.anonymous(http.MethodDelete, "seed"); code != http.StatusForbidden {
		w.t.Errorf("an anonymous delete in the frozen bucket: HTTP %d, want 403", code)
	}
}

// rawLifecycle is the bucket's lifecycle configuration, the bytes S3
// answered with.
func (w *world) rawLifecycle() []byte {
	w.t.Helper()
	var raw []byte
	capture := func(st *middleware.Stack) error {
		return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("rawBody", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && err == nil {
				raw, _ = io.ReadAll(resp.Body)
				resp.Body = io.NopCloser(bytes.NewReader(raw))
			}
			return out, md, err
		}), middleware.After)
	}
	if _, err := w.c.GetBucketLifecycleConfiguration(context.Background(), &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(w.bucket)},
		func(o *s3.Options) { o.APIOptions = append(o.APIOptions, capture) }); err != nil {
		w.t.Fatal(err)
	}
	return raw
}

func (w *world) assertRestored(before Settings) {
	w.t.Helper()
	s := w.settings()
	// MinIO hands a policy back with its lists in a new order each time
	// (it keeps them as sets): the same policy, not the same bytes.
	if !samePolicy(s.Policy, before.Policy) {
		w.t.Errorf("policy after unfreeze:\n%s\nwant, as before the freeze:\n%s", s.Policy, before.Policy)
	}
	if canonical(s.Lifecycle) != canonical(before.Lifecycle) {
		w.t.Errorf("lifecycle after unfreeze:\n%s\nwant:\n%s", canonical(s.Lifecycle), canonical(before.Lifecycle))
	}
	if code := w.anonymous(http.MethodPut, "after-unfreeze"); code != http.StatusOK {
		w.t.Errorf("an anonymous write after unfreeze: HTTP %d, want 200 (the exposure is the before-state)", code)
	}
}

// TestFreezeAndUnfreeze: the exposed bucket takes anonymous writes; once
// frozen it refuses them while its owner (the allowed principal here)
// still writes; the lifecycle rules that expire versions are suspended,
// the others untouched; unfreeze puts policy and rules back as S3
// returned them before, and each is sealed as events of the case.
func TestFreezeAndUnfreeze(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	if code := w.anonymous(http.MethodPut, "seed"); code != http.StatusOK {
		t.Fatalf("the exposed bucket refused an anonymous write before the freeze: HTTP %d", code)
	}
	before, beforeXML := w.settings(), w.rawLifecycle()
	f := w.freezer()

	plan, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Steps) != 3 || plan.Steps[0].Status != "planned" || w.events(custody.EventFreeze) != 0 || !samePolicy(w.settings().Policy, before.Policy) {
		t.Fatalf("a dry run: steps %+v, %d events; it must plan and change nothing", plan.Steps, w.events(custody.EventFreeze))
	}

	if _, err := f.Freeze(ctx, FreezeOptions{}); err == nil || !strings.Contains(err.Error(), "at least one allowed role") {
		t.Fatalf("a freeze with no allowed role: %v", err)
	}
	res, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed})
	if err != nil {
		t.Fatal(err)
	}
	if res.Phase != PhaseFrozen || len(res.Manifests) != 2 || w.events(custody.EventFreeze) != 2 {
		t.Fatalf("freeze: %+v, %d events", res, w.events(custody.EventFreeze))
	}
	var pab Step
	for _, s := range res.Steps {
		if s.Name == StepPAB {
			pab = s
		}
	}
	if pab.Status != "unsupported" {
		t.Errorf("MinIO has no public access block: the step says %+v", pab)
	}
	w.assertFrozen(before)
	if _, err := w.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.bucket), Key: aws.String("responder-write"), Body: strings.NewReader("x")}); err != nil {
		t.Errorf("the bucket's owner (allowed) could not write to the frozen bucket: %v", err)
	}

	again, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed})
	if err != nil || !again.Already || w.events(custody.EventFreeze) != 2 {
		t.Fatalf("freezing a frozen bucket again: %+v, %v, %d events; want already frozen and nothing sealed", again, err, w.events(custody.EventFreeze))
	}
	other := w.freezer()
	other.Case = "IR-8"
	if _, err := other.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed}); err == nil || !strings.Contains(err.Error(), "under case IR-7") {
		t.Fatalf("a freeze under another case: %v", err)
	}

	un, err := f.Unfreeze(ctx, UnfreezeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(un.Warnings) != 1 || !strings.Contains(un.Warnings[0], "everyone") {
		t.Errorf("unfreeze puts back a policy open to everyone: it must say so, warned %q", un.Warnings)
	}
	if un.Phase != PhaseUnfrozen || w.events(custody.EventUnfreeze) != 2 {
		t.Fatalf("unfreeze: %+v, %d events", un, w.events(custody.EventUnfreeze))
	}
	w.assertRestored(before)
	if after := w.rawLifecycle(); !bytes.Equal(after, beforeXML) || len(after) == 0 {
		t.Errorf("the lifecycle configuration after unfreeze is not byte-identical:\n%s\nbefore:\n%s", after, beforeXML)
	}
	if again, err := f.Unfreeze(ctx, UnfreezeOptions{}); err != nil || !again.Already || w.events(custody.EventUnfreeze) != 2 {
		t.Fatalf("unfreezing twice: %+v, %v; want already unfrozen, nothing sealed", again, err)
	}
	fresh := w.freezer()
	fresh.Bucket = testaws.CreateBucket(t, w.c, testaws.BucketOptions{Versioning: true})
	if _, err := fresh.Unfreeze(ctx, UnfreezeOptions{}); !errors.Is(err, ErrNotFrozen) {
		t.Fatalf("unfreezing a bucket never frozen: %v", err)
	}
}

// TestUnfreezeRefusesAForeignChange: after the freeze, someone (allowed)
// adds a statement to the policy and tags the bucket. Unfreeze refuses
// and names both; a dry run shows the same; --force puts the
// before-state back over them, the changes sealed in its record.
func TestUnfreezeRefusesAForeignChange(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	before := w.settings()
	f := w.freezer()
	if _, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed}); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	_ = json.Unmarshal([]byte(w.settings().Policy), &doc)
	doc["Statement"] = append(doc["Statement"].([]any), map[string]any{"Sid": "Sneaky", "Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::" + w.bucket})
	b, _ := json.Marshal(doc)
	w.putPolicy(string(b))
	if _, err := w.c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(w.bucket), Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: aws.String("owner"), Value: aws.String("mallory")}}}}); err != nil {
		t.Fatal(err)
	}
	for _, dry := range []bool{true, false} {
		res, err := f.Unfreeze(ctx, UnfreezeOptions{DryRun: dry})
		var ce *ChangedError
		if !errors.As(err, &ce) {
			t.Fatalf("unfreeze (dry run %v) after foreign changes: %v", dry, err)
		}
		joined := strings.Join(res.Changes, "\n")
		if !strings.Contains(joined, "Sneaky") || !strings.Contains(joined, "tags:") {
			t.Errorf("the changes shown do not name the policy statement and the tags:\n%s", joined)
		}
	}
	if w.events(custody.EventUnfreeze) != 0 || !hasFreeze(w.settings().Policy, FreezeStatement("aws", w.bucket, allowed)) {
		t.Fatal("a refused unfreeze changed or sealed something")
	}
	res, err := f.Unfreeze(ctx, UnfreezeOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) < 2 || res.Phase != PhaseUnfrozen {
		t.Errorf("a forced unfreeze: %+v", res)
	}
	w.assertRestored(before)
}

// TestFreezeRefusesALookAlikeStatement: a statement already named
// CustodyFreeze that custody did not write (an attacker's no-op) must not
// pass for a freeze: the freeze refuses, changes and seals nothing.
func TestFreezeRefusesALookAlikeStatement(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.putPolicy(fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"CustodyFreeze","Effect":"Deny","Principal":"*","Action":"s3:PutObjectTagging","Resource":"arn:aws:s3:::%[1]s/*"},{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::%[1]s/*"}]}`, w.bucket))
	before := w.settings()
	_, err := w.freezer().Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed})
	if err == nil || !strings.Contains(err.Error(), "did not write") {
		t.Fatalf("freeze over a look-alike statement: %v", err)
	}
	if !samePolicy(w.settings().Policy, before.Policy) || w.events(custody.EventFreeze) != 0 {
		t.Fatal("the refused freeze changed or sealed something")
	}
}

// TestKillAtEveryStep stops a freeze after each of its steps, as a kill
// would (nothing after it runs, no cleanup), then runs it again: the
// re-run finishes it from the sealed before-state. The same for unfreeze;
// and a freeze stopped part-way is rolled back by unfreeze instead.
func TestKillAtEveryStep(t *testing.T) {
	ctx := context.Background()
	steps := []string{StepSealBefore, StepPolicy, StepLifecycle, StepHolds, StepSealAfter}
	for _, kill := range steps {
		t.Run("freeze-"+kill, func(t *testing.T) {
			w := newWorld(t)
			before := w.settings()
			hold := w.version("held")
			f := w.freezer()
			f.AfterStep = func(s string) error {
				if s == kill {
					return errors.New("killed")
				}
				return nil
			}
			if _, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed, Hold: []Version{hold}}); !errors.Is(err, errStop) {
				t.Fatalf("the killed freeze: %v", err)
			}
			f.AfterStep = nil
			res, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed, Hold: []Version{hold}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Phase != PhaseFrozen {
				t.Fatalf("the re-run: %+v", res)
			}
			w.assertFrozen(before)
			if got := w.holdStatus(hold); got != "ON" {
				t.Errorf("the held version's legal hold after the re-run: %s", got)
			}
			if n := w.events(custody.EventFreeze); n < 2 {
				t.Errorf("%d freeze events sealed, want the before-state and the freeze", n)
			}
			for _, ukill := range []string{StepSealBefore, StepHolds, StepLifecycle, StepPolicy, StepSealAfter} {
				if kill != StepSealBefore {
					break // one freeze kill point runs the unfreeze kills: they need a frozen bucket each
				}
				f.AfterStep = func(s string) error {
					if s == ukill {
						return errors.New("killed")
					}
					return nil
				}
				if _, err := f.Unfreeze(ctx, UnfreezeOptions{}); !errors.Is(err, errStop) {
					t.Fatalf("the unfreeze killed after %s: %v", ukill, err)
				}
				f.AfterStep = nil
				if _, err := f.Unfreeze(ctx, UnfreezeOptions{}); err != nil {
					t.Fatalf("the unfreeze re-run after a kill after %s: %v", ukill, err)
				}
				w.assertRestored(before)
				if got := w.holdStatus(hold); got != "OFF" {
					t.Errorf("the legal hold after unfreeze: %s", got)
				}
				if _, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed, Hold: []Version{hold}}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	for _, kill := range []string{StepPolicy, StepLifecycle} {
		t.Run("rollback-"+kill, func(t *testing.T) {
			w := newWorld(t)
			before := w.settings()
			f := w.freezer()
			f.AfterStep = func(s string) error {
				if s == kill {
					return errors.New("killed")
				}
				return nil
			}
			if _, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed}); !errors.Is(err, errStop) {
				t.Fatalf("the killed freeze: %v", err)
			}
			f.AfterStep = nil
			if _, err := f.Unfreeze(ctx, UnfreezeOptions{}); err != nil {
				t.Fatalf("rolling back a half-done freeze: %v", err)
			}
			w.assertRestored(before)
		})
	}
}

// TestHoldVersions: freeze holds the versions asked for, leaves a version
// held before as it was, and unfreeze lifts only its own holds.
func TestHoldVersions(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	mine, theirs := w.version("a"), w.version("b")
	if _, err := w.c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String(w.bucket), Key: aws.String(theirs.Key), VersionId: aws.String(theirs.VersionID),
		LegalHold: &s3types.ObjectLockLegalHold{Status: s3types.ObjectLockLegalHoldStatusOn}}); err != nil {
		t.Fatal(err)
	}
	f := w.freezer()
	res, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed, Hold: []Version{mine, theirs}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Holds) != 2 || res.Holds[0].Prior != "OFF" || res.Holds[1].Prior != "ON" {
		t.Fatalf("holds: %+v", res.Holds)
	}
	if w.holdStatus(mine) != "ON" || w.holdStatus(theirs) != "ON" {
		t.Fatal("frozen: both versions must be held")
	}
	if _, err := f.Unfreeze(ctx, UnfreezeOptions{}); err != nil {
		t.Fatal(err)
	}
	if w.holdStatus(mine) != "OFF" || w.holdStatus(theirs) != "ON" {
		t.Errorf("after unfreeze: the freeze's hold %s (want OFF), the earlier hold %s (want ON)", w.holdStatus(mine), w.holdStatus(theirs))
	}
	plain := testaws.CreateBucket(t, w.c, testaws.BucketOptions{Versioning: true})
	g := w.freezer()
	g.Bucket = plain
	if _, err := g.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed, Hold: []Version{{Key: "k", VersionID: "v"}}}); err == nil || !strings.Contains(err.Error(), "no Object Lock") {
		t.Fatalf("holding versions in a bucket without Object Lock: %v", err)
	}
}

func (w *world) version(key string) Version {
	w.t.Helper()
	out, err := w.c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key), Body: strings.NewReader(key)})
	if err != nil {
		w.t.Fatal(err)
	}
	return Version{Key: key, VersionID: aws.ToString(out.VersionId)}
}

func (w *world) holdStatus(v Version) string {
	w.t.Helper()
	out, err := w.c.GetObjectLegalHold(context.Background(), &s3.GetObjectLegalHoldInput{Bucket: aws.String(w.bucket), Key: aws.String(v.Key), VersionId: aws.String(v.VersionID)})
	if err != nil {
		if code(err) == "NoSuchObjectLockConfiguration" {
			return "OFF"
		}
		w.t.Fatal(err)
	}
	return string(out.LegalHold.Status)
}

// TestSuspended: only enabled rules that expire or transition versions
// are suspended; a rule that only aborts incomplete uploads, or one
// already disabled, is left as it is.
func TestSuspended(t *testing.T) {
	rules := []s3types.LifecycleRule{
		{ID: aws.String("uploads"), Status: s3types.ExpirationStatusEnabled, AbortIncompleteMultipartUpload: &s3types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(3)}},
		{ID: aws.String("glacier"), Status: s3types.ExpirationStatusEnabled, Transitions: []s3types.Transition{{Days: aws.Int32(30), StorageClass: s3types.TransitionStorageClassGlacier}}},
		{ID: aws.String("markers"), Status: s3types.ExpirationStatusEnabled, Expiration: &s3types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}},
		{ID: aws.String("off"), Status: s3types.ExpirationStatusDisabled, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(1)}},
	}
	out, ids := suspended(rules)
	if strings.Join(ids, ",") != "glacier,markers" {
		t.Errorf("suspended %v, want glacier and markers", ids)
	}
	if out[0].Status != s3types.ExpirationStatusEnabled || out[3].Status != s3types.ExpirationStatusDisabled || rules[1].Status != s3types.ExpirationStatusEnabled {
		t.Errorf("rules after suspension %s (the input must be left alone: %s)", canonical(out), canonical(rules))
	}
	if r, ids := suspended(nil); r != nil || ids != nil {
		t.Error("no configuration must stay no configuration")
	}
}

// TestSamePolicy: the forms S3 servers rewrite a policy into compare
// equal; a changed action, principal or condition does not.
func TestSamePolicy(t *testing.T) {
	st := FreezeStatement("aws", "b", allowed)
	asMinIO := `{"Version":"2012-10-17","Statement":[{"Sid":"CustodyFreeze","Effect":"Deny","Principal":{"AWS":["*"]},"Action":["s3:PutObject","s3:BypassGovernanceRetention","s3:DeleteBucket","s3:DeleteObject","s3:DeleteObjectTagging","s3:PutBucketAcl","s3:PutBucketPolicy","s3:PutBucketPublicAccessBlock","s3:DeleteBucketPolicy","s3:DeleteObjectVersion","s3:PutBucketObjectLockConfiguration","s3:PutBucketVersioning","s3:PutEncryptionConfiguration","s3:PutObjectAcl","s3:PutObjectLegalHold","s3:PutObjectTagging","s3:ReplicateTags","s3:DeleteObjectVersionTagging","s3:PutObjectVersionAcl","s3:ReplicateObject","s3:PutObjectVersionTagging","s3:ReplicateDelete","s3:PutReplicationConfiguration","s3:PutLifecycleConfiguration","s3:PutObjectRetention"],"Resource":["arn:aws:s3:::b/*","arn:aws:s3:::b"],"Condition":{"StringNotLike":{"aws:userid":["AROAEXAMPLERESPONDER:*","AIDAEXAMPLECALLER"]}}}]}`
	if !hasFreeze(asMinIO, st) {
		t.Error("the freeze statement as MinIO returns it is not recognised")
	}
	for name, edit := range map[string][2]string{
		"an action dropped": {`"s3:PutObject",`, ``},
		"another principal": {`"AROAEXAMPLERESPONDER:*"`, `"AROAMALLORY:*"`},
		"allow, not deny":   {`"Deny"`, `"Allow"`},
		"another bucket":    {`"arn:aws:s3:::b/*"`, `"arn:aws:s3:::c/*"`},
	} {
		if hasFreeze(strings.Replace(asMinIO, edit[0], edit[1], 1), st) {
			t.Errorf("%s: still taken for the freeze statement", name)
		}
	}
	if !samePolicy(`{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]}]}`) {
		t.Error("single values and their one-element lists must compare equal")
	}
}

// TestFreezeRefusesAnOversizedPolicy: a policy that the freeze statement
// would push over S3's 20 KiB limit is refused before anything is sealed
// or changed, naming the sizes.
func TestFreezeRefusesAnOversizedPolicy(t *testing.T) {
	w := newWorld(t)
	var sts []string
	for i := 0; len(strings.Join(sts, ",")) < maxPolicyBytes-900; i++ {
		sts = append(sts, fmt.Sprintf(`{"Sid":"Read%d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/team-%04d/*"}`, i, w.bucket, i))
	}
	w.putPolicy(`{"Version":"2012-10-17","Statement":[` + strings.Join(sts, ",") + `]}`)
	_, err := w.freezer().Freeze(context.Background(), FreezeOptions{Partition: "aws", Allowed: allowed})
	if err == nil || !strings.Contains(err.Error(), "over S3's limit") || w.events(custody.EventFreeze) != 0 {
		t.Fatalf("freezing under a near-full policy: %v, %d events", err, w.events(custody.EventFreeze))
	}
}
