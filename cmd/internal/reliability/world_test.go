package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
	_ "modernc.org/sqlite"

	"github.com/custody-ir/custody/collector/accesslog/altest"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/internal/testaws"
)

const (
	account    = "123456789012"
	region     = "us-east-1"
	passphrase = "reliability suite passphrase"
	stream     = "reliability"
)

// world is what every scenario shares: the built binaries, the signing
// key, and the sources the agent collects from (read-only to the agent,
// so each scenario can collect them again into its own evidence bucket).
type world struct {
	env      testaws.Env
	dir      string
	custody  string // binary
	recover  string // binary
	key      string // encrypted signing key (its .pub beside it)
	trail    string // trail bucket
	written  *cttest.Written
	config   string // AWS Config delivery bucket
	delivery []string
	data     string // versioned source bucket
	logs     string // the data bucket's server access logs
	logKeys  []string
	keyURL   string // the CloudTrail ListPublicKeys stand-in
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

// getWorld builds the binaries and the sources once per test binary.
func getWorld(t *testing.T) *world {
	t.Helper()
	e := testaws.Require(t)
	worldOnce.Do(func() { theWorld, worldErr = makeWorld(e) })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

func makeWorld(e testaws.Env) (*world, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "custody-reliability-")
	if err != nil {
		return nil, err
	}
	w := &world{env: e, dir: dir, custody: filepath.Join(dir, "custody"), recover: filepath.Join(dir, "recover")}
	for bin, pkg := range map[string]string{w.custody: "../../custody", w.recover: "../../recover"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}
	w.key = filepath.Join(dir, "signing.pem")
	if out, err := w.command(ctx, nil, w.custody, "keygen", "--out", w.key).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("keygen: %v\n%s", err, out)
	}

	c := s3Client(e)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
	w.trail, w.config, w.data = "rel-trail-"+suffix, "rel-config-"+suffix, "rel-data-"+suffix
	for _, b := range []string{w.trail, w.config, w.data} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	// Twenty hours of a signed trail, with a key rotation: 20 digests and
	// 160 log files, all inside the agent's first-run lookback of 24h.
	w.written, err = cttest.Write(ctx, c, cttest.Trail{Bucket: w.trail, Account: account, Region: region, Name: "rel-trail",
		Start: time.Now().UTC().Truncate(time.Hour).Add(-21 * time.Hour), Hours: 20, LogsPerHour: 8, RotateAt: 10})
	if err != nil {
		return nil, fmt.Errorf("write trail: %w", err)
	}
	w.delivery, err = cttest.ConfigDelivery(ctx, c, w.config, "", account, region, time.Now().UTC().Add(-2*24*time.Hour), 2)
	if err != nil {
		return nil, fmt.Errorf("config delivery: %w", err)
	}
	// [access logs] Sixty server access log objects of the data bucket.
	w.logs = "rel-logs-" + suffix
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(w.logs)}); err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", w.logs, err)
	}
	objs, err := altest.Write(ctx, c, altest.Delivery{TargetBucket: w.logs, TargetPrefix: "logs/", Account: account, Region: region, Source: w.data,
		Start: time.Now().UTC().Add(-20 * time.Hour), Every: 20 * time.Minute, Objects: 60, RecordsPerObject: 20}, 16)
	if err != nil {
		return nil, fmt.Errorf("write access logs: %w", err)
	}
	for _, o := range objs {
		w.logKeys = append(w.logKeys, o.Key)
	}
	keys := cttest.NewKeyServer(w.written.Keys) // lives as long as the test binary
	w.keyURL = keys.URL

	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(w.data),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range 400 {
		g.Go(func() error {
			_, err := c.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(w.data), Key: aws.String(fmt.Sprintf("records/%02d/%04d.json", i%10, i)),
				Body: strings.NewReader(fmt.Sprintf(`{"record":%d}`, i))})
			return err
		})
	}
	return w, g.Wait()
}

// sourceObjects is every object of the trail, Config and log buckets the
// agent must preserve, as the ledger names its source.
func (w *world) sourceObjects() []string {
	var out []string
	for _, k := range w.written.Digests {
		out = append(out, "s3://"+w.trail+"/"+k)
	}
	for _, k := range w.written.Logs {
		out = append(out, "s3://"+w.trail+"/"+k)
	}
	for _, k := range w.delivery {
		out = append(out, "s3://"+w.config+"/"+k)
	}
	for _, k := range w.logKeys {
		out = append(out, "s3://"+w.logs+"/"+k)
	}
	return out
}

// command prepares a run of one of the binaries with the stand-ins'
// environment, then extra variables (later ones win).
func (w *world) command(ctx context.Context, extra []string, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.dir, "TMPDIR=" + os.TempDir(),
		"CUSTODY_KEY_PASSPHRASE=" + passphrase, "AWS_ENDPOINT_URL_CLOUDTRAIL=" + w.keyURL}, w.env.Environ()...)
	cmd.Env = append(cmd.Env, extra...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// evidence is one evidence bucket with its ledger and configuration.
type evidence struct {
	w      *world
	dir    string
	bucket string
	ledger string
	config string
}

// newEvidence creates an Object Lock evidence bucket and its config.
func newEvidence(t *testing.T, w *world, schedule string) *evidence {
	t.Helper()
	ev := &evidence{w: w, dir: t.TempDir(), bucket: testaws.BucketName(t)}
	ev.ledger = filepath.Join(ev.dir, "ledger.db")
	ev.config = filepath.Join(ev.dir, "custody.yaml")
	cfg := strings.NewReplacer("LEDGER", ev.ledger, "STREAM", stream, "EVIDENCE", ev.bucket, "REGION", region, "KEY", w.key,
		"ACCOUNT", account, "TRAIL", w.trail, "CONFIG", w.config, "DATA", w.data, "LOGS", w.logs, "SCHEDULE", schedule).Replace(`ledger: LEDGER
agent: {stream: STREAM, log_json: true}
store:
  bucket: EVIDENCE
  region: REGION
  retention: {mode: COMPLIANCE, days: 1}
signer: {key: "file://KEY"}
sources:
  accounts:
    - id: "ACCOUNT"
      regions: [REGION]
      trails: [{name: rel-trail, home_region: REGION, bucket: TRAIL}]
      config_buckets: [{bucket: CONFIG}]
      buckets: [DATA]
      access_logs: [{bucket: DATA, target_bucket: LOGS, target_prefix: logs/}]
schedules: {cloudtrail: "SCHEDULE", config: "SCHEDULE", posture: "SCHEDULE", versions: "SCHEDULE", iam: "SCHEDULE", kms: "SCHEDULE", accesslogs: "SCHEDULE", jitter: "0s"}
`)
	if err := os.WriteFile(ev.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := ev.run(t, nil, w.custody, "store", "init", "--yes"); code != 0 {
		t.Fatalf("store init: exit %d\n%s", code, out)
	}
	return ev
}

// run runs a binary with this evidence's configuration.
func (ev *evidence) run(t testing.TB, extra []string, bin string, args ...string) (string, int) {
	t.Helper()
	return ev.w.run(t, append([]string{"CUSTODY_CONFIG=" + ev.config}, extra...), bin, args...)
}

// run runs a binary and returns its combined output and exit code (-1 if
// it could not run or was killed).
func (w *world) run(t testing.TB, extra []string, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := w.command(ctx, extra, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	code := exitCode(cmd.Run(), &out)
	return out.String(), code
}

func exitCode(err error, out *bytes.Buffer) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	default:
		fmt.Fprintf(out, "\n%v", err)
		return -1
	}
}

// verifyReport is the part of `custody verify --json` the suite reads:
// a report (status "ok" or "failed"), or what a verify that could not
// complete prints (status "incomplete", ok null, an error).
type verifyReport struct {
	OK      bool   `json:"ok"`
	Status  string `json:"status"`
	Error   string `json:"error"`
	Checked struct {
		Manifests int   `json:"manifests"`
		Subjects  int   `json:"subjects"`
		Objects   int   `json:"objects"`
		Bytes     int64 `json:"bytes"`
	} `json:"checked"`
	Findings []verifyFinding `json:"findings"`
}

type verifyFinding struct {
	Severity string `json:"severity"`
	Kind     string `json:"kind"`
	Object   string `json:"object"`
	Message  string `json:"message"`
}

func (r verifyReport) failures() []string {
	var out []string
	for _, f := range r.Findings {
		if f.Severity == "failure" {
			out = append(out, f.Kind+" "+f.Object+": "+f.Message)
		}
	}
	return out
}

// verify runs `custody verify --json` with extra environment.
func (ev *evidence) verify(t testing.TB, extra []string) (verifyReport, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := ev.w.command(ctx, append([]string{"CUSTODY_CONFIG=" + ev.config}, extra...), ev.w.custody, "--json", "verify")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := exitCode(cmd.Run(), &stderr)
	var r verifyReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil && code != 2 {
		r.Findings = append(r.Findings, verifyFinding{Severity: "failure", Kind: "report-unreadable", Message: fmt.Sprintf("%v: %s", err, tail(stdout.String(), 500))})
	} else if want, ok := verifyStatus[code]; ok && r.Status != want {
		// The exit code and the document disagree: a reader could take
		// a verify that concluded nothing for a verdict, or the reverse.
		r.Findings = append(r.Findings, verifyFinding{Severity: "failure", Kind: "report-status",
			Message: fmt.Sprintf("exit %d with status %q, want %q: %s", code, r.Status, want, tail(stdout.String(), 500))})
	}
	return r, code, stdout.String() + stderr.String()
}

// verifyStatus is the status verify --json must print with each exit
// code: 0 and 1 are verdicts (a report), 3 is "could not complete".
var verifyStatus = map[int]string{0: "ok", 1: "failed", 3: "incomplete"}

// invariants are the counts behind a clean bill of health; violations
// lists every invariant that does not hold.
type invariants struct {
	Manifests  int
	Sealed     int
	Violations []string
}

// check verifies every invariant of the evidence, over a clean network.
func (ev *evidence) check(t testing.TB) invariants {
	t.Helper()
	var inv invariants
	bad := func(format string, args ...any) {
		inv.Violations = append(inv.Violations, fmt.Sprintf(format, args...))
	}

	r, code, out := ev.verify(t, nil)
	if code != 0 || !r.OK {
		bad("verify: exit %d, failures %v", code, r.failures())
		if len(r.Findings) == 0 {
			bad("verify output: %s", tail(out, 2000))
		}
	}
	inv.Manifests = r.Checked.Manifests

	db, err := sql.Open("sqlite", "file:"+ev.ledger+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count(`SELECT COUNT(*) FROM runs WHERE status = 'running'`); n > 0 {
		bad("%d run(s) still 'running' after the next run", n)
	}
	if n := count(`SELECT COUNT(*) FROM artifacts WHERE manifest_seq IS NULL`); n > 0 {
		bad("%d artifact(s) unsealed after the next run", n)
	}
	if n := count(`SELECT COUNT(*) FROM manifests`); n != inv.Manifests && code == 0 {
		bad("ledger has %d manifests, the bucket %d", n, inv.Manifests)
	}

	// Every sealed artifact is in the bucket with its sealed SHA-256.
	type art struct{ key, version, sha string }
	var arts []art
	rows, err := db.Query(`SELECT key, version_id, sha256 FROM artifacts WHERE manifest_seq IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a art
		if err := rows.Scan(&a.key, &a.version, &a.sha); err != nil {
			t.Fatal(err)
		}
		arts = append(arts, a)
	}
	rows.Close()
	inv.Sealed = len(arts)
	c := s3Client(ev.w.env)
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	for _, a := range arts {
		g.Go(func() error {
			sum, err := objectSHA256(ctx, c, ev.bucket, a.key, a.version)
			if err != nil || sum != a.sha {
				mu.Lock()
				bad("sealed artifact s3://%s/%s?versionId=%s: sha256 %s, sealed %s (%v)", ev.bucket, a.key, a.version, sum, a.sha, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()

	// No source object sealed twice.
	rows, err = db.Query(`SELECT source, COUNT(*) FROM artifacts WHERE source_version <> '' AND manifest_seq IS NOT NULL GROUP BY source HAVING COUNT(*) > 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var src string
		var n int
		if err := rows.Scan(&src, &n); err != nil {
			t.Fatal(err)
		}
		bad("%s preserved %d times", src, n)
	}
	rows.Close()

	// Nothing the sources hold is missing.
	have := map[string]bool{}
	rows, err = db.Query(`SELECT source FROM artifacts WHERE manifest_seq IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var src string
		if err := rows.Scan(&src); err != nil {
			t.Fatal(err)
		}
		have[src] = true
	}
	rows.Close()
	missing := 0
	for _, src := range ev.w.sourceObjects() {
		if !have[src] {
			if missing < 5 {
				bad("source %s not preserved", src)
			}
			missing++
		}
	}
	if missing > 5 {
		bad("... %d source objects not preserved in all", missing)
	}
	return inv
}

func objectSHA256(ctx context.Context, c *s3.Client, bucket, key, version string) (string, error) {
	o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(version)})
	if err != nil {
		return "", err
	}
	defer o.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, o.Body); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func s3Client(e testaws.Env) *s3.Client {
	return s3.New(s3.Options{Region: e.Region, BaseEndpoint: aws.String(e.S3Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(e.AccessKey, e.SecretKey, "")})
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
