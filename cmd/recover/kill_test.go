package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/internal/testaws"
)

// TestKillAndResume runs the recover binary, kills it with SIGKILL in the
// middle of applying, and resumes the job: every key ends at its target
// with exactly one copy made.
func TestKillAndResume(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c := e.S3(t)
	bin := filepath.Join(t.TempDir(), "recover")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	bucket := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	const n = 1200
	each := func(f func(i int) error) {
		g, _ := errgroup.WithContext(ctx)
		g.SetLimit(32)
		for i := 0; i < n; i++ {
			g.Go(func() error { return f(i) })
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	key := func(i int) string { return fmt.Sprintf("k/%04d", i) }
	each(func(i int) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key(i)), Body: strings.NewReader(fmt.Sprint("good ", i))})
		return err
	})
	target := testaws.Cut().Format(time.RFC3339Nano)
	each(func(i int) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key(i)), Body: strings.NewReader("bad")})
		return err
	})

	journal := filepath.Join(t.TempDir(), "journal.db")
	cmd := exec.Command(bin, "--bucket", bucket, "--since", target, "--yes", "--ledger", journal, "--concurrency", "2")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	jobRE := regexp.MustCompile(`^job (recover-\S+)`)
	job := ""
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := jobRE.FindStringSubmatch(sc.Text()); m != nil {
			job = m[1]
			break
		}
	}
	if job == "" {
		t.Fatal("recover printed no job id")
	}
	// Let it apply part of the plan, then kill it outright.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		restored := 0
		for i := 0; i < n; i += 20 {
			if h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key(i))}); err == nil && aws.ToInt64(h.ContentLength) != 3 {
				restored++
			}
		}
		if restored >= 3 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: the error says so
	left := 0
	for i := 0; i < n; i++ {
		if h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key(i))}); err == nil && aws.ToInt64(h.ContentLength) == 3 {
			left++
		}
	}
	if left == 0 {
		t.Fatal("recover finished before it was killed: nothing left to resume")
	}
	t.Logf("killed with %d of %d keys still to restore", left, n)

	out, code := run(t, "--resume", job, "--ledger", journal, "--yes")
	if code != 0 || !strings.Contains(out, "verified: every key is back") {
		t.Fatalf("resume: exit %d\n%s", code, out)
	}
	for i := 0; i < n; i++ {
		v, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key(i))})
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Versions) != 3 {
			t.Fatalf("%s has %d versions after kill and resume, want 3 (good, bad, one copy)", key(i), len(v.Versions))
		}
	}
}
