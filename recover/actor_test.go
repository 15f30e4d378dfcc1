package recovery

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/testaws"
)

// TestActorPlanLeavesAKeyWrittenSinceThePlan: between planning and
// applying recover --actor, the application writes a key the attacker
// overwrote. The planned copy-back is not applied (ErrChangedSincePlan):
// the application's write stays current.
func TestActorPlanLeavesAKeyWrittenSinceThePlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := testaws.Require(t).S3(t)
	bucket := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	put := func(body string) string {
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VersionId)
	}
	put("original")
	since := testaws.Cut()
	bad := put("ransom note")
	plan, err := PlanActor(ctx, c, bucket, ActorOptions{Actor: "access key AKIA", Since: since, Until: time.Now(),
		Writes: []Write{{Key: "k", VersionID: bad, Action: "PutObject", EventID: "e1", Actor: true}}})
	if err != nil || len(plan.Actions) != 1 || plan.Actions[0].Kind != CopyBack || plan.Actions[0].IfCurrent != bad {
		t.Fatalf("plan: %+v, %v", plan, err)
	}
	put("the application's write, after the plan")
	sum, err := newApplier(t, c).Start(ctx, "job-1", plan)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Failed) != 1 || !strings.Contains(sum.Failed[0].Error, ErrChangedSincePlan.Error()) || sum.Copied != 0 {
		t.Fatalf("summary: %+v", sum)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if b, _ := io.ReadAll(out.Body); string(b) != "the application's write, after the plan" {
		t.Fatalf("k is %q: recover --actor overwrote a write made after its plan", b)
	}
}

// TestDecideActorUncovered: what the evidence does not cover is reported,
// never guessed: a write naming no version, and a version the actor
// overwrote that someone the evidence does not show wrote in the window.
func TestDecideActorUncovered(t *testing.T) {
	since := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	o := ActorOptions{Actor: "access key AKIA", Since: since}
	live := []entry{{versionID: "a1", at: since.Add(2 * time.Hour)}, {versionID: "x1", at: since.Add(time.Hour)}, {versionID: "v0", at: since.Add(-time.Hour)}}
	a, ok := decideActor("k", live, []Write{{Key: "k", VersionID: "a1", Actor: true, EventID: "e1"}}, o)
	if !ok || a.Kind != Uncovered || !strings.Contains(a.Evidence, "x1") {
		t.Fatalf("an overwritten version of an unknown writer in the window: %+v", a)
	}
	a, ok = decideActor("k", live, []Write{{Key: "k", Actor: true, EventID: "e2", Action: "DeleteObjects"}}, o)
	if !ok || a.Kind != Uncovered || !strings.Contains(a.Evidence, "names no version") {
		t.Fatalf("a write naming no version: %+v", a)
	}
	// The same overwritten version, written by the application (known):
	// restored.
	a, ok = decideActor("k", live, []Write{{Key: "k", VersionID: "a1", Actor: true}, {Key: "k", VersionID: "x1", Principal: "app"}}, o)
	if !ok || a.Kind != CopyBack || a.VersionID != "x1" || a.IfCurrent != "a1" {
		t.Fatalf("an overwritten version of a known writer: %+v", a)
	}
}
