package contain

// Freeze outside the aws partition (GovCloud, China): the deny statement
// used to name arn:aws:s3:::BUCKET whatever the caller's partition, so
// that in aws-us-gov or aws-cn it matched nothing and the freeze reported
// success while protecting nothing. MinIO answers in the aws partition and
// refuses a policy naming another's ARNs, so the bucket policy is kept by
// a fake here (the rest of the bucket is MinIO's), and IAM and STS answer
// as a GovCloud or China account would.

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// memPolicy keeps the bucket policy itself, as S3 in another partition
// would take it; every other call goes to MinIO.
type memPolicy struct {
	BucketAPI
	policy string
}

func (m *memPolicy) GetBucketPolicy(context.Context, *s3.GetBucketPolicyInput, ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error) {
	if m.policy == "" {
		return nil, &smithy.GenericAPIError{Code: "NoSuchBucketPolicy", Message: "The bucket policy does not exist"}
	}
	return &s3.GetBucketPolicyOutput{Policy: aws.String(m.policy)}, nil
}

func (m *memPolicy) PutBucketPolicy(_ context.Context, in *s3.PutBucketPolicyInput, _ ...func(*s3.Options)) (*s3.PutBucketPolicyOutput, error) {
	m.policy = aws.ToString(in.Policy)
	return &s3.PutBucketPolicyOutput{}, nil
}

func (m *memPolicy) DeleteBucketPolicy(context.Context, *s3.DeleteBucketPolicyInput, ...func(*s3.Options)) (*s3.DeleteBucketPolicyOutput, error) {
	m.policy = ""
	return &s3.DeleteBucketPolicyOutput{}, nil
}

// partitionIAM is the IAM of account 111122223333 in a partition: every
// role and user named exists there.
type partitionIAM struct {
	partition string
	lookups   int
}

func (p *partitionIAM) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	p.lookups++
	return &iam.GetRoleOutput{Role: &iamtypes.Role{Arn: aws.String("arn:" + p.partition + ":iam::111122223333:role/" + aws.ToString(in.RoleName)), RoleId: aws.String("AROAEXAMPLEPARTROLE")}}, nil
}

func (p *partitionIAM) GetUser(_ context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	p.lookups++
	return &iam.GetUserOutput{User: &iamtypes.User{Arn: aws.String("arn:" + p.partition + ":iam::111122223333:user/" + aws.ToString(in.UserName)), UserId: aws.String("AIDAEXAMPLEPARTUSER")}}, nil
}

// callerIn is a responder's role session in a partition.
func callerIn(partition string) stubCaller {
	return stubCaller{UserId: aws.String("AROAEXAMPLEIRSESSION:x"), Arn: aws.String("arn:" + partition + ":sts::111122223333:assumed-role/ir/x")}
}

// freezeResources are the resources of the policy's freeze statements.
func freezeResources(t *testing.T, policy string) [][]string {
	t.Helper()
	d, err := parseBucketPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, st := range d.statements() {
		if sid(st) != FreezeSid {
			continue
		}
		var rs []string
		b, _ := json.Marshal(st.(map[string]any)["Resource"])
		if err := json.Unmarshal(b, &rs); err != nil {
			t.Fatalf("the freeze statement's Resource %s: %v", b, err)
		}
		sort.Strings(rs)
		out = append(out, rs)
	}
	return out
}

// TestFreezeInOtherPartitions: a freeze run as a GovCloud (China) role
// session names the bucket as arn:aws-us-gov:s3:::B and B/* (arn:aws-cn:
// ...), reads back as frozen in that partition (and as a look-alike, not
// a freeze, in another), and its unfreeze takes the statement out again.
func TestFreezeInOtherPartitions(t *testing.T) {
	for _, partition := range []string{"aws-us-gov", "aws-cn"} {
		t.Run(partition, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			open := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"PublicReadWrite","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:%s:s3:::%s/*"}]}`, partition, w.bucket)
			api := &memPolicy{BucketAPI: w.c, policy: open}
			f := w.freezer()
			f.API = api
			ids := &partitionIAM{partition: partition}
			responder := "arn:" + partition + ":iam::111122223333:role/ir-responder"
			allowed, got, err := ResolveAllowed(ctx, ids, callerIn(partition), []string{responder})
			if err != nil || got != partition || len(allowed) != 2 || allowed[0].ARN != responder || !allowed[1].Caller {
				t.Fatalf("--allow-role %s under a %s caller: %+v, partition %q, %v; want it and the caller allowed, partition %s", responder, partition, allowed, got, err, partition)
			}
			if _, err := f.Freeze(ctx, FreezeOptions{Allowed: allowed, Partition: got}); err != nil {
				t.Fatal(err)
			}
			want := []string{"arn:" + partition + ":s3:::" + w.bucket, "arn:" + partition + ":s3:::" + w.bucket + "/*"}
			if rs := freezeResources(t, api.policy); len(rs) != 1 || strings.Join(rs[0], " ") != strings.Join(want, " ") {
				t.Fatalf("the freeze statement's resources: %q, want %q (in the caller's partition): it denies nothing otherwise\n%s", rs, want, api.policy)
			}
			if strings.Contains(api.policy, "arn:aws:") {
				t.Errorf("the frozen policy names the aws partition: %s", api.policy)
			}
			if st, err := ReadFreeze(ctx, api, partition, w.bucket); err != nil || !st.Frozen || st.LookAlike || !st.Allows("AROAEXAMPLEPARTROLE:alice") {
				t.Errorf("the freeze read back in %s: %+v, %v; want frozen, allowing the responder", partition, st, err)
			}
			if st, err := ReadFreeze(ctx, api, "aws", w.bucket); err != nil || st.Frozen || !st.LookAlike {
				t.Errorf("the %s freeze read by an aws caller: %+v, %v; want a look-alike, not a freeze", partition, st, err)
			}
			if again, err := f.Freeze(ctx, FreezeOptions{Allowed: allowed, Partition: got}); err != nil || !again.Already {
				t.Errorf("freezing again: %+v, %v; want already frozen", again, err)
			}

			res, err := f.Unfreeze(ctx, UnfreezeOptions{})
			if err != nil || res.Phase != PhaseUnfrozen {
				t.Fatalf("unfreeze: %+v, %v", res, err)
			}
			if !samePolicy(api.policy, open) || len(freezeResources(t, api.policy)) != 0 {
				t.Errorf("the policy after unfreeze:\n%s\nwant, as before the freeze:\n%s", api.policy, open)
			}
			if res, err := f.Unfreeze(ctx, UnfreezeOptions{}); err != nil || !res.Already {
				t.Errorf("unfreezing again: %+v, %v; want already unfrozen", res, err)
			}
		})
	}
}

// TestAllowRoleOfAnotherPartition: under a GovCloud caller an --allow-role
// of the aws partition (or of China) is refused before IAM is asked (IAM
// would look up a namesake in GovCloud), naming both partitions; a caller
// whose ARN names no partition is refused, not taken for aws; and a
// freeze with no partition changes nothing.
func TestAllowRoleOfAnotherPartition(t *testing.T) {
	ctx := context.Background()
	for caller, role := range map[string]string{
		"aws-us-gov": "arn:aws:iam::111122223333:role/ir-responder",
		"aws-cn":     "arn:aws-us-gov:iam::111122223333:user/analyst",
		"aws":        "arn:aws-cn:iam::111122223333:role/ir-responder",
	} {
		ids := &partitionIAM{partition: caller}
		_, _, err := ResolveAllowed(ctx, ids, callerIn(caller), []string{role})
		other := strings.Split(role, ":")[1]
		if err == nil || !strings.Contains(err.Error(), "is in partition "+other+",") || !strings.Contains(err.Error(), "of partition "+caller) || ids.lookups != 0 {
			t.Errorf("--allow-role %s under a %s caller: %v (%d IAM lookups); want it refused before any lookup, naming both partitions", role, caller, err, ids.lookups)
		}
	}
	for _, arn := range []string{"", "AROAEXAMPLEIRSESSION:x", "arn:aws:s3:::not-an-identity", "arn:aws-us-gov:sts::1111:assumed-role/ir/x"} {
		_, _, err := ResolveAllowed(ctx, &partitionIAM{partition: "aws"}, stubCaller{UserId: aws.String("AROAEXAMPLEIRSESSION:x"), Arn: aws.String(arn)}, []string{"arn:aws:iam::111122223333:role/ir-responder"})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", arn)) {
			t.Errorf("a caller ARN %q: %v; want it refused, named", arn, err)
		}
	}
	w := newWorld(t)
	before := w.settings()
	if _, err := w.freezer().Freeze(ctx, FreezeOptions{Allowed: allowed}); err == nil || !strings.Contains(err.Error(), "partition is unknown") {
		t.Errorf("a freeze without a partition: %v; want it refused", err)
	}
	if !samePolicy(w.settings().Policy, before.Policy) {
		t.Errorf("a refused freeze changed the policy: %s", w.settings().Policy)
	}
}

// TestPartitionLookAlikes: a CustodyFreeze statement is a freeze only in
// the caller's partition and for its bucket: one naming another partition
// (the statement an older custody wrote in GovCloud, which denies
// nothing), another bucket, or both partitions, is a look-alike; a freeze
// finds such a statement in its way and refuses, and a sealed freeze of
// another partition is not taken for "already frozen".
func TestPartitionLookAlikes(t *testing.T) {
	ctx := context.Background()
	stmt := func(partition, bucket string, edit func(m map[string]any)) string {
		m := FreezeStatement(partition, bucket, allowed)
		if edit != nil {
			edit(m)
		}
		return `{"Version":"2012-10-17","Statement":[` + canonical(m) + `]}`
	}
	if st, err := ReadFreeze(ctx, policyOnly(stmt("aws-us-gov", "b", nil)), "aws-us-gov", "b"); err != nil || !st.Frozen || st.LookAlike {
		t.Errorf("the GovCloud freeze: %+v, %v; want frozen", st, err)
	}
	for name, p := range map[string]string{
		"the aws partition":    stmt("aws", "b", nil),
		"China":                stmt("aws-cn", "b", nil),
		"another bucket":       stmt("aws-us-gov", "c", nil),
		"both partitions":      stmt("aws-us-gov", "b", func(m map[string]any) { m["Resource"] = []string{"arn:aws:s3:::b", "arn:aws-us-gov:s3:::b/*"} }),
		"an extra partition":   stmt("aws-us-gov", "b", func(m map[string]any) { m["Resource"] = append(bucketARNs("aws-us-gov", "b"), "arn:aws:s3:::b/*") }),
		"a wildcard partition": stmt("aws-us-gov", "b", func(m map[string]any) { m["Resource"] = []string{"arn:*:s3:::b", "arn:*:s3:::b/*"} }),
	} {
		st, err := ReadFreeze(ctx, policyOnly(p), "aws-us-gov", "b")
		if err != nil || st.Frozen || !st.LookAlike {
			t.Errorf("%s, read under a GovCloud caller: %+v, %v; want a look-alike, not a freeze", name, st, err)
		}
	}
	if p, err := Partition(ctx, callerIn("aws-us-gov")); p != "aws-us-gov" || err != nil {
		t.Errorf("the partition of a GovCloud caller (what recover reads the freeze with): %q, %v", p, err)
	}
	if _, err := ReadFreeze(ctx, policyOnly(stmt("aws", "b", nil)), "", "b"); err == nil {
		t.Error("ReadFreeze with no partition: want an error, not a guess")
	}

	w := newWorld(t)
	api := &memPolicy{BucketAPI: w.c, policy: stmt("aws", w.bucket, nil)}
	f := w.freezer()
	f.API = api
	if _, err := f.Freeze(ctx, FreezeOptions{Allowed: allowed, Partition: "aws-us-gov"}); err == nil || !strings.Contains(err.Error(), "custody did not write") {
		t.Errorf("a GovCloud freeze over an aws-partition %s statement: %v; want it refused as a look-alike", FreezeSid, err)
	}

	// A freeze sealed with an aws-partition statement (as custody wrote it
	// in GovCloud before), run again by a GovCloud caller.
	g := newWorld(t)
	if _, err := g.freezer().Freeze(ctx, FreezeOptions{Allowed: allowed, Partition: "aws"}); err != nil {
		t.Fatal(err)
	}
	res, err := g.freezer().Freeze(ctx, FreezeOptions{Allowed: allowed, Partition: "aws-us-gov"})
	if err == nil || res.Already || !strings.Contains(err.Error(), `partition "aws"`) || !strings.Contains(err.Error(), "partition aws-us-gov") || !strings.Contains(err.Error(), "custody unfreeze") {
		t.Errorf("re-running an aws-partition freeze under a GovCloud caller: %+v, %v; want it refused, naming both partitions", res, err)
	}
}
