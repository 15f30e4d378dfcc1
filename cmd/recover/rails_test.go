package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/testaws"
)

// runOnTerminal runs recover as if stdin were a terminal answering answer.
func runOnTerminal(t *testing.T, answer string, args ...string) (string, int) {
	t.Helper()
	return runOnTerminalCtx(context.Background(), strings.NewReader(answer), args...)
}

func runOnTerminalCtx(ctx context.Context, stdin io.Reader, args ...string) (string, int) {
	var out bytes.Buffer
	g := &globals{stdin: stdin, stdout: &out, stderr: &out, now: time.Now, interactive: true}
	root := newRootCommand(g)
	root.SetArgs(args)
	code := exitCode(root.ExecuteContext(ctx), &out)
	return out.String(), code
}

// smallDamage: a.txt overwritten, b.txt deleted, new.txt created after the
// target: two actions that change the bucket and one reported key.
func smallDamage(t *testing.T) (c *s3.Client, bucket, target string) {
	t.Helper()
	e := testaws.Require(t)
	e.Setenv(t)
	ctx := context.Background()
	c = e.S3(t)
	bucket = testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	put := func(k, body string) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put("a.txt", "good")
	put("b.txt", "keep")
	target = testaws.Cut().Format(time.RFC3339Nano)
	put("a.txt", "bad")
	put("new.txt", "planted")
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("b.txt")}); err != nil {
		t.Fatal(err)
	}
	return c, bucket, target
}

// TestConfirmation: the prompt repeats the counts per kind, accepts y and
// yes in any case, and the prompt, the progress and the summary give the
// same number of actions (a reported new key is not one). Without a
// terminal and --yes, the refusal comes before any line of the plan.
func TestConfirmation(t *testing.T) {
	c, bucket, target := smallDamage(t)
	journal := filepath.Join(t.TempDir(), "journal.db")
	before := versions(t, c, bucket)

	out, code := run(t, "--bucket", bucket, "--since", target, "--ledger", journal)
	if code != cli.ExitUsage || !strings.Contains(out, "--yes") || !strings.Contains(out, "2 action(s): 1 copy (4 B), 1 remove-markers (4 B); reported only: 1 new-key") ||
		strings.Contains(out, "copy back a.txt") || strings.Contains(out, "plan for s3://"+bucket+"/ at") {
		t.Fatalf("no terminal, no --yes: exit %d, want 2 with the counts and no plan lines\n%s", code, out)
	}
	if out, code := run(t, "--bucket", bucket, "--since", target, "--dry-run"); code != 0 || !strings.Contains(out, "copy back a.txt") {
		t.Fatalf("--dry-run lists the plan: exit %d\n%s", code, out)
	}
	for _, no := range []string{"n\n", "\n", "yess\n", ""} {
		out, code := runOnTerminal(t, no, "--bucket", bucket, "--since", target, "--ledger", journal)
		if code != cli.ExitUsage || !strings.Contains(out, "not confirmed") {
			t.Fatalf("answer %q: exit %d\n%s", no, code, out)
		}
	}
	// Ctrl-C at the prompt stops at once, with no answer typed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(500*time.Millisecond, cancel) // as SIGINT does
	pr, pw := io.Pipe()
	defer pw.Close()
	if out, code := runOnTerminalCtx(ctx, pr, "--bucket", bucket, "--since", target, "--ledger", journal); code != cli.ExitCanceled || !strings.Contains(out, "[y/N]") {
		t.Fatalf("interrupt at the prompt: exit %d\n%s", code, out)
	}
	if versions(t, c, bucket) != before {
		t.Fatal("refused or unconfirmed runs changed the bucket")
	}
	out, code = runOnTerminal(t, " YES\n", "--bucket", bucket, "--since", target, "--ledger", journal)
	for _, want := range []string{
		"the plan for s3://" + bucket + " has 2 action(s): 1 copy (4 B), 1 remove-markers (4 B); reported only: 1 new-key\napply 2 action(s) to s3://" + bucket + "? [y/N] ",
		"applied 2/2 actions",
		"2 of 2 action(s) applied",
		"verified: every key is back",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("answer YES: exit %d, want %q in\n%s", code, want, out)
		}
	}
	if strings.Contains(out, "/3 actions") || strings.Contains(out, "3 action(s)") {
		t.Fatalf("a reported key counted as an action:\n%s", out)
	}
	// y, lower case, on a second damage.
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a.txt"), Body: strings.NewReader("worse")}); err != nil {
		t.Fatal(err)
	}
	if out, code := runOnTerminal(t, "y\n", "--bucket", bucket, "--since", target, "--ledger", journal); code != 0 || !strings.Contains(out, "1 of 1 action(s) applied") {
		t.Fatalf("answer y: exit %d\n%s", code, out)
	}
}

// TestGuardRails: a target before the oldest version is refused unless
// --force, saying what would happen; a prefix that matches nothing warns.
func TestGuardRails(t *testing.T) {
	c, bucket, _ := smallDamage(t)
	before := versions(t, c, bucket)
	journal := filepath.Join(t.TempDir(), "journal.db")
	out, code := run(t, "--bucket", bucket, "--since", "1h", "--remove-new", "--yes", "--ledger", journal)
	if code != cli.ExitUsage || !strings.Contains(out, "before the oldest version in s3://"+bucket) || !strings.Contains(out, "all 2 key(s) there now would be hidden") || !strings.Contains(out, "--force") {
		t.Fatalf("--since before the oldest version: exit %d\n%s", code, out)
	}
	if versions(t, c, bucket) != before {
		t.Fatal("the refused run changed the bucket")
	}
	if out, code := run(t, "--bucket", bucket, "--since", "1h", "--remove-new", "--dry-run", "--force"); code != 0 || strings.Count(out, "hide new key") != 2 {
		t.Fatalf("--force: exit %d\n%s", code, out)
	}
	out, code = run(t, "--bucket", bucket, "--since", "1h", "--dry-run", "--prefix", "no-such/")
	if code != 0 || !strings.Contains(out, `warning: no key in s3://`+bucket+` matches --prefix "no-such/"`) {
		t.Fatalf("--prefix matching nothing: exit %d\n%s", code, out)
	}
}

// TestJournalInStateDir: the journal defaults to $XDG_STATE_HOME/custody
// (else ~/.local/state/custody), created 0700, named in full in the resume
// hint; a dry run creates nothing; a directory that cannot be created is
// exit 2 naming it, before any S3 call.
func TestJournalInStateDir(t *testing.T) {
	_, bucket, target := smallDamage(t)
	state := filepath.Join(t.TempDir(), "state")
	t.Setenv("XDG_STATE_HOME", state)
	journal := filepath.Join(state, "custody", "recover-journal.db")
	if out, code := run(t, "--bucket", bucket, "--since", target, "--dry-run"); code != 0 {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("a dry run created %s: %v", state, err)
	}
	out, code := run(t, "--bucket", bucket, "--since", target, "--yes")
	if code != 0 || !strings.Contains(out, "(resume with: recover --resume recover-") || !strings.Contains(out, " --ledger "+journal+")") {
		t.Fatalf("apply: exit %d, want the journal %s in the hint\n%s", code, journal, out)
	}
	fi, err := os.Stat(filepath.Dir(journal))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("journal directory: %v %v, want mode 0700", fi, err)
	}
	if _, err := os.Stat(journal); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("recover-journal.db"); !os.IsNotExist(err) {
		t.Fatalf("a journal in the current directory: %v", err)
	}

	home := t.TempDir()
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", home)
	c2, bucket2, target2 := smallDamage(t)
	_ = c2
	out, code = run(t, "--bucket", bucket2, "--since", target2, "--yes")
	if want := filepath.Join(home, ".local", "state", "custody", "recover-journal.db"); code != 0 || !strings.Contains(out, " --ledger "+want+")") {
		t.Fatalf("fallback to ~/.local/state: exit %d\n%s", code, out)
	}

	// No S3 call may happen: point S3 at a closed port.
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_STATE_HOME", file)
	out, code = run(t, "--bucket", bucket, "--since", target, "--yes")
	if code != cli.ExitUsage || !strings.Contains(out, filepath.Join(file, "custody")) || strings.Contains(out, "recovering") {
		t.Fatalf("uncreatable journal directory: exit %d\n%s", code, out)
	}
}

// TestPlanOutBadPath: --plan-out (and --batch-manifest) into a missing
// directory is exit 2 naming the path, before any S3 call.
func TestPlanOutBadPath(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	missing := filepath.Join(t.TempDir(), "no-such-dir", "plan.json")
	for _, flag := range []string{"--plan-out", "--batch-manifest"} {
		start := time.Now()
		out, code := run(t, "--bucket", "b", "--since", "1h", "--dry-run", flag, missing)
		if code != cli.ExitUsage || !strings.Contains(out, flag+" "+missing) || strings.Contains(out, "recovering") || time.Since(start) > 5*time.Second {
			t.Fatalf("%s into a missing directory: exit %d\n%s", flag, code, out)
		}
	}
	if out, code := run(t, "--resume", "recover-x", "--plan-out", filepath.Join(t.TempDir(), "p.json")); code != cli.ExitUsage || !strings.Contains(out, "--resume recover-x applies the journalled one") {
		t.Fatalf("--plan-out with --resume: exit %d\n%s", code, out)
	}
}

// TestDryRunWithYesWritesNothing: --dry-run wins over --yes (and
// --remove-new, --force): the bucket keeps every version and marker it
// had, and no journal is created.
func TestDryRunWithYesWritesNothing(t *testing.T) {
	c, bucket, target := smallDamage(t)
	before := versions(t, c, bucket)
	journal := filepath.Join(t.TempDir(), "journal.db")
	out, code := run(t, "--bucket", bucket, "--since", target, "--remove-new", "--force", "--yes", "--dry-run", "--ledger", journal)
	if code != 0 || !strings.Contains(out, "a.txt") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if after := versions(t, c, bucket); after != before {
		t.Fatalf("--dry-run --yes changed the bucket:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Fatalf("--dry-run --yes created the journal: %v", err)
	}
}
