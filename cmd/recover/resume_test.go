package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

// buildRecover builds the recover binary for a test.
func buildRecover(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "recover")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// runBin runs the binary with stdin not a terminal (/dev/null).
func runBin(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

// versions lists every version and delete marker of a bucket, with its
// ETag and whether it is current: equal snapshots mean nothing changed.
func versions(t *testing.T, c *s3.Client, bucket string) string {
	t.Helper()
	var lines []string
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			lines = append(lines, fmt.Sprintf("%s %s %s %v", aws.ToString(v.Key), aws.ToString(v.VersionId), aws.ToString(v.ETag), aws.ToBool(v.IsLatest)))
		}
		for _, m := range page.DeleteMarkers {
			lines = append(lines, fmt.Sprintf("%s %s marker %v", aws.ToString(m.Key), aws.ToString(m.VersionId), aws.ToBool(m.IsLatest)))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// damagedBucket writes n keys, then overwrites them all after a target
// time it returns.
func damagedBucket(t *testing.T, c *s3.Client, n int) (bucket, target string, key func(int) string) {
	t.Helper()
	ctx := context.Background()
	bucket = testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	key = func(i int) string { return fmt.Sprintf("k/%04d", i) }
	each := func(body func(int) string) {
		g, _ := errgroup.WithContext(ctx)
		g.SetLimit(32)
		for i := 0; i < n; i++ {
			g.Go(func() error {
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key(i)), Body: strings.NewReader(body(i))})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	each(func(i int) string { return fmt.Sprint("good ", i) })
	target = testaws.Cut().Format(time.RFC3339Nano)
	each(func(int) string { return "bad" })
	return bucket, target, key
}

// restored counts keys back at their good content (longer than "bad").
func restored(t *testing.T, c *s3.Client, bucket string, n int, key func(int) string) int {
	t.Helper()
	done := 0
	for i := 0; i < n; i++ {
		if h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key(i))}); err == nil && aws.ToInt64(h.ContentLength) != 3 {
			done++
		}
	}
	return done
}

// TestInterruptedJobResume interrupts a real journalled job with SIGINT,
// then: the interrupt reports only the actions that finished and how to
// resume; --resume --dry-run without a terminal prints what is left and
// changes nothing, neither the bucket nor the journal; --resume without
// --yes and without a terminal is refused; --resume with a bucket and time
// other than the job's is refused naming the job's; with --yes (and flags
// that agree with the journal) it finishes the job.
func TestInterruptedJobResume(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c := e.S3(t)
	bin := buildRecover(t)
	const n = 300
	bucket, target, key := damagedBucket(t, c, n)
	journal := filepath.Join(t.TempDir(), "journal.db")

	cmd := exec.Command(bin, "--bucket", bucket, "--since", target, "--yes", "--ledger", journal, "--concurrency", "1")
	var out testaws.Buffer
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = &out, io.MultiWriter(&out, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	jobRE := regexp.MustCompile(`(?m)^job (recover-\S+) \(resume with: recover --resume (\S+) --ledger (\S+)\)$`)
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := jobRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	var m []string
	select {
	case m = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("recover printed no job line:\n%s", out.String())
	}
	job := m[1]
	if m[2] != job || m[3] != journal {
		t.Fatalf("resume hint %q, want the job and the journal's absolute path %s", m[0], journal)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && restored(t, c, bucket, 40, key) < 2; {
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	pw.Close()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != cli.ExitCanceled {
		t.Fatalf("interrupted recover: %v, want exit 130\n%s", err, out.String())
	}
	intRE := regexp.MustCompile(`(?m)^interrupted after (\d+) of (\d+) actions; resume with: recover --resume (\S+) --ledger (\S+)$`)
	im := intRE.FindStringSubmatch(out.String())
	if im == nil || im[2] != strconv.Itoa(n) || im[3] != job || im[4] != journal {
		t.Fatalf("no interrupt report for job %s of %d actions:\n%s", job, n, out.String())
	}
	done, _ := strconv.Atoi(im[1])
	if strings.Contains(out.String(), fmt.Sprintf("applied %d/%d", n, n)) || strings.Contains(out.String(), "FAILED") {
		t.Fatalf("progress or summary counted actions that never ran:\n%s", out.String())
	}
	// Only finished actions are counted; one in flight may have landed
	// as the interrupt came (concurrency 1).
	if got := restored(t, c, bucket, n, key); done >= n || got < done || got > done+1 {
		t.Fatalf("interrupt reported %d of %d actions done, %d keys are restored:\n%s", done, n, got, out.String())
	}
	t.Logf("interrupted after %d of %d", done, n)

	before := versions(t, c, bucket)
	journalled := journalStates(t, journal, job)

	dry, code := runBin(t, bin, "--resume", job, "--ledger", journal, "--dry-run")
	if code != 0 || !strings.Contains(dry, fmt.Sprintf("%d of %d action(s) done before, %d left", done, n, n-done)) || strings.Count(dry, "  copy back k/") != n-done {
		t.Fatalf("resume --dry-run: exit %d, want the %d actions left listed\n%s", code, n-done, dry)
	}
	if versions(t, c, bucket) != before || journalStates(t, journal, job) != journalled {
		t.Fatalf("resume --dry-run changed the bucket or the journal\n%s", dry)
	}

	refused, code := runBin(t, bin, "--resume", job, "--ledger", journal)
	if code != cli.ExitUsage || !strings.Contains(refused, "--yes") || strings.Contains(refused, "copy back") {
		t.Fatalf("resume without --yes and no terminal: exit %d\n%s", code, refused)
	}
	other, code := runBin(t, bin, "--resume", job, "--ledger", journal, "--bucket", bucket+"-other", "--since", "1h", "--yes")
	if code != cli.ExitUsage || !strings.Contains(other, "s3://"+bucket+"/") || !strings.Contains(other, target[:19]) || !strings.Contains(other, "--bucket "+bucket+"-other") {
		t.Fatalf("resume with another bucket and time: exit %d, want 2 naming the job's bucket and time\n%s", code, other)
	}
	if versions(t, c, bucket) != before || journalStates(t, journal, job) != journalled {
		t.Fatal("a refused resume changed the bucket or the journal")
	}

	fin, code := runBin(t, bin, "--resume", job, "--ledger", journal, "--bucket", bucket, "--since", target, "--yes")
	if code != 0 || !strings.Contains(fin, "verified: every key is back") || !strings.Contains(fin, fmt.Sprintf("%d of %d action(s) applied", n-done, n-done)) {
		t.Fatalf("resume --yes: exit %d\n%s", code, fin)
	}
	for i := 0; i < n; i++ {
		v, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key(i))})
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Versions) != 3 {
			t.Fatalf("%s has %d versions after interrupt and resume, want 3 (good, bad, one copy)", key(i), len(v.Versions))
		}
	}
}

// journalStates is every action's state in the journal.
func journalStates(t *testing.T, path, job string) string {
	t.Helper()
	l, err := ledger.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, _, _, acts, err := l.RecoveryJob(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, a := range acts {
		fmt.Fprintf(&b, "%d %s %s\n", a.Seq, a.State, a.Error)
	}
	return b.String()
}
