package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
	recovery "github.com/custody-ir/custody/recover"
)

// TestEvidenceBucketRefused: recover never changes a custody evidence
// store. A store made as `custody store init` and `custody add` make it
// (COMPLIANCE mode) is refused with exit 2 and left as it was: found by its
// keys without a configuration, by store.bucket with one, whatever
// --prefix, --force or --remove-new say, and on --resume of a job
// journalled for it.
func TestEvidenceBucketRefused(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c := e.S3(t)
	cfgFile, cfg, _ := evidenceStore(t, "responder")
	store := cfg.Store
	// What `custody add --case IR-7` does: a case file, sealed.
	addCase := func(name, body string) {
		ev, err := cli.OpenEvidence(ctx, cfg, time.Now, os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Close()
		run, err := ev.Chain.StartRun(ctx, "add")
		if err != nil {
			t.Fatal(err)
		}
		key := custody.CaseKey(store.Prefix, "IR-7", time.Now(), run.ID, name)
		if _, err := run.Put(ctx, key, strings.NewReader(body), custody.PutOptions{Kind: "file", Case: "IR-7"}); err != nil {
			t.Fatal(err)
		}
		if _, err := run.Seal(ctx, custody.SealRequest{Event: custody.EventAdd, Case: "IR-7"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	addCase("dump.raw", "memory")
	target := testaws.Cut().Format(time.RFC3339Nano)
	addCase("notes.md", "later notes") // a new artifact, a new manifest, a rewritten checkpoint
	before := versions(t, c, store.Bucket)
	journal := filepath.Join(t.TempDir(), "journal.db")

	for _, args := range [][]string{
		{"--bucket", store.Bucket, "--since", target, "--remove-new", "--yes", "--ledger", journal},
		{"--bucket", store.Bucket, "--since", target, "--remove-new", "--yes", "--force", "--prefix", "custody/cases/", "--ledger", journal},
		{"--bucket", store.Bucket, "--since", target, "--dry-run"},
	} {
		out, code := run(t, args...)
		if code != cli.ExitUsage || !strings.Contains(out, "s3://"+store.Bucket+" holds custody evidence (it has custody manifests") || strings.Contains(out, "plan for") {
			t.Errorf("recover %v: exit %d, want 2 refusing the evidence bucket\n%s", args, code, out)
		}
	}
	out, code := run(t, "--bucket", store.Bucket, "--since", target, "--remove-new", "--yes", "--config", cfgFile, "--prefix", "nothing-here/")
	if code != cli.ExitUsage || !strings.Contains(out, "it is store.bucket in "+cfgFile) {
		t.Errorf("recover --config on its own store: exit %d\n%s", code, out)
	}

	// A job journalled for the store (by an older recover, or by hand) is
	// refused on --resume too.
	l, err := ledger.Open(ctx, journal)
	if err != nil {
		t.Fatal(err)
	}
	cp := custody.CheckpointKey(store.Prefix, "responder")
	hide, _ := json.Marshal(recovery.Action{Kind: recovery.HideNew, Key: cp})
	tt, _ := time.Parse(time.RFC3339Nano, target)
	if err := l.CreateRecoveryJob(ctx, "recover-old", store.Bucket, "", tt, "{}", []ledger.RecoveryAction{{Seq: 0, Kind: recovery.HideNew, Key: cp, Detail: string(hide), State: "planned"}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if out, code := run(t, "--resume", "recover-old", "--ledger", journal, "--yes"); code != cli.ExitUsage || !strings.Contains(out, "holds custody evidence") {
		t.Errorf("resume of a job for the store: exit %d\n%s", code, out)
	}
	if after := versions(t, c, store.Bucket); after != before {
		t.Fatalf("recover changed the evidence store:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// TestLockedBucketWithCustodyLayoutRefused: a bucket with Object Lock whose
// keys follow custody's artifact layout is refused even without a manifest
// in sight; a store deeper than the probe reaches is refused by planning;
// an ordinary locked bucket is recovered as any other.
func TestLockedBucketWithCustodyLayoutRefused(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c := e.S3(t)
	put := func(bucket, key string, body ...string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("x" + strings.Join(body, ""))}); err != nil {
			t.Fatal(err)
		}
	}
	locked := testaws.CreateBucket(t, c, testaws.BucketOptions{ObjectLock: true, Mode: types.ObjectLockRetentionModeGovernance, Days: 1})
	put(locked, custody.ArtifactKey("ir", "123456789012", "us-east-1", "posture", time.Now(), custody.NewRunID(time.Now()), "posture.json"))
	out, code := run(t, "--bucket", locked, "--since", "1h", "--force", "--dry-run")
	if code != cli.ExitUsage || !strings.Contains(out, "Object Lock is on and its keys follow custody's layout") {
		t.Errorf("locked bucket in custody's layout: exit %d\n%s", code, out)
	}

	deep := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	put(deep, "data/file.txt")
	put(deep, custody.ManifestKey("a/b/c", "agent", 1))
	out, code = run(t, "--bucket", deep, "--since", "1h", "--force", "--dry-run", "--prefix", "a/")
	if code != cli.ExitUsage || !strings.Contains(out, "it has custody manifests, such as a/b/c/manifests/agent/000000000001.dsse.json") {
		t.Errorf("store three folders down: exit %d\n%s", code, out)
	}

	// A store after a first page of 1,200 keys at the root is still found
	// by the probe, though the plan (--prefix a0) never lists it.
	wide := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := 0; i < 1200; i++ {
		g.Go(func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(wide), Key: aws.String(fmt.Sprintf("a%04d", i)), Body: strings.NewReader("x")})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	put(wide, custody.CheckpointKey("custody", "agent"))
	out, code = run(t, "--bucket", wide, "--since", "1h", "--force", "--dry-run", "--prefix", "a0")
	if code != cli.ExitUsage || !strings.Contains(out, "such as custody/manifests/agent/checkpoint.dsse.json") {
		t.Errorf("store past the first page of the root: exit %d\n%s", code, out)
	}

	plain := testaws.CreateBucket(t, c, testaws.BucketOptions{ObjectLock: true})
	put(plain, "reports/2026/11/q4.pdf")
	target := testaws.Cut().Format(time.RFC3339Nano)
	put(plain, "reports/2026/11/q4.pdf", "encrypted")
	if out, code := run(t, "--bucket", plain, "--since", target, "--dry-run"); code != 0 || !strings.Contains(out, "copy back reports/2026/11/q4.pdf") {
		t.Errorf("ordinary locked bucket: exit %d\n%s", code, out)
	}
}
