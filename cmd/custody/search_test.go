package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/internal/testaws"
	"github.com/custody-ir/custody/search"
)

// TestSearchCommand: a trail collected and sealed by the CloudTrail
// collector is searched through the binary: the table, --json, --ndjson
// and --csv give the same records, each naming its sealed file and
// manifest; the manifests (--no-ledger) give what the ledger gives; a
// window before the trail reads nothing; usage errors exit 2.
func TestSearchCommand(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "pass")
	ctx := t.Context()
	c := e.S3(t)
	start := time.Now().UTC().Truncate(time.Hour).Add(-4 * time.Hour)
	tr := cttest.Trail{Bucket: testaws.CreateBucket(t, c, testaws.BucketOptions{}), Account: "123456789012", Region: "us-east-1",
		Name: "main", Start: start, Hours: 3, LogsPerHour: 2}
	w, err := cttest.Write(ctx, c, tr)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", cttest.KeyServer(t, w.Keys))
	dir := t.TempDir()
	if _, _, code := run(t, "keygen", "--out", filepath.Join(dir, "k.pem")); code != 0 {
		t.Fatal("keygen failed")
	}
	cfgFile := filepath.Join(dir, "custody.yaml")
	storeBucket := testaws.BucketName(t)
	writeConfig(t, cfgFile, fmt.Sprintf(`ledger: %[1]s/ledger.db
agent: {stream: search-test}
store: {bucket: %[2]s, retention: {mode: COMPLIANCE, days: 1}}
signer: {key: "file://%[1]s/k.pem"}
trust: [{name: test, key: "file://%[1]s/k.pub"}]
sources:
  accounts:
    - id: "123456789012"
      regions: [us-east-1]
      trails: [{name: main, home_region: us-east-1, bucket: %[3]s}]
`, dir, storeBucket, tr.Bucket))
	if _, errOut, code := run(t, "-c", cfgFile, "store", "init", "--yes"); code != 0 {
		t.Fatal(errOut)
	}
	if out, errOut, code := run(t, "-c", cfgFile, "collect", "--once", "--collector", "cloudtrail"); code != 0 {
		t.Fatalf("collect: exit %d\n%s%s", code, out, errOut)
	}
	want := 3 * len(w.Logs) // cttest writes three GetObject records per log file
	if want == 0 {
		t.Fatal("the generated trail has no log files")
	}

	out, errOut, code := run(t, "-c", cfgFile, "search", "--event", "GetObject", "--since", "5h")
	if code != 0 || strings.Count(out, "GetObject") != want || !strings.Contains(errOut, fmt.Sprintf("%d record(s) matched", want)) ||
		!strings.Contains(out, "search-test/") {
		t.Fatalf("search (table): exit %d, want %d records\n%s%s", code, want, out, errOut)
	}

	out, errOut, code = run(t, "-c", cfgFile, "--json", "search", "--event", "GetObject", "--since", "5h")
	doc := checkJSON(t, "search", out)
	recs, _ := field(doc, "records").([]any)
	if code != 0 || len(recs) != want || field(doc, "catalog") != "ledger" || field(doc, "stats", "read") != float64(len(w.Logs)) {
		t.Fatalf("search --json: exit %d, %d records (want %d)\n%s%s", code, len(recs), want, out, errOut)
	}
	first := recs[0].(map[string]any)
	if first["action"] != "GetObject" || !strings.HasPrefix(field(first, "evidence", "object").(string), "s3://") ||
		!strings.HasPrefix(field(first, "evidence", "manifest").(string), "search-test/") || !strings.HasPrefix(first["requestId"].(string), "REQ") {
		t.Fatalf("search --json record: %v", first)
	}

	out, _, code = run(t, "-c", cfgFile, "search", "--event", "GetObject", "--since", "5h", "--ndjson")
	lines := 0
	for sc := bufio.NewScanner(strings.NewReader(out)); sc.Scan(); lines++ {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r["action"] != "GetObject" {
			t.Fatalf("search --ndjson line %d: %v %s", lines, err, sc.Text())
		}
	}
	if code != 0 || lines != want {
		t.Fatalf("search --ndjson: exit %d, %d lines, want %d", code, lines, want)
	}

	out, _, code = run(t, "-c", cfgFile, "search", "--event", "GetObject", "--since", "5h", "--csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != want+1 || rows[0][0] != "time" || rows[1][6] != "GetObject" {
		t.Fatalf("search --csv: exit %d, %d rows, %v\n%s", code, len(rows), err, out)
	}

	// A fresh machine: the verified manifests list the same files.
	out, errOut, code = run(t, "-c", cfgFile, "--json", "search", "--event", "GetObject", "--since", "5h", "--no-ledger")
	doc = checkJSON(t, "search --no-ledger", out)
	if recs, _ := field(doc, "records").([]any); code != 0 || len(recs) != want || field(doc, "catalog") != "manifests" {
		t.Fatalf("search --no-ledger: exit %d, %d records (want %d)\n%s%s", code, len(recs), want, out, errOut)
	}

	// Sealed into a case: the results and an in-toto statement naming the
	// query and every sealed file read; the case verifies.
	out, errOut, code = run(t, "-c", cfgFile, "--json", "search", "--event", "GetObject", "--since", "5h", "--seal", "--case", "IR-15")
	doc = checkJSON(t, "search --seal", out)
	stmtObj, _ := field(doc, "sealed", "statement").(string)
	resObj, _ := field(doc, "sealed", "results").(string)
	if code != 0 || stmtObj == "" || resObj == "" || field(doc, "sealed", "case") != "IR-15" {
		t.Fatalf("search --seal: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := run(t, "-c", cfgFile, "verify", "--case", "IR-15"); code != 0 {
		t.Fatalf("verify --case IR-15 after search --seal: exit %d\n%s%s", code, out, errOut)
	}
	get := func(obj string) []byte {
		t.Helper()
		rest := strings.TrimPrefix(obj, "s3://")
		bucket, keyVer, _ := strings.Cut(rest, "/")
		key, ver, _ := strings.Cut(keyVer, "?versionId=")
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(ver)})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Body.Close()
		b, err := io.ReadAll(o.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var stmt struct {
		Type    string `json:"_type"`
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			Query     struct{ Events []string }
			Materials []struct {
				URI         string            `json:"uri"`
				Digest      map[string]string `json:"digest"`
				Annotations map[string]string `json:"annotations"`
			} `json:"materials"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(get(stmtObj), &stmt); err != nil {
		t.Fatal(err)
	}
	results := get(resObj)
	sum := sha256.Sum256(results)
	if stmt.Type != "https://in-toto.io/Statement/v1" || len(stmt.Subject) != 1 || stmt.Subject[0].Digest["sha256"] != hex.EncodeToString(sum[:]) ||
		bytes.Count(results, []byte("\n")) != want || len(stmt.Predicate.Materials) != len(w.Logs) || stmt.Predicate.Query.Events[0] != "GetObject" {
		t.Fatalf("the sealed statement: %+v (results %d lines, want %d; materials want %d)", stmt, bytes.Count(results, []byte("\n")), want, len(w.Logs))
	}
	for _, m := range stmt.Predicate.Materials {
		if !strings.HasPrefix(m.Annotations["manifest"], "search-test/") || len(m.Digest["sha256"]) != 64 || !strings.Contains(m.URI, "?versionId=") {
			t.Fatalf("material %+v names no manifest, digest or version", m)
		}
	}
	if _, errOut, code := run(t, "-c", cfgFile, "search", "--since", "5h", "--seal"); code != cli.ExitUsage {
		t.Fatalf("--seal without --case: exit %d\n%s", code, errOut)
	}

	// An exported package gives the same records offline, once its signer
	// is pinned; unpinned, it is not searched.
	pkg := filepath.Join(dir, "pkg.tar.gz")
	out, errOut, code = run(t, "-c", cfgFile, "--json", "export", "--out", pkg)
	keyID, _ := field(checkJSON(t, "export", out), "signerKeyId").(string)
	if code != 0 || keyID == "" {
		t.Fatalf("export: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, "--json", "search", "--bundle", pkg, "--key-id", keyID, "--event", "GetObject", "--since", "5h")
	doc = checkJSON(t, "search --bundle", out)
	if recs, _ := field(doc, "records").([]any); code != 0 || len(recs) != want || field(doc, "catalog") != "package" {
		t.Fatalf("search --bundle: exit %d, %d records (want %d)\n%s%s", code, len(recs), want, out, errOut)
	}
	if out, errOut, code = run(t, "search", "--bundle", pkg, "--event", "GetObject", "--since", "5h"); code != cli.ExitFindings || !strings.Contains(errOut, "does not verify") ||
		!strings.Contains(errOut, "signer-not-pinned") || strings.Contains(out, "GetObject") {
		t.Fatalf("search --bundle without a pinned signer: exit %d\n%s%s", code, out, errOut)
	}

	// Athena: the CloudTrail table's location template, as a pattern,
	// matches every log file the collector wrote, and their partition
	// values are among those the DDL projects.
	out, errOut, code = run(t, "-c", cfgFile, "--json", "athena", "ddl")
	doc = checkJSON(t, "athena ddl", out)
	tmpl, _ := field(doc, "locationTemplate").(string)
	ddl, _ := field(doc, "sql").(string)
	if code != 0 || tmpl == "" || !strings.Contains(ddl, "'projection.account.values' = '123456789012'") || !strings.Contains(ddl, "'projection.region.values' = 'us-east-1'") {
		t.Fatalf("athena ddl: exit %d\n%s%s", code, out, errOut)
	}
	re := search.TemplateRegexp(tmpl)
	logs := 0
	for p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(storeBucket)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if !strings.Contains(k, "_CloudTrail_") {
				continue
			}
			logs++
			m := re.FindStringSubmatch("s3://" + storeBucket + "/" + k)
			if m == nil || m[re.SubexpIndex("account")] != "123456789012" || m[re.SubexpIndex("region")] != "us-east-1" {
				t.Fatalf("the collector's log %s is outside the Athena template %s", k, tmpl)
			}
			if _, err := time.Parse("2006/01/02", m[re.SubexpIndex("day")]); err != nil {
				t.Fatalf("the collector's log %s: day partition %q: %v", k, m[re.SubexpIndex("day")], err)
			}
		}
	}
	if logs != len(w.Logs) {
		t.Fatalf("%d log files in the store, want %d", logs, len(w.Logs))
	}
	out, errOut, code = run(t, "-c", cfgFile, "athena", "query", "--access-key", "AKIAEXAMPLE", "--since", "5h")
	if code != 0 || !strings.Contains(out, "r.useridentity.accesskeyid IN ('AKIAEXAMPLE')") || !strings.Contains(out, "FROM custody_cloudtrail") {
		t.Fatalf("athena query: exit %d\n%s%s", code, out, errOut)
	}

	// A window before the trail reads no file.
	out, errOut, code = run(t, "-c", cfgFile, "--json", "search", "--since", "30d", "--until", "10d")
	doc = checkJSON(t, "search (empty window)", out)
	if code != 0 || field(doc, "stats", "read") != float64(0) {
		t.Fatalf("search of an empty window: exit %d\n%s%s", code, out, errOut)
	}

	for _, args := range [][]string{
		{"search", "--event", "GetObject"},                    // no --since
		{"search", "--since", "1h", "--until", "2h"},          // until before since
		{"search", "--since", "1h", "--ndjson", "--csv"},      // two formats
		{"search", "--since", "1h", "--delivery-lag", "soon"}, // not a duration
		{"search", "--since", "yesterday-ish"},                // not a time
	} {
		if _, errOut, code := run(t, append([]string{"-c", cfgFile}, args...)...); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, cli.ExitUsage, errOut)
		}
	}
}
