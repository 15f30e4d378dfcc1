package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

// searchIndexWorld is a trail collected by `custody collect --once`, with
// the search index the collection recorded.
type searchIndexWorld struct {
	cfg, dir, store string
	trail           cttest.Trail
	written         *cttest.Written
}

func newSearchIndexWorld(t *testing.T, hours, logsPerHour int) *searchIndexWorld {
	t.Helper()
	e := testaws.Require(t)
	e.Setenv(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "pass")
	c := e.S3(t)
	start := time.Now().UTC().Truncate(time.Hour).Add(-time.Duration(hours+1) * time.Hour)
	w := &searchIndexWorld{dir: t.TempDir(), store: testaws.BucketName(t)}
	w.trail = cttest.Trail{Bucket: testaws.CreateBucket(t, c, testaws.BucketOptions{}), Account: "123456789012", Region: "us-east-1",
		Name: "main", Start: start, Hours: hours, LogsPerHour: logsPerHour}
	var err error
	if w.written, err = cttest.Write(t.Context(), c, w.trail); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", cttest.KeyServer(t, w.written.Keys))
	if _, _, code := run(t, "keygen", "--out", filepath.Join(w.dir, "k.pem")); code != 0 {
		t.Fatal("keygen failed")
	}
	w.cfg = filepath.Join(w.dir, "custody.yaml")
	writeConfig(t, w.cfg, fmt.Sprintf(`ledger: %[1]s/ledger.db
agent: {stream: index-test}
store: {bucket: %[2]s, retention: {mode: GOVERNANCE, days: 1}}
signer: {key: "file://%[1]s/k.pem"}
trust: [{name: test, key: "file://%[1]s/k.pub"}]
sources:
  accounts:
    - id: "123456789012"
      regions: [us-east-1]
      trails: [{name: main, home_region: us-east-1, bucket: %[3]s}]
`, w.dir, w.store, w.trail.Bucket))
	if _, errOut, code := run(t, "-c", w.cfg, "store", "init", "--yes"); code != 0 {
		t.Fatal(errOut)
	}
	return w
}

// searchStats is the part of search --json a test reads.
type searchStats struct {
	Records  []struct{ Action, RequestID string } `json:"records"`
	Problems []struct{ Object, Message string }   `json:"problems"`
	Stats    struct {
		Files, Read, Unread, Unindexed int
	} `json:"stats"`
}

// search runs custody --json search with args, and counts the GETs it
// made of log files in the evidence store (the AWS call log).
func (w *searchIndexWorld) search(t *testing.T, args ...string) (res searchStats, gets, code int) {
	t.Helper()
	calls := filepath.Join(t.TempDir(), "calls.ndjson")
	t.Setenv(awsclient.CallLogEnv, calls)
	out, errOut, code := run(t, append([]string{"-c", w.cfg, "--json", "search"}, args...)...)
	os.Unsetenv(awsclient.CallLogEnv)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("search %v: exit %d, %v\n%s%s", args, code, err, out, errOut)
	}
	f, err := os.Open(calls)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var c awsclient.Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if c.Operation == "GetObject" && len(c.Needs) > 0 && strings.HasPrefix(c.Needs[0].Resource, "arn:aws:s3:::"+w.store+"/") &&
			strings.Contains(c.Needs[0].Resource, "_CloudTrail_") {
			gets++
		}
	}
	return res, gets, code
}

// forgetHalf removes the terms of every other sealed log file: the state
// a crash between two of the indexer's transactions leaves.
func (w *searchIndexWorld) forgetHalf(t *testing.T) int {
	t.Helper()
	ctx := t.Context()
	l, err := ledger.Open(ctx, filepath.Join(w.dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	arts, err := l.SealedOfKind(ctx, w.store, "cloudtrail-log")
	if err != nil {
		t.Fatal(err)
	}
	var refs []ledger.ArtifactRef
	for i, a := range arts {
		if i%2 == 0 {
			refs = append(refs, ledger.ArtifactRef{Bucket: a.Bucket, Key: a.Key, VersionID: a.VersionID})
		}
	}
	if err := l.ForgetLogTerms(ctx, w.store, refs); err != nil {
		t.Fatal(err)
	}
	return len(refs)
}

// TestSearchIndexedAtCollection: the log files `custody collect` seals
// are indexed as they are collected, so the first search after it reads
// none of them when none holds the filter's values (no GET of a log file),
// and only those that do otherwise; files whose terms are missing (a
// crash between the indexer's transactions) are read and indexed, with
// the same answer; --reindex reads the window again; a tampered sealed
// log holding matching records is reported, never skipped.
func TestSearchIndexedAtCollection(t *testing.T) {
	w := newSearchIndexWorld(t, 4, 2)
	logs := len(w.written.Logs)
	if out, errOut, code := run(t, "-c", w.cfg, "collect", "--once", "--collector", "cloudtrail"); code != 0 {
		t.Fatalf("collect: exit %d\n%s%s", code, out, errOut)
	}

	// No file holds a DeleteObject: none is read.
	res, gets, code := w.search(t, "--event", "DeleteObject", "--since", "6h")
	if code != 0 || res.Stats.Files != logs || res.Stats.Read != 0 || res.Stats.Unread != logs || res.Stats.Unindexed != 0 || gets != 0 || len(res.Records) != 0 {
		t.Fatalf("first search after collect, no match: exit %d, %+v, %d GETs of log files (want 0 of %d)", code, res.Stats, gets, logs)
	}
	// Every file holds GetObject records (cttest writes three a file):
	// each is read once, and the records are those of the logs.
	res, gets, code = w.search(t, "--event", "GetObject", "--since", "6h")
	if code != 0 || res.Stats.Read != logs || gets != logs || res.Stats.Unindexed != 0 || len(res.Records) != 3*logs {
		t.Fatalf("search matching every file: exit %d, %+v, %d GETs, %d records (want %d)", code, res.Stats, gets, len(res.Records), 3*logs)
	}
	want := len(res.Records)

	// A crash between the indexer's transactions: half the files have
	// no terms. They are read (and indexed); the answer is the same.
	forgotten := w.forgetHalf(t)
	res, gets, code = w.search(t, "--event", "DeleteObject", "--since", "6h")
	if code != 0 || res.Stats.Read != forgotten || res.Stats.Unindexed != forgotten || gets != forgotten || res.Stats.Unread != logs-forgotten {
		t.Fatalf("after losing the terms of %d files: exit %d, %+v, %d GETs", forgotten, code, res.Stats, gets)
	}
	if res, gets, _ = w.search(t, "--event", "DeleteObject", "--since", "6h"); res.Stats.Read != 0 || gets != 0 {
		t.Fatalf("the files read were not indexed: %+v, %d GETs", res.Stats, gets)
	}
	res, _, code = w.search(t, "--event", "GetObject", "--since", "6h")
	if code != 0 || len(res.Records) != want {
		t.Fatalf("after losing terms: exit %d, %d records, want %d", code, len(res.Records), want)
	}

	// --reindex: every file of the window is read again.
	res, gets, code = w.search(t, "--event", "DeleteObject", "--since", "6h", "--reindex")
	if code != 0 || res.Stats.Read != logs || res.Stats.Unindexed != logs || gets != logs {
		t.Fatalf("--reindex: exit %d, %+v, %d GETs (want %d)", code, res.Stats, gets, logs)
	}
	if _, errOut, code := run(t, "-c", w.cfg, "search", "--since", "6h", "--reindex", "--no-ledger"); code != cli.ExitUsage || !strings.Contains(errOut, "--reindex") {
		t.Fatalf("--reindex --no-ledger: exit %d\n%s", code, errOut)
	}

	// Tampering: a sealed log file's version removed (governance bypass)
	// and other bytes put in its place. The index, made from the sealed
	// bytes, says it holds GetObject records: it is read, and reported.
	ctx := t.Context()
	c := testaws.Require(t).S3(t)
	victim := ""
	for p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(w.store)}); p.HasMorePages() && victim == ""; {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			if strings.Contains(aws.ToString(o.Key), "_CloudTrail_") {
				victim = aws.ToString(o.Key)
				break
			}
		}
	}
	vs, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(w.store), Prefix: aws.String(victim)})
	if err != nil || len(vs.Versions) != 1 {
		t.Fatalf("versions of %s: %v", victim, err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.store), Key: aws.String(victim), VersionId: vs.Versions[0].VersionId,
		BypassGovernanceRetention: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.store), Key: aws.String(victim), Body: bytes.NewReader(cttest.Gzip([]byte(`{"Records":[]}`)))}); err != nil {
		t.Fatal(err)
	}
	res, _, code = w.search(t, "--event", "GetObject", "--since", "6h")
	if code != cli.ExitFindings || len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Object, victim) || len(res.Records) != want-3 {
		t.Fatalf("after tampering with %s: exit %d, %d records (want %d), problems %+v", victim, code, len(res.Records), want-3, res.Problems)
	}
}

// TestSearchIndexCollectKilled: `custody collect` killed (SIGKILL) at
// some point of a backfill, then run again to the end: the first search
// finds every record of every log file, whatever the index recorded
// before the kill, and reports no problem.
func TestSearchIndexCollectKilled(t *testing.T) {
	w := newSearchIndexWorld(t, 48, 3)
	logs := len(w.written.Logs)
	for _, after := range []time.Duration{1500 * time.Millisecond, 4 * time.Second} {
		cmd := exec.Command(custodyBin(t), "-c", w.cfg, "collect", "--once", "--collector", "cloudtrail")
		cmd.Env = os.Environ()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(after)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		t.Logf("collect killed after %s", after)
	}
	if out, errOut, code := run(t, "-c", w.cfg, "collect", "--once", "--collector", "cloudtrail"); code != 0 {
		t.Fatalf("collect after the kills: exit %d\n%s%s", code, out, errOut)
	}
	res, _, code := w.search(t, "--event", "GetObject", "--since", "50h")
	if code != 0 || len(res.Problems) != 0 || len(res.Records) != 3*logs || res.Stats.Files != logs {
		t.Fatalf("search after a killed collection: exit %d, %d records (want %d), %+v, problems %+v", code, len(res.Records), 3*logs, res.Stats, res.Problems)
	}
	seen := map[string]bool{}
	for _, r := range res.Records {
		if seen[r.RequestID] {
			t.Fatalf("record %s found twice", r.RequestID)
		}
		seen[r.RequestID] = true
	}
	t.Logf("after the kills: %d of %d files were not indexed and were read", res.Stats.Unindexed, logs)
	// Now everything is indexed: a search for nothing reads nothing.
	if res, gets, _ := w.search(t, "--event", "DeleteObject", "--since", "50h"); res.Stats.Read != 0 || gets != 0 {
		t.Fatalf("after the search indexed the rest: %+v, %d GETs", res.Stats, gets)
	}
}
