package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/internal/testaws"
)

// TestCrashFreeze kills custody freeze, then custody unfreeze, with
// SIGKILL at seeded random points, and runs each again until it ends: the
// bucket must end frozen (an anonymous write refused, the expiring rule
// suspended), then exactly as before (the write taken again, the rule
// back), and the store must verify, whatever was cut.
func TestCrashFreeze(t *testing.T) {
	w := getWorld(t)
	trials, seed := crashTrials()
	ctx := context.Background()
	c := s3Client(w.env)
	ev := newEvidence(t, w, "")
	role, err := testaws.CreateRole(ctx, iam.NewFromConfig(w.env.Config(t).AWS), &iam.CreateRoleInput{RoleName: aws.String("crash-freeze-" + fmt.Sprint(time.Now().UnixNano())),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	exposed := func(t *testing.T) string {
		b := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
		if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(b), Policy: aws.String(fmt.Sprintf(
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::%s/*"}]}`, b))}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(b), LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{
			{ID: aws.String("expire"), Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("")}, NoncurrentVersionExpiration: &s3types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}},
		}}}); err != nil {
			t.Fatal(err)
		}
		return b
	}
	state := func(b string) (anonymous int, rule s3types.ExpirationStatus, frozen bool) {
		req, _ := http.NewRequest(http.MethodPut, w.env.S3Endpoint+"/"+b+"/probe", strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		lc, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(b)})
		if err != nil || len(lc.Rules) != 1 {
			t.Fatalf("lifecycle of %s: %v", b, err)
		}
		pol, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(b)})
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, lc.Rules[0].Status, strings.Contains(aws.ToString(pol.Policy), "CustodyFreeze")
	}
	args := func(verb, b string) []string {
		a := []string{verb, "--bucket", b, "--case", "IR-CRASH", "--yes"}
		if verb == "freeze" {
			a = append(a, "--allow-role", aws.ToString(role.Role.Arn))
		}
		return a
	}
	timed := func(verb, b string) time.Duration {
		start := time.Now()
		if out, code := ev.run(t, nil, w.custody, args(verb, b)...); code != 0 {
			t.Fatalf("uninterrupted %s: exit %d\n%s", verb, code, out)
		}
		return time.Since(start)
	}
	b0 := exposed(t)
	full := map[string]time.Duration{"freeze": timed("freeze", b0), "unfreeze": timed("unfreeze", b0)}
	t.Logf("uninterrupted: freeze %v, unfreeze %v; %d trials, seed %d", full["freeze"].Round(time.Millisecond), full["unfreeze"].Round(time.Millisecond), trials, seed)

	var landed, violations int
	for i := 0; i < trials; i++ {
		b := exposed(t)
		rng := rand.New(rand.NewPCG(seed, uint64(2000+i)))
		for _, verb := range []string{"freeze", "unfreeze"} {
			delay := time.Duration(rng.Int64N(int64(full[verb])))
			cmd := w.command(context.Background(), []string{"CUSTODY_CONFIG=" + ev.config}, w.custody, args(verb, b)...)
			var out testaws.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			killed := killAfter(t, cmd, delay)
			if killed {
				landed++
			}
			runs := 0
			for ; runs < 3; runs++ {
				o, code := ev.run(t, nil, w.custody, args(verb, b)...)
				if code == 0 {
					break
				}
				t.Logf("trial %d: %s re-run %d: exit %d\n%s", i, verb, runs, code, tail(o, 10))
			}
			anon, rule, frozen := state(b)
			want := verb == "freeze"
			if frozen != want || (anon == http.StatusForbidden) != want || (rule == s3types.ExpirationStatusDisabled) != want || runs == 3 {
				violations++
				t.Errorf("trial %d (seed %d): %s killed at %v (landed %v), %d re-runs: anonymous write HTTP %d, rule %s, freeze statement %v",
					i, seed, verb, delay, killed, runs, anon, rule, frozen)
			}
			t.Logf("trial %2d: %-8s kill at %6v (landed %v); done in %d more run(s)", i, verb, delay.Round(time.Millisecond), killed, runs+1)
		}
	}
	if out, code := ev.run(t, nil, w.custody, "verify"); code != 0 {
		violations++
		t.Errorf("verify after the killed freezes: exit %d\n%s", code, tail(out, 30))
	}
	t.Logf("SUMMARY crash-freeze: %d trials (seed %d), %d kills landed, %d invariant violations", trials, seed, landed, violations)
}
