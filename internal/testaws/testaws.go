// Package testaws gives tests the local AWS stand-ins started by
// scripts/localaws: two MinIO servers (primary in us-east-1, replica in
// us-west-2) and a moto server for STS, KMS, Config, CloudTrail and
// Organizations. It reuses running servers, starts them with the script
// when none run, and hands out ready clients and fresh bucket names. A
// test that needs IAM enforced starts a moto server of its own (StartMoto).
//
// Without the servers a test is skipped on a laptop, but fails under
// CI=true (or CUSTODY_TEST_REQUIRE_SERVERS=1): CI never skips.
//
// It also holds the helpers several packages' tests share: SDK clients
// that never touch the network (OfflineS3, for fuzzing the parsers behind
// the SDK), the failure findings of a check (Failures, RequireFinding) and
// the moment between two sets of writes a recovery goes back to (Cut).
// Only _test.go files import it (the linter holds that); it imports
// nothing of this module above internal/awsclient and custody/finding.
package testaws

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/internal/awsclient"
)

// Env describes the running stand-ins.
type Env struct {
	S3Endpoint      string // primary MinIO
	ReplicaEndpoint string // replica MinIO
	Endpoint        string // moto, for every other service
	Region          string
	ReplicaRegion   string
	AccessKey       string
	SecretKey       string
	vars            map[string]string
}

var (
	findOnce sync.Once
	found    Env
	findErr  error
)

// Find returns the running stand-ins, starting them if none answer.
func Find() (Env, error) {
	findOnce.Do(func() { found, findErr = find() })
	return found, findErr
}

// Require returns the stand-ins or ends the test: a failure under CI, a
// skip elsewhere.
func Require(t testing.TB) Env {
	t.Helper()
	e, err := Find()
	if err != nil {
		if Required() {
			t.Fatalf("local AWS stand-ins unavailable (CI requires them): %v", err)
		}
		t.Skipf("local AWS stand-ins unavailable (run scripts/localaws start): %v", err)
	}
	return e
}

// Required reports whether a missing server must fail the run.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("CUSTODY_TEST_REQUIRE_SERVERS") == "1"
}

func stateDir() string {
	if d := os.Getenv("CUSTODY_LOCALAWS_DIR"); d != "" {
		return d
	}
	tmp := os.Getenv("TMPDIR")
	if tmp == "" {
		tmp = "/tmp"
	}
	return filepath.Join(tmp, fmt.Sprintf("custody-localaws-%d", os.Getuid()))
}

func find() (Env, error) {
	envFile := filepath.Join(stateDir(), "env")
	if e, err := readEnv(envFile); err == nil && e.healthy() {
		return e, nil
	}
	script, err := findScript("localaws")
	if err != nil {
		return Env{}, err
	}
	cmd := exec.Command(script, "start")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Env{}, fmt.Errorf("%s start: %v\n%s", script, err, out)
	}
	e, err := readEnv(envFile)
	if err != nil {
		return Env{}, err
	}
	if !e.healthy() {
		return Env{}, errors.New("stand-ins started but do not answer")
	}
	return e, nil
}

// findScript returns scripts/<name> at the module root, found by walking
// up from the working directory.
func findScript(name string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", name)
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("no scripts/%s at the module root %s", name, dir)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("scripts/%s not found above the working directory", name)
		}
		dir = parent
	}
}

func readEnv(path string) (Env, error) {
	f, err := os.Open(path)
	if err != nil {
		return Env{}, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			vars[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return Env{}, err
	}
	e := Env{
		S3Endpoint:      vars["AWS_ENDPOINT_URL_S3"],
		ReplicaEndpoint: vars["CUSTODY_TEST_S3_REPLICA"],
		Endpoint:        vars["AWS_ENDPOINT_URL"],
		Region:          vars["AWS_REGION"],
		ReplicaRegion:   vars["CUSTODY_TEST_REPLICA_REGION"],
		AccessKey:       vars["AWS_ACCESS_KEY_ID"],
		SecretKey:       vars["AWS_SECRET_ACCESS_KEY"],
		vars:            vars,
	}
	if e.S3Endpoint == "" || e.ReplicaEndpoint == "" || e.Endpoint == "" {
		return Env{}, fmt.Errorf("env file %s is incomplete", path)
	}
	return e, nil
}

func (e Env) healthy() bool {
	c := http.Client{Timeout: 2 * time.Second}
	for _, u := range []string{e.S3Endpoint + "/minio/health/live", e.ReplicaEndpoint + "/minio/health/live", e.Endpoint + "/moto-api/"} {
		resp, err := c.Get(u)
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
	}
	return true
}

// Environ returns the variables that point the SDK (and so custody and
// recover run as subprocesses) at the stand-ins, ready for exec.Cmd.Env.
func (e Env) Environ() []string {
	out := make([]string, 0, len(e.vars))
	for k, v := range e.vars {
		out = append(out, k+"="+v)
	}
	return out
}

// Setenv points this test's process environment at the stand-ins, for
// code that resolves the SDK's configuration itself (commands, sigstore's
// KMS provider). Tests that call it cannot run in parallel.
func (e Env) Setenv(t testing.TB) {
	t.Helper()
	for k, v := range e.vars {
		t.Setenv(k, v)
	}
}

// Config returns a client configuration for the primary region: S3 on
// the primary MinIO, every other service on moto.
func (e Env) Config(t testing.TB) awsclient.Config {
	return e.config(t, e.Region, e.S3Endpoint)
}

// ReplicaConfig is Config for the replica region and MinIO.
func (e Env) ReplicaConfig(t testing.TB) awsclient.Config {
	return e.config(t, e.ReplicaRegion, e.ReplicaEndpoint)
}

func (e Env) config(t testing.TB, region, s3Endpoint string) awsclient.Config {
	t.Helper()
	c, err := awsclient.Load(context.Background(), awsclient.Options{
		Region:      region,
		Endpoint:    e.Endpoint,
		S3Endpoint:  s3Endpoint,
		Credentials: credentials.NewStaticCredentialsProvider(e.AccessKey, e.SecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// S3 returns a client of the primary MinIO.
func (e Env) S3(t testing.TB) *s3.Client { return e.Config(t).S3() }

// ReplicaS3 returns a client of the replica MinIO.
func (e Env) ReplicaS3(t testing.TB) *s3.Client { return e.ReplicaConfig(t).S3() }

var nameBad = regexp.MustCompile(`[^a-z0-9-]+`)

// BucketName returns a fresh bucket name derived from the test's name.
func BucketName(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	base := strings.Trim(nameBad.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 45 {
		base = base[:45]
	}
	return strings.Trim("t-"+base, "-") + "-" + hex.EncodeToString(b[:])
}

// BucketOptions say how CreateBucket sets a bucket up.
type BucketOptions struct {
	Versioning bool
	// ObjectLock enables Object Lock (which implies versioning); with a
	// non-empty Mode it also sets a default retention of Days.
	ObjectLock bool
	Mode       types.ObjectLockRetentionMode
	Days       int32
}

// CreateBucket creates a fresh bucket with the given options.
func CreateBucket(t testing.TB, c *s3.Client, o BucketOptions) string {
	t.Helper()
	ctx := context.Background()
	name := BucketName(t)
	in := &s3.CreateBucketInput{Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(o.ObjectLock)}
	if region := c.Options().Region; region != "" && region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	if _, err := c.CreateBucket(ctx, in); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	if o.Versioning && !o.ObjectLock {
		if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  aws.String(name),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
		}); err != nil {
			t.Fatalf("enable versioning on %s: %v", name, err)
		}
	}
	if o.ObjectLock && o.Mode != "" {
		if _, err := c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{
			Bucket: aws.String(name),
			ObjectLockConfiguration: &types.ObjectLockConfiguration{
				ObjectLockEnabled: types.ObjectLockEnabledEnabled,
				Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{
					Mode: o.Mode, Days: aws.Int32(o.Days),
				}},
			},
		}); err != nil {
			t.Fatalf("set default retention on %s: %v", name, err)
		}
	}
	return name
}

// Tool returns the path of a tool that scripts/localaws install built and
// cached (name is "cosign"), or ends the test as Require does.
func Tool(t testing.TB, name, version string) string {
	t.Helper()
	cache := os.Getenv("CUSTODY_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "custody")
	}
	p := filepath.Join(cache, "bin", name+"-"+version)
	if _, err := os.Stat(p); err != nil {
		if Required() {
			t.Fatalf("%s %s is not installed (scripts/localaws install --%s): %v", name, version, name, err)
		}
		t.Skipf("%s %s is not installed (scripts/localaws install --%s)", name, version, name)
	}
	return p
}

// CosignVersion is the cosign release the interoperability tests use; keep
// it in step with scripts/testaws.
const CosignVersion = "v2.6.5"

// PeakHeap samples the Go heap in use every 10 ms until the returned
// function is called, which returns the peak in bytes: benchmarks report
// it as the memory of what they measure.
//
// It reads runtime/metrics, whose heap figures need no stop of the world:
// runtime.ReadMemStats stops every goroutine, and a hundred times a second
// it slowed what it measured (the bare loops beside it were not sampled).
// Heap objects plus unused heap bytes are MemStats.HeapInuse.
func PeakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		for {
			metrics.Read(samples)
			if inuse := samples[0].Value.Uint64() + samples[1].Value.Uint64(); inuse > peak.Load() {
				peak.Store(inuse)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}
