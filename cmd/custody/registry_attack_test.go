package main

// The hostile examiner deletes a whole stream (issue 13): its manifests,
// every version of its checkpoints and the artifacts it sealed, with
// governance bypass. Nothing of the stream is left to check, so only the
// store's registry of streams can tell: verify, from a machine without
// the ledger, must fail naming the stream.

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/custody/finding"
)

func TestAWholeStreamDeletedFailsFromAFreshMachine(t *testing.T) {
	t.Parallel()
	a := newAttackStore(t)
	b := a.bucket(t, "store", "responder-1")
	// A second responder's stream in the same store (the same ledger: the
	// deletion must be caught with and without it).
	cfg, err := os.ReadFile(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	second := attackBucket{cfg: b.cfg + ".second.yaml", bucket: b.bucket, stream: "responder-2"}
	writeConfig(t, second.cfg, strings.Replace(string(cfg), "stream: responder-1", "stream: responder-2", 1))
	a.add(t, b, "IR-1", "first responder's note")
	a.add(t, second, "IR-2", "second responder's note", "and another")
	a.add(t, second, "IR-2", "a later note")
	for _, args := range [][]string{{"-c", b.cfg, "verify", "--no-ledger"}, {"-c", b.cfg, "verify"}} {
		if out, errOut, code := a.bin.run(t, args...); code != 0 {
			t.Fatalf("untouched store, custody %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}

	ctx := context.Background()
	c := a.env.S3(t)
	removed := 0
	for _, prefix := range []string{"custody/manifests/responder-2/", "custody/cases/IR-2/"} {
		out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(b.bucket), Prefix: aws.String(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			if strings.Contains(prefix, "/cases/") { // the examiner lifts the legal hold first
				if _, err := c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String(b.bucket), Key: v.Key, VersionId: v.VersionId,
					LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}}); err != nil {
					t.Fatalf("lift the legal hold of %s: %v", aws.ToString(v.Key), err)
				}
			}
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: v.Key, VersionId: v.VersionId,
				BypassGovernanceRetention: aws.Bool(true)}); err != nil {
				t.Fatalf("delete %s: %v", aws.ToString(v.Key), err)
			}
			removed++
		}
	}
	if removed < 6 { // 2 manifests, 2 checkpoint versions, 3 artifacts
		t.Fatalf("removed %d versions of stream responder-2, want at least 6", removed)
	}

	for _, args := range [][]string{{"-c", b.cfg, "--json", "verify", "--no-ledger"}, {"-c", b.cfg, "--json", "verify"}} {
		out, errOut, code := a.bin.run(t, args...)
		if code != 1 {
			t.Fatalf("custody %s: exit %d, want 1\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		var report struct {
			Findings []struct {
				Kind    string `json:"kind"`
				Object  string `json:"object"`
				Message string `json:"message"`
			} `json:"findings"`
		}
		if err := json.Unmarshal([]byte(out), &report); err != nil {
			t.Fatalf("custody %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		found := false
		for _, f := range report.Findings {
			if f.Kind == string(finding.StreamMissing) && strings.Contains(f.Object, "manifests/responder-2/") && strings.Contains(f.Message, "2 manifests") {
				found = true
			}
		}
		if !found {
			t.Fatalf("custody %s: no stream-missing finding naming stream responder-2 and its 2 manifests:\n%s", strings.Join(args, " "), out)
		}
	}
}
