package main

// BenchmarkSearchAccessKey: custody search --access-key over a year of one
// region's CloudTrail logs (default 26,000 log files, 3 an hour: 8,667
// hourly digests; 30 records a file, the key in 1% of the files), as a
// user gets there: the trail is written to a bucket in CloudTrail's
// format (signed digests), `custody collect --once` backfills it (the
// agent's code path: the log files are indexed as they are sealed), then
// searches run through the binary, beside
// `find | xargs zcat | jq select(...)` over the same files on local disk,
// in rounds (the machine is shared: each round measures the baseline
// again). Per round: "first" is the first search after the collection,
// "cold" the same search with --reindex (the index forgotten: every file
// read, as before indexing at collection), "warm" the search after it.
// Reports the ratios (jq's time over search's; the mean of the rounds,
// each round logged), search's peak RSS, the collection's time, and checks
// every search found the records jq found.
//
//	CUSTODY_BENCH_SEARCH_FILES=26000 CUSTODY_BENCH_SEARCH_ROUNDS=3 go test -run '^$' -bench SearchAccessKey -benchtime 1x -timeout 90m ./cmd/custody/

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/testaws"
)

func BenchmarkSearchAccessKey(b *testing.B) {
	if _, err := exec.LookPath("jq"); err != nil {
		b.Fatal("the baseline needs jq")
	}
	ctx := b.Context()
	n, rounds := 26_000, 2
	if s := os.Getenv("CUSTODY_BENCH_SEARCH_FILES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("CUSTODY_BENCH_SEARCH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	e := testaws.Require(b)
	e.Setenv(b)
	c := e.S3(b)
	dir := b.TempDir()
	const key = "AKIABENCHATTACKER001"
	local := filepath.Join(dir, "logs")
	if err := os.MkdirAll(local, 0o755); err != nil {
		b.Fatal(err)
	}
	const perHour = 3
	hours := (n + perHour - 1) / perHour
	n = hours * perHour
	start := time.Now().UTC().Truncate(time.Hour).Add(-time.Duration(hours+1) * time.Hour)
	wantMatches := 0
	tr := cttest.Trail{Bucket: testaws.CreateBucket(b, c, testaws.BucketOptions{}), Account: "111122223333", Region: "us-east-1",
		Name: "main", Start: start, Hours: hours, LogsPerHour: perHour, Concurrency: 32,
		LogBody: func(at time.Time, h, i int) []byte {
			f := h*perHour + i
			attacked := f%100 == 7
			if attacked {
				wantMatches += 2 // cttest calls LogBody in order, from one goroutine
			}
			raw := benchLogFile(at, f, attacked, key)
			if err := os.WriteFile(filepath.Join(local, fmt.Sprintf("%06d.json.gz", f)), gzipped(raw), 0o600); err != nil {
				panic(err)
			}
			return raw
		}}
	genStart := time.Now()
	w, err := cttest.Write(ctx, c, tr)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote a trail of %d digests and %d log files in %s", len(w.Digests), len(w.Logs), time.Since(genStart).Round(time.Second))
	b.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", cttest.KeyServer(b, w.Keys))
	b.Setenv("CUSTODY_KEY_PASSPHRASE", "pass")
	cfg := filepath.Join(dir, "custody.yaml")
	store := testaws.BucketName(b)
	writeFile(b, cfg, fmt.Sprintf(`ledger: %[1]s/ledger.db
agent: {stream: bench}
store: {bucket: %[2]s, retention: {mode: GOVERNANCE, days: 1}}
signer: {key: "file://%[1]s/k.pem"}
trust: [{name: bench, key: "file://%[1]s/k.pub"}]
sources:
  accounts:
    - id: "111122223333"
      regions: [us-east-1]
      trails: [{name: main, home_region: us-east-1, bucket: %[3]s}]
`, dir, store, tr.Bucket))
	bin := func(args ...string) (*exec.Cmd, []byte) {
		cmd := exec.Command(custodyBin(b), append([]string{"-c", cfg}, args...)...)
		cmd.Env = os.Environ()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("custody %v: %v\n%s", args, err, stderr.String())
		}
		return cmd, stdout.Bytes()
	}
	bin("keygen", "--out", filepath.Join(dir, "k.pem"))
	bin("store", "init", "--yes")
	collectStart := time.Now()
	bin("collect", "--once", "--collector", "cloudtrail", "--since", start.Add(-time.Hour).Format(time.RFC3339))
	collectTime := time.Since(collectStart)
	b.Logf("custody collect --once (the agent's path, indexing as it seals) copied and sealed them in %s", collectTime.Round(time.Second))

	search := func(pass string, extra ...string) (time.Duration, float64, int) {
		t0 := time.Now()
		cmd, out := bin(append([]string{"--json", "search", "--access-key", key, "--since", start.Add(-time.Hour).Format(time.RFC3339)}, extra...)...)
		d := time.Since(t0)
		var res struct {
			Records []json.RawMessage `json:"records"`
			Stats   struct{ Read, Unread, Unindexed int }
		}
		if err := json.Unmarshal(out, &res); err != nil || len(res.Records) != wantMatches || res.Stats.Read+res.Stats.Unread != n {
			b.Fatalf("search (%s) found %d records (want %d), read %d and left %d unread of %d files: %v", pass, len(res.Records), wantMatches, res.Stats.Read, res.Stats.Unread, n, err)
		}
		rss := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024 // KiB on Linux
		b.Logf("  %-5s %6.2fs, %d files read (%d not indexed), peak RSS %.0f MiB", pass, d.Seconds(), res.Stats.Read, res.Stats.Unindexed, rss)
		return d, rss, res.Stats.Read
	}
	b.ResetTimer()
	for b.Loop() {
		ratios := map[string]float64{}
		peak := map[string]float64{}
		var jqTotal time.Duration
		for r := 0; r < rounds; r++ {
			// The baseline: every file, decompressed and filtered by jq.
			t0 := time.Now()
			jq := exec.Command("sh", "-c", fmt.Sprintf(`find %s -name '*.json.gz' -print0 | xargs -0 zcat | jq -c '.Records[] | select(.userIdentity.accessKeyId == "%s")' | wc -l`, local, key))
			out, err := jq.Output()
			if err != nil {
				b.Fatalf("baseline: %v", err)
			}
			jqTime := time.Since(t0)
			jqTotal += jqTime
			if got, _ := strconv.Atoi(strings.TrimSpace(string(out))); got != wantMatches {
				b.Fatalf("baseline found %d records, want %d", got, wantMatches)
			}
			b.Logf("round %d: zcat | jq %.2fs", r+1, jqTime.Seconds())
			passes := []struct {
				name string
				args []string
			}{{"first", nil}, {"cold", []string{"--reindex"}}, {"warm", nil}}
			if r > 0 {
				passes = passes[1:] // "first" is first once; later rounds measure cold then warm again
			}
			for _, p := range passes {
				d, rss, read := search(p.name, p.args...)
				if p.name == "first" && read >= n {
					b.Fatalf("the first search after collect read all %d files: nothing was indexed at collection", read)
				}
				ratios[p.name] += float64(jqTime) / float64(d) / float64(map[bool]int{true: 1, false: rounds}[p.name == "first"])
				peak[p.name] = max(peak[p.name], rss)
				b.Logf("    %s: %.1fx faster than zcat | jq", p.name, float64(jqTime)/float64(d))
			}
		}
		for _, p := range []string{"first", "cold", "warm"} {
			b.ReportMetric(ratios[p], "x-faster-than-jq-"+p)
			b.ReportMetric(peak[p], "MiB-peak-RSS-"+p)
		}
		b.ReportMetric(jqTotal.Seconds()/float64(rounds), "s-zcat-jq")
		b.ReportMetric(collectTime.Seconds(), "s-collect")

		// A one-day query over the year reads that day's files only (and
		// the delivery lag's): the GETs of log files, counted in the AWS
		// call log, are the files delivered in the window.
		day := start.Add(time.Duration(hours/2) * time.Hour).Truncate(24 * time.Hour)
		if day.Before(start) {
			day = day.Add(24 * time.Hour)
		}
		wantFiles := 0
		for h := 0; h < hours; h++ {
			for i := 0; i < perHour; i++ {
				at := start.Add(time.Duration(h)*time.Hour + time.Duration(i)*time.Minute).Truncate(time.Minute)
				if !at.Before(day) && !at.After(day.Add(25*time.Hour)) { // --until a day on, and the 1h delivery lag
					wantFiles++
				}
			}
		}
		calls := filepath.Join(dir, "calls.ndjson")
		b.Setenv(awsclient.CallLogEnv, calls)
		_, out := bin("--json", "search", "--event", "GetObject", "--since", day.Format(time.RFC3339), "--until", day.Add(24*time.Hour).Format(time.RFC3339))
		os.Unsetenv(awsclient.CallLogEnv)
		var res struct{ Stats struct{ Read, Files int } }
		if err := json.Unmarshal(out, &res); err != nil {
			b.Fatal(err)
		}
		gets := 0
		log, _ := os.ReadFile(calls)
		for _, line := range bytes.Split(log, []byte("\n")) {
			var c awsclient.Call
			if json.Unmarshal(line, &c) == nil && c.Operation == "GetObject" && len(c.Needs) > 0 &&
				strings.HasPrefix(c.Needs[0].Resource, "arn:aws:s3:::"+store+"/") && strings.Contains(c.Needs[0].Resource, "_CloudTrail_") {
				gets++
			}
		}
		if gets != wantFiles || res.Stats.Read != wantFiles || res.Stats.Files != wantFiles {
			b.Fatalf("one-day query over %d files: %d GETs of log files, %d read, %d in the window; want %d", n, gets, res.Stats.Read, res.Stats.Files, wantFiles)
		}
		b.Logf("a one-day query over the %d files: %d GETs of log files, the day's %d", n, gets, wantFiles)
		b.ReportMetric(float64(gets), "GETs-one-day")
	}
}

func writeFile(b *testing.B, name, body string) {
	if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
}

// benchLogFile is a CloudTrail log file (JSON, before gzip) of 30
// records, two of them the attacker's when attacked.
func benchLogFile(at time.Time, i int, attacked bool, attackerKey string) []byte {
	var recs []map[string]any
	for j := 0; j < 30; j++ {
		keyID, arn := "ASIAAPPLICATION00001", "arn:aws:sts::111122223333:assumed-role/app/i-0abc"
		if attacked && j < 2 {
			keyID, arn = attackerKey, "arn:aws:iam::111122223333:user/mallory"
		}
		recs = append(recs, map[string]any{
			"eventVersion": "1.09", "eventTime": at.Add(-time.Duration(30-j) * 10 * time.Second).Format(time.RFC3339), "eventSource": "s3.amazonaws.com",
			"eventName": "GetObject", "awsRegion": "us-east-1", "sourceIPAddress": "10.0.3.7", "userAgent": "[aws-sdk-go-v2/1.30.0 os/linux lang/go#1.22]",
			"userIdentity": map[string]any{"type": "AssumedRole", "arn": arn, "accountId": "111122223333", "accessKeyId": keyID, "principalId": "AROAEXAMPLE:i-0abc",
				"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "arn": "arn:aws:iam::111122223333:role/app", "userName": "app"},
					"attributes": map[string]any{"creationDate": at.Format(time.RFC3339), "mfaAuthenticated": "false"}}},
			"requestParameters": map[string]any{"bucketName": "customer-data", "key": fmt.Sprintf("records/%d/%d.json", i, j), "Host": "customer-data.s3.us-east-1.amazonaws.com"},
			"responseElements":  nil, "additionalEventData": map[string]any{"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0, "bytesTransferredOut": 1520, "x-amz-id-2": "EXAMPLEid2"},
			"requestID": fmt.Sprintf("REQ%08d%02d", i, j), "eventID": fmt.Sprintf("%08x-0000-4000-8000-%012x", i, j), "readOnly": true,
			"resources": []any{map[string]any{"type": "AWS::S3::Object", "ARN": fmt.Sprintf("arn:aws:s3:::customer-data/records/%d/%d.json", i, j)}, map[string]any{"accountId": "111122223333", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::customer-data"}},
			"eventType": "AwsApiCall", "managementEvent": false, "recipientAccountId": "111122223333", "eventCategory": "Data",
		})
	}
	raw, _ := json.Marshal(map[string]any{"Records": recs})
	return raw
}

func gzipped(raw []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		panic(err)
	}
	zw.Close()
	return buf.Bytes()
}
