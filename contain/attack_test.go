package contain

// A hostile examiner's attempts against freeze, unfreeze and the freeze
// status recover reads, against MinIO (and moto's IAM), each a hole found
// in review: the test shows it, the fix closes it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/testaws"
)

// TestUnfreezeSeesTheFreezeUndone: once the journal says frozen, a
// managed setting back as it was before the freeze is someone undoing the
// freeze (the deny statement removed, the expiring lifecycle rules
// enabled again), not an interrupted run: unfreeze refuses and names
// both. (It used to accept either state for every phase, so the removal
// of the freeze went unreported.)
func TestUnfreezeSeesTheFreezeUndone(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	before := w.settings()
	f := w.freezer()
	if _, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed}); err != nil {
		t.Fatal(err)
	}
	// The bucket's owner (unbound by MinIO's policies, as an allowed
	// principal would be on AWS) puts the exposure and the rules back.
	w.putPolicy(before.Policy)
	if err := putLifecycle(ctx, w.c, w.bucket, before.Lifecycle, ""); err != nil {
		t.Fatal(err)
	}
	for _, dry := range []bool{true, false} {
		res, err := f.Unfreeze(ctx, UnfreezeOptions{DryRun: dry})
		var ce *ChangedError
		if !errors.As(err, &ce) {
			t.Fatalf("unfreeze (dry run %v) of a bucket whose freeze was undone: %v, changes %q", dry, err, res.Changes)
		}
		joined := strings.Join(res.Changes, "\n")
		if !strings.Contains(joined, FreezeSid+" removed") || !strings.Contains(joined, "lifecycle:") {
			t.Errorf("the changes do not name the removed freeze statement and the lifecycle rules:\n%s", joined)
		}
	}
	if w.events(custody.EventUnfreeze) != 0 {
		t.Fatal("a refused unfreeze sealed something")
	}
	if _, err := f.Unfreeze(ctx, UnfreezeOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	w.assertRestored(before)
}

// TestUnfreezeSeesAChangeMadeBetweenAKillAndTheRerun: a freeze killed
// after sealing its before-state; before it is run again (or rolled back)
// someone tags the bucket, a setting the freeze does not manage. The
// re-run's sealed frozen posture holds the tags, and unfreeze used to
// compare only against that posture (or, for a half-done freeze, against
// nothing): the change went unreported. Compared against the posture
// sealed with the before-state, unfreeze refuses and names it.
func TestUnfreezeSeesAChangeMadeBetweenAKillAndTheRerun(t *testing.T) {
	ctx := context.Background()
	for _, rerun := range []bool{true, false} {
		t.Run(fmt.Sprintf("rerun-%v", rerun), func(t *testing.T) {
			w := newWorld(t)
			f := w.freezer()
			kill := StepSealBefore
			if !rerun {
				kill = StepPolicy // half-frozen: unfreeze rolls it back
			}
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
			if _, err := w.c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(w.bucket), Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: aws.String("owner"), Value: aws.String("mallory")}}}}); err != nil {
				t.Fatal(err)
			}
			if rerun {
				if res, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed}); err != nil || res.Phase != PhaseFrozen {
					t.Fatalf("the re-run: %+v, %v", res, err)
				}
			}
			res, err := f.Unfreeze(ctx, UnfreezeOptions{DryRun: true})
			var ce *ChangedError
			if !errors.As(err, &ce) || !strings.Contains(strings.Join(res.Changes, "\n"), "tags:") {
				t.Fatalf("unfreeze after a tag change made between the kill and now: %v, changes %q; want it refused, naming the tags", err, res.Changes)
			}
		})
	}
}

// TestReadFreezeSeesThroughLookAlikes: the freeze status recover (and an
// unfreeze run again) reads counts a statement named CustodyFreeze only
// when it is freeze's own statement for the patterns it lists. The same
// statement as S3 may rewrite it (lists reordered, {"AWS": "*"} for "*", a
// single statement without its list, one pattern as a string) is a
// freeze; a look-alike (it used to be read as a freeze, allowing whoever
// it listed) is not: an Allow, fewer actions, an extra condition that
// narrows the deny, a wildcard pattern that allows everyone or every
// federated user, the condition key's case changed.
func TestReadFreezeSeesThroughLookAlikes(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	own := FreezeStatement("aws", w.bucket, allowed[:1])
	variant := func(edit func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(canonical(own)), &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		return canonical(m)
	}
	cond := func(ids ...any) map[string]any {
		return map[string]any{"StringNotLike": map[string]any{"aws:userid": ids}}
	}
	policy := func(stmts ...string) string {
		return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	}
	open := fmt.Sprintf(`{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}`, w.bucket)
	frozen := map[string]string{
		"as written": policy(open, canonical(own)),
		"reordered, AWS-star, one pattern as a string": policy(variant(func(m map[string]any) {
			a := m["Action"].([]any)
			a[0], a[len(a)-1] = a[len(a)-1], a[0]
			m["Principal"] = map[string]any{"AWS": "*"}
			m["Condition"] = map[string]any{"StringNotLike": map[string]any{"aws:userid": allowed[0].UserID}}
		}), open),
	}
	lookAlike := map[string]string{
		"an Allow":      policy(variant(func(m map[string]any) { m["Effect"] = "Allow" })),
		"fewer actions": policy(variant(func(m map[string]any) { m["Action"] = []any{"s3:PutObjectTagging"} })),
		"an extra condition that narrows the deny": policy(variant(func(m map[string]any) {
			m["Condition"].(map[string]any)["IpAddress"] = map[string]any{"aws:SourceIp": "203.0.113.7/32"}
		})),
		"everyone allowed":                 policy(variant(func(m map[string]any) { m["Condition"] = cond("AROAEXAMPLERESPONDER:*", "*") })),
		"every federated user allowed":     policy(variant(func(m map[string]any) { m["Condition"] = cond("AROAEXAMPLERESPONDER:*", "123456789012:*") })),
		"a wildcard inside a role pattern": policy(variant(func(m map[string]any) { m["Condition"] = cond("AROA*:*") })),
	}
	for name, p := range frozen {
		w.putPolicy(p)
		st, err := ReadFreeze(ctx, w.c, "aws", w.bucket)
		if err != nil || !st.Frozen || st.LookAlike || !st.Allows("AROAEXAMPLERESPONDER:alice") || st.Allows("AROAEXAMPLERESPONDER2:alice") {
			t.Errorf("%s: %+v, %v; want frozen, allowing the responder role's sessions only", name, st, err)
		}
	}
	// AWS takes a single statement without its list; MinIO refuses it, so
	// that shape is read from a policy handed over as S3 would return it.
	single := `{"Version":"2012-10-17","Statement":` + canonical(own) + `}`
	if st, err := ReadFreeze(ctx, policyOnly(single), "aws", w.bucket); err != nil || !st.Frozen || st.LookAlike {
		t.Errorf("a single statement: %+v, %v; want frozen", st, err)
	}
	// AWS takes condition keys in any case (MinIO refuses "aws:UserId"):
	// custody writes "aws:userid", and reads another spelling as a
	// look-alike (it cannot tell what else was changed with it).
	recased := policy(variant(func(m map[string]any) {
		m["Condition"] = map[string]any{"StringNotLike": map[string]any{"aws:UserId": []any{"AROAEXAMPLERESPONDER:*", "*"}}}
	}))
	if st, err := ReadFreeze(ctx, policyOnly(recased), "aws", w.bucket); err != nil || st.Frozen || !st.LookAlike {
		t.Errorf("the condition key's case: %+v, %v; want a look-alike", st, err)
	}
	for name, p := range lookAlike {
		if _, err := w.c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(w.bucket), Policy: aws.String(p)}); err != nil {
			t.Errorf("%s: MinIO refused the policy: %v", name, err)
			continue
		}
		st, err := ReadFreeze(ctx, w.c, "aws", w.bucket)
		if err != nil || st.Frozen || !st.LookAlike {
			t.Errorf("%s: %+v, %v; want a look-alike, not a freeze", name, st, err)
		}
	}
}

// policyOnly answers GetBucketPolicy with a policy in a shape MinIO does
// not store.
type policyOnly string

func (p policyOnly) GetBucketPolicy(context.Context, *s3.GetBucketPolicyInput, ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error) {
	return &s3.GetBucketPolicyOutput{Policy: aws.String(string(p))}, nil
}

// stubCaller answers sts:GetCallerIdentity with what it is given: the
// answers moto cannot give (a federated user, a wildcard in the id).
type stubCaller sts.GetCallerIdentityOutput

func (s stubCaller) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	out := sts.GetCallerIdentityOutput(s)
	return &out, nil
}

// TestCallerPattern: the identity running the freeze is allowed by the
// narrowest pattern that lets it unfreeze. A federated user's id
// ("ACCOUNT:name") used to become "ACCOUNT:*", letting every federated
// user of the account through the freeze; an answer with a wildcard in
// it went into the deny statement as it came.
func TestCallerPattern(t *testing.T) {
	ctx := context.Background()
	for id, want := range map[string]string{
		"AROAEXAMPLEROLE01:alice@example.com": "AROAEXAMPLEROLE01:*",
		"AIDAEXAMPLEUSER01":                   "AIDAEXAMPLEUSER01",
		"123456789012":                        "123456789012",
		"123456789012:bob":                    "123456789012:bob",
		"*":                                   "",
		"AROA*:x":                             "",
		"AIDA?EXAMPLE":                        "",
		"123456789012:*":                      "",
		"SOMETHING:else":                      "",
	} {
		got, err := callerPattern(id)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("caller %q: pattern %q, %v; want %q", id, got, err, want)
		}
	}
	cfg := testaws.Require(t).Config(t)
	ic := iam.NewFromConfig(cfg.AWS)
	suffix := testaws.BucketName(t)[len(testaws.BucketName(t))-8:]
	role, err := testaws.CreateRole(ctx, ic, &iam.CreateRoleInput{RoleName: aws.String("responder-" + suffix), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := ResolveAllowed(ctx, ic, stubCaller{UserId: aws.String("123456789012:bob"), Arn: aws.String("arn:aws:sts::123456789012:federated-user/bob")}, []string{aws.ToString(role.Role.Arn)})
	if err != nil || len(got) != 2 || got[1].UserID != "123456789012:bob" {
		t.Errorf("a federated caller: %+v, %v; want it allowed exactly", got, err)
	}
	if _, _, err := ResolveAllowed(ctx, ic, stubCaller{UserId: aws.String("*"), Arn: aws.String("arn:aws:iam::123456789012:user/x")}, []string{aws.ToString(role.Role.Arn)}); err == nil || !strings.Contains(err.Error(), "unexpected unique id") {
		t.Errorf("a caller id with a wildcard: %v; want it refused", err)
	}
}

// FuzzFreezePatterns: whatever a bucket policy's freeze statement holds,
// a pattern accepted carries no wildcard but a role's trailing ":*".
func FuzzFreezePatterns(f *testing.F) {
	for _, s := range []string{`{"Condition":{"StringNotLike":{"aws:userid":["AROAX1234:*","AIDAX1234"]}}}`, `{"Condition":{"StringNotLike":{"aws:userid":"*"}}}`, `{}`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var st any
		if json.Unmarshal([]byte(s), &st) != nil {
			return
		}
		ids, ok := freezePatterns(st)
		if !ok {
			return
		}
		for _, id := range ids {
			body := strings.TrimSuffix(id, ":*")
			if strings.ContainsAny(body, "*?") || (body != id && !strings.HasPrefix(id, "AROA")) {
				t.Fatalf("accepted the pattern %q", id)
			}
		}
	})
}

// TestFreezeAgainWithAnotherRole: a responder who forgot recover's role
// runs the freeze again with it. The re-run used to answer "already
// frozen" and drop the new role silently (the sealed freeze allows only
// the first list), leaving recover locked out with no word said. It
// refuses, naming the role, and seals nothing; the same roles (or fewer)
// still get "already frozen".
func TestFreezeAgainWithAnotherRole(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	f := w.freezer()
	if _, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed}); err != nil {
		t.Fatal(err)
	}
	n := w.events(custody.EventFreeze)
	more := append(append([]Allowed(nil), allowed...), Allowed{ARN: "arn:aws:iam::123456789012:role/custody-recover", UserID: "AROAEXAMPLERECOVER:*"})
	res, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: more})
	if !errors.Is(err, ErrOtherAllowed) || !strings.Contains(err.Error(), "role/custody-recover") || res.Already {
		t.Fatalf("freezing again with another role: %+v, %v; want it refused, naming the role", res, err)
	}
	if res, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed[:1]}); err != nil || !res.Already {
		t.Fatalf("freezing again with the same role: %+v, %v", res, err)
	}
	// Legal holds asked for only now were dropped the same way, with
	// "already frozen" and exit 0: refused too, naming the version.
	hold := []Version{{Key: "data/asked-now.csv", VersionID: "v-asked-now"}}
	if res, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed, Hold: hold}); !errors.Is(err, ErrOtherHolds) || !strings.Contains(err.Error(), "asked-now.csv") || res.Already {
		t.Fatalf("freezing again with a new legal hold: %+v, %v; want it refused, naming the version", res, err)
	}
	if w.events(custody.EventFreeze) != n {
		t.Fatal("a re-run sealed something")
	}
}

// TestFrozenPolicyKeepsNumbers: the policy freeze writes keeps every
// other statement as written, numbers too (they used to go through a
// float64: 2^53+1 came back rounded, a condition changed by the freeze).
func TestFrozenPolicyKeepsNumbers(t *testing.T) {
	p := `{"Version":"2012-10-17","Statement":[{"Sid":"Big","Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"NumericGreaterThan":{"s3:max-keys":9007199254740993}}}]}`
	got, err := withFreeze(p, FreezeStatement("aws", "b", allowed))
	if err != nil || !strings.Contains(got, "9007199254740993") || !hasFreeze(got, FreezeStatement("aws", "b", allowed)) {
		t.Fatalf("frozen policy: %s, %v", got, err)
	}
}

// TestFreezeLifecycleEveryShape: lifecycle rules in the shapes S3 allows
// (Filter.And with prefix, tags and sizes; a tag; a size; delete-marker
// cleanup; noncurrent versions kept by count; an abort-only rule beside
// an expiring one) are suspended where they expire anything and come back
// byte-identical after unfreeze.
func TestFreezeLifecycleEveryShape(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	rules := []s3types.LifecycleRule{
		{ID: aws.String("and"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{And: &s3types.LifecycleRuleAndOperator{Prefix: aws.String("x/"), Tags: []s3types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}, ObjectSizeGreaterThan: aws.Int64(10), ObjectSizeLessThan: aws.Int64(1 << 20)}},
			NoncurrentVersionExpiration: &s3types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(3), NewerNoncurrentVersions: aws.Int32(2)}},
		{ID: aws.String("tag"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Tag: &s3types.Tag{Key: aws.String("t"), Value: aws.String("1")}}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(5)}},
		{ID: aws.String("size"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{ObjectSizeGreaterThan: aws.Int64(100)}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(9)}},
		{ID: aws.String("markers"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("m/")}, Expiration: &s3types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}},
		{ID: aws.String("off"), Status: s3types.ExpirationStatusDisabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("o/")}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(1)}},
	}
	if err := putLifecycle(ctx, w.c, w.bucket, rules, ""); err != nil {
		t.Fatal(err)
	}
	before := w.settings()
	f := w.freezer()
	if _, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed}); err != nil {
		t.Fatal(err)
	}
	for _, r := range w.settings().Lifecycle {
		if r.Status != s3types.ExpirationStatusDisabled {
			t.Errorf("rule %s is %s while frozen", aws.ToString(r.ID), r.Status)
		}
	}
	if _, err := f.Unfreeze(ctx, UnfreezeOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := canonical(w.settings().Lifecycle); got != canonical(before.Lifecycle) {
		t.Errorf("lifecycle after unfreeze:\n%s\nwant:\n%s", got, canonical(before.Lifecycle))
	}
}

// interrupting is the real client, with a Ctrl-C (the context cancelled)
// as the lifecycle step writes.
type interrupting struct {
	*s3.Client
	cancel context.CancelFunc
}

func (i interrupting) PutBucketLifecycleConfiguration(ctx context.Context, in *s3.PutBucketLifecycleConfigurationInput, opts ...func(*s3.Options)) (*s3.PutBucketLifecycleConfigurationOutput, error) {
	i.cancel()
	return i.Client.PutBucketLifecycleConfiguration(ctx, in, opts...)
}

// TestFreezeInterruptedByCtrlC: Ctrl-C during the lifecycle step cancels
// the context the closing seal needs as well. The error used to say the
// bucket "is frozen" (it is half-frozen: its lifecycle rules still
// expire versions); it says partly frozen and how to finish or roll
// back, and the re-run finishes the freeze.
func TestFreezeInterruptedByCtrlC(t *testing.T) {
	w := newWorld(t)
	before := w.settings()
	ctx, cancel := context.WithCancel(context.Background())
	f := w.freezer()
	f.API = interrupting{Client: w.c, cancel: cancel}
	_, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed})
	if err == nil || strings.Contains(err.Error(), "is frozen") || !strings.Contains(err.Error(), "partly frozen") || !strings.Contains(err.Error(), "custody unfreeze") {
		t.Fatalf("a freeze interrupted in its lifecycle step: %v; want partly frozen, with how to finish or roll back", err)
	}
	res, err := w.freezer().Freeze(context.Background(), FreezeOptions{Partition: "aws", Allowed: allowed})
	if err != nil || res.Phase != PhaseFrozen || !res.Resumed {
		t.Fatalf("the re-run after Ctrl-C: %+v, %v", res, err)
	}
	w.assertFrozen(before)
}

// TestFreezeStatementDeniesEveryWrite: every S3 permission that writes
// or deletes an object version, its tags, ACL, retention or legal hold,
// or writes a replica into the bucket, is in the freeze's deny. AWS
// checks PutObjectTagging with a versionId as s3:PutObjectVersionTagging
// (and DeleteObjectTagging as s3:DeleteObjectVersionTagging), and a
// replication rule of another bucket writes here as s3:ReplicateObject,
// s3:ReplicateDelete and s3:ReplicateTags: those were missing, so a
// frozen bucket still took them. (MinIO checks version tagging as
// s3:PutObjectTagging, so the stand-in cannot show the difference.)
func TestFreezeStatementDeniesEveryWrite(t *testing.T) {
	got := map[string]bool{}
	for _, a := range FreezeStatement("aws", "b", allowed)["Action"].([]string) {
		got[a] = true
	}
	for _, a := range []string{
		"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
		"s3:PutObjectAcl", "s3:PutObjectVersionAcl",
		"s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging",
		"s3:PutObjectRetention", "s3:BypassGovernanceRetention", "s3:PutObjectLegalHold",
		"s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags",
	} {
		if !got[a] {
			t.Errorf("the freeze does not deny %s", a)
		}
	}
}

// TestDuplicateKeysAreRefused: a statement with a key twice, {"Effect":
// "Allow", ..., "Effect": "Deny"}, was read by Go's last-wins rule as
// freeze's own Deny, whatever IAM makes of it. (MinIO rewrites such a
// policy on PUT; AWS returns a policy as written, which is why the
// status is read here from a policy handed over as S3 would return it.)
// Neither the status nor a freeze reads such a policy: recover then
// warns that it cannot tell whether the bucket is frozen, and freeze
// refuses, before sealing or changing anything.
func TestDuplicateKeysAreRefused(t *testing.T) {
	own := canonical(FreezeStatement("aws", "b", allowed))
	dup := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` + own[1:] + `]}`
	if !strings.Contains(dup, `"Effect":"Deny"`) {
		t.Fatalf("test policy: %s", dup)
	}
	st, err := ReadFreeze(context.Background(), policyOnly(dup), "aws", "b")
	if err == nil || st.Frozen || !strings.Contains(err.Error(), `"Effect" twice`) {
		t.Errorf("the status of a freeze statement with two Effects: %+v, %v; want an error naming the key", st, err)
	}
	if _, err := withFreeze(`{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Resource":"arn:aws:s3:::b/public/*"}]}`, FreezeStatement("aws", "b", allowed)); err == nil {
		t.Error("freeze over a policy with a duplicate key: no error")
	}
	if k := duplicateKey(`{"a":[{"b":1,"c":{"b":2}},{"b":3}],"d":{"e":1}}`); k != "" {
		t.Errorf("the same key in different objects is no duplicate: %q", k)
	}
}

// FuzzParseBucketPolicy: any bucket policy text is parsed or refused,
// never a panic; one parsed has no key twice in any object.
func FuzzParseBucketPolicy(f *testing.F) {
	for _, s := range []string{`{"Version":"2012-10-17","Statement":{"Sid":"x","Effect":"Deny"}}`, `{"a":1,"a":2}`, `{"a":{"b":[{"c":1,"c":2}]}}`, ``, `[]`, `{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseBucketPolicy(s)
		if err != nil {
			return
		}
		if strings.TrimSpace(s) != "" && duplicateKey(s) != "" {
			t.Fatalf("parsed a policy with a duplicate key: %q", s)
		}
		_, _ = withFreeze(canonical(d), FreezeStatement("aws", "b", allowed))
	})
}

// awsLifecycle is the real client with a lifecycle configuration as AWS
// answers it, with its TransitionDefaultMinimumObjectSize (MinIO keeps
// none), and the value each PUT carried.
type awsLifecycle struct {
	*s3.Client
	puts *[]s3types.TransitionDefaultMinimumObjectSize
}

func (a awsLifecycle) GetBucketLifecycleConfiguration(ctx context.Context, in *s3.GetBucketLifecycleConfigurationInput, opts ...func(*s3.Options)) (*s3.GetBucketLifecycleConfigurationOutput, error) {
	out, err := a.Client.GetBucketLifecycleConfiguration(ctx, in, opts...)
	if err == nil {
		out.TransitionDefaultMinimumObjectSize = s3types.TransitionDefaultMinimumObjectSizeVariesByStorageClass
	}
	return out, err
}

func (a awsLifecycle) PutBucketLifecycleConfiguration(ctx context.Context, in *s3.PutBucketLifecycleConfigurationInput, opts ...func(*s3.Options)) (*s3.PutBucketLifecycleConfigurationOutput, error) {
	*a.puts = append(*a.puts, in.TransitionDefaultMinimumObjectSize)
	return a.Client.PutBucketLifecycleConfiguration(ctx, in, opts...)
}

// TestLifecycleKeepsItsTransitionDefault: the lifecycle configuration's
// TransitionDefaultMinimumObjectSize goes back with its rules, in the
// freeze and in the unfreeze: without it AWS resets it to its default.
func TestLifecycleKeepsItsTransitionDefault(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	var puts []s3types.TransitionDefaultMinimumObjectSize
	f := w.freezer()
	f.API = awsLifecycle{Client: w.c, puts: &puts}
	if _, err := f.Freeze(ctx, FreezeOptions{Partition: "aws", Allowed: allowed}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Unfreeze(ctx, UnfreezeOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(puts) != 2 || puts[0] != s3types.TransitionDefaultMinimumObjectSizeVariesByStorageClass || puts[1] != puts[0] {
		t.Errorf("the lifecycle PUTs carried %q, want the configuration's varies_by_storage_class twice", puts)
	}
}
