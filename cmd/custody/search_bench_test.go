package main

// BenchmarkSearchAccessKey: custody search --access-key over a year of one
// region's CloudTrail logs (default 26,000 sealed log files, 30 records
// each, the key in 1% of them), through the binary, beside
// `find | xargs zcat | jq select(...)` over the same files on local disk;
// reports the ratio (jq's time over search's), search's peak RSS, and
// checks both found the same records.
//
//	CUSTODY_BENCH_SEARCH_FILES=26000 go test -run '^$' -bench SearchAccessKey -benchtime 1x -timeout 60m ./cmd/custody/

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

func BenchmarkSearchAccessKey(b *testing.B) {
	if _, err := exec.LookPath("jq"); err != nil {
		b.Fatal("the baseline needs jq")
	}
	ctx := context.Background()
	n := 26_000
	if s := os.Getenv("CUSTODY_BENCH_SEARCH_FILES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	e := testaws.Require(b)
	e.Setenv(b)
	c := e.S3(b)
	dir := b.TempDir()
	st := config.Store{Bucket: testaws.BucketName(b), Region: "us-east-1", Prefix: "custody", Retention: config.Retention{Mode: config.ModeGovernance, Days: 1}}
	if _, err := custody.InitBucket(ctx, c, st); err != nil {
		b.Fatal(err)
	}
	now := func() time.Time { return time.Now().UTC() }
	l, err := ledger.Open(ctx, filepath.Join(dir, "ledger.db"), ledger.WithClock(now))
	if err != nil {
		b.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	pubPEM, _ := cryptoutils.MarshalPublicKeyToPEM(&priv.PublicKey)
	if err := os.WriteFile(filepath.Join(dir, "k.pub"), pubPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	store, err := custody.OpenStore(ctx, c, st, now)
	if err != nil {
		b.Fatal(err)
	}
	chain, err := custody.NewChain(store, c, l, signer, "bench", custody.Who{Host: "bench", Software: "custody-bench"}, now)
	if err != nil {
		b.Fatal(err)
	}
	const key = "AKIABENCHATTACKER001"
	local := filepath.Join(dir, "logs")
	if err := os.MkdirAll(local, 0o755); err != nil {
		b.Fatal(err)
	}
	year := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	step := 365 * 24 * time.Hour / time.Duration(n)
	genStart := time.Now()
	wantMatches := 0
	for first := 0; first < n; first += 2000 {
		run, err := chain.StartRun(ctx, "cloudtrail")
		if err != nil {
			b.Fatal(err)
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(32)
		for i := first; i < min(first+2000, n); i++ {
			attacked := i%100 == 7
			if attacked {
				wantMatches += 2
			}
			g.Go(func() error {
				at := year.Add(time.Duration(i) * step)
				gz := benchLogFile(at, i, attacked, key)
				src := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/%s/111122223333_CloudTrail_us-east-1_%s_%016x.json.gz", at.Format("2006/01/02"), at.Format("20060102T1504Z"), i)
				if err := os.WriteFile(filepath.Join(local, fmt.Sprintf("%06d.json.gz", i)), gz, 0o600); err != nil {
					return err
				}
				_, err := run.Put(gctx, custody.ArtifactPath(st.Prefix, "111122223333", "us-east-1", "cloudtrail", now(), run.ID, src), bytes.NewReader(gz),
					custody.PutOptions{Kind: "cloudtrail-log", Account: "111122223333", Region: "us-east-1", Source: "s3://trail/" + src, ContentType: "application/gzip"})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		if _, err := run.Seal(ctx, custody.SealRequest{Event: custody.EventCollect, Account: "111122223333", Region: "us-east-1"}, nil); err != nil {
			b.Fatal(err)
		}
	}
	l.Close()
	b.Logf("generated and sealed %d log files in %s", n, time.Since(genStart).Round(time.Second))
	cfg := filepath.Join(dir, "custody.yaml")
	writeFile(b, cfg, fmt.Sprintf("ledger: %[1]s/ledger.db\nstore: {bucket: %[2]s, retention: {mode: GOVERNANCE, days: 1}}\nsigner: {key: \"file://%[1]s/unused.pem\"}\ntrust: [{name: bench, key: \"file://%[1]s/k.pub\"}]\n", dir, st.Bucket))

	b.ResetTimer()
	for b.Loop() {
		// The baseline: every file, decompressed and filtered by jq.
		t0 := time.Now()
		jq := exec.Command("sh", "-c", fmt.Sprintf(`find %s -name '*.json.gz' -print0 | xargs -0 zcat | jq -c '.Records[] | select(.userIdentity.accessKeyId == "%s")' | wc -l`, local, key))
		out, err := jq.Output()
		if err != nil {
			b.Fatalf("baseline: %v", err)
		}
		jqTime := time.Since(t0)
		if got, _ := strconv.Atoi(strings.TrimSpace(string(out))); got != wantMatches {
			b.Fatalf("baseline found %d records, want %d", got, wantMatches)
		}

		// search, cold (the first: every file read, and indexed in the
		// ledger) then warm (only the files holding the key read).
		for _, pass := range []string{"cold", "warm"} {
			t0 = time.Now()
			cmd := exec.Command(custodyBin(b), "-c", cfg, "--json", "search", "--access-key", key, "--since", year.Format(time.RFC3339), "--until", year.AddDate(1, 0, 0).Format(time.RFC3339))
			cmd.Env = os.Environ()
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				b.Fatalf("search: %v\n%s", err, stderr.String())
			}
			searchTime := time.Since(t0)
			var res struct {
				Records []json.RawMessage `json:"records"`
				Stats   struct{ Read, Unread int }
			}
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res.Records) != wantMatches || res.Stats.Read+res.Stats.Unread != n {
				b.Fatalf("search (%s) found %d records (want %d), read %d and left %d unread of %d files: %v", pass, len(res.Records), wantMatches, res.Stats.Read, res.Stats.Unread, n, err)
			}
			rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
			b.ReportMetric(float64(jqTime)/float64(searchTime), "x-faster-than-jq-"+pass)
			b.ReportMetric(float64(rss)/1024, "MiB-peak-RSS-"+pass)
			b.ReportMetric(searchTime.Seconds(), "s-search-"+pass)
			b.ReportMetric(float64(res.Stats.Read), "files-read-"+pass)
		}
		b.ReportMetric(jqTime.Seconds(), "s-zcat-jq")
	}
}

func writeFile(b *testing.B, name, body string) {
	if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
}

// benchLogFile is a gzip CloudTrail log file of 30 records, two of them
// the attacker's when attacked.
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
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		panic(err)
	}
	zw.Close()
	return buf.Bytes()
}
