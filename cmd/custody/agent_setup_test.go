package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/testaws"
)

// custodyFixture is a signing key, an initialised evidence bucket and a
// monitored, versioned bucket on the stand-ins.
type custodyFixture struct {
	dir, store, src string
	s3              *s3.Client
}

func newCustodyFixture(t *testing.T) *custodyFixture {
	t.Helper()
	e := testaws.Require(t)
	e.Setenv(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "pass")
	c := e.S3(t)
	f := &custodyFixture{dir: t.TempDir(), store: testaws.BucketName(t), s3: c,
		src: testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})}
	if _, errOut, code := run(t, "keygen", "--out", filepath.Join(f.dir, "k.pem")); code != 0 {
		t.Fatalf("keygen: %s", errOut)
	}
	cfg := f.config(t, "{stream: fixture}", `{cloudtrail: "", config: ""}`)
	if _, errOut, code := run(t, "-c", cfg, "store", "init", "--yes"); code != 0 {
		t.Fatalf("store init: %s", errOut)
	}
	return f
}

// config writes a configuration with the given agent and schedules
// sections (YAML flow maps) and returns its path.
func (f *custodyFixture) config(t *testing.T, agent, schedules string) string {
	t.Helper()
	path := filepath.Join(f.dir, fmt.Sprintf("custody-%d.yaml", time.Now().UnixNano()))
	writeConfig(t, path, fmt.Sprintf(`ledger: %s/ledger.db
agent: %s
store: {bucket: %s, retention: {mode: COMPLIANCE, days: 1}}
signer: {key: "file://%s/k.pem"}
schedules: %s
sources:
  accounts:
    - id: "123456789012"
      regions: [us-east-1]
      buckets: [%s]
`, f.dir, agent, f.store, f.dir, schedules, f.src))
	return path
}

// deadEndpoint is a loopback URL nothing listens on: the port was free
// a moment ago.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	return "http://" + testaws.FreeAddr(t)
}

// runningAgent is `custody agent` run in-process until stop.
type runningAgent struct {
	logs   *testaws.Buffer
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// startAgent runs the agent (its config must set log_json and listen on
// 127.0.0.1:0) and waits until it serves /healthz.
func startAgent(t *testing.T, args ...string) *runningAgent {
	t.Helper()
	a := &runningAgent{logs: &testaws.Buffer{}, done: make(chan error, 1)}
	g := &globals{stdout: io.Discard, stderr: a.logs, now: time.Now}
	root := newRootCommand(g)
	root.SetArgs(append(args, "agent"))
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() { a.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() { a.stop(t) })
	a.waitLog(t, func(l logLine) bool {
		if l["msg"] == "serving /healthz and /metrics" {
			a.addr, _ = l["addr"].(string)
		}
		return a.addr != ""
	}, "serving /healthz")
	return a
}

func (a *runningAgent) stop(t *testing.T) {
	t.Helper()
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.cancel = nil
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("agent: %v\n%s", err, a.logs.String())
		}
	case <-time.After(2 * time.Minute):
		t.Errorf("the agent did not stop\n%s", a.logs.String())
	}
}

type logLine map[string]any

func (a *runningAgent) lines() []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(a.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// count counts the log lines that match.
func (a *runningAgent) count(match func(logLine) bool) int {
	n := 0
	for _, l := range a.lines() {
		if match(l) {
			n++
		}
	}
	return n
}

// waitLog waits (up to a minute, however loaded the machine) for a log
// line that matches.
func (a *runningAgent) waitLog(t *testing.T, match func(logLine) bool, what string) logLine {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, l := range a.lines() {
			if match(l) {
				return l
			}
		}
		select {
		case err := <-a.done:
			a.cancel = nil
			t.Fatalf("the agent stopped (%v) before logging %s:\n%s", err, what, a.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("no log line %s within a minute:\n%s", what, a.logs.String())
	return nil
}

func (a *runningAgent) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + a.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func msgIs(msg string, kv ...string) func(logLine) bool {
	return func(l logLine) bool {
		if l["msg"] != msg {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if fmt.Sprint(l[kv[i]]) != kv[i+1] {
				return false
			}
		}
		return true
	}
}
