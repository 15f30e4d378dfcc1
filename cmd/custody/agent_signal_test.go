package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custody-ir/custody/internal/testaws"
)

// TestAgentSignals runs the real binary: SIGINT interrupts the agent
// (exit 130, "interrupted"), SIGTERM stops it (exit 0); either way the
// runs in flight are sealed first and the store verifies.
func TestAgentSignals(t *testing.T) {
	f := newCustodyFixture(t)
	bin := custodyBin(t)
	for _, tc := range []struct {
		signal os.Signal
		code   int
	}{{os.Interrupt, 130}, {syscall.SIGTERM, 0}} {
		t.Run(tc.signal.String(), func(t *testing.T) {
			cfg := f.config(t, `{stream: signal-test, log_json: true}`,
				`{cloudtrail: "", config: "", posture: "@every 1s", versions: "@every 1s", jitter: 0s}`)
			var stderr testaws.Buffer
			cmd := exec.Command(bin, "-c", cfg, "agent")
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(time.Minute)
			for strings.Count(stderr.String(), `"msg":"collected"`) < 2 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if err := cmd.Process.Signal(tc.signal); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(2 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("the agent did not stop on %v:\n%s", tc.signal, stderr.String())
			}
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			logs := stderr.String()
			if code != tc.code || strings.Contains(logs, "interrupted\n") != (tc.code == 130) {
				t.Fatalf("agent stopped by %v: exit %d, want %d\n%s", tc.signal, code, tc.code, logs)
			}
			// Stopping waits for the runs in flight, which seal.
			stopping := strings.Index(logs, `"msg":"stopping: waiting for runs in flight"`)
			if stopping < 0 || strings.Count(logs, `"msg":"collected"`) < 2 {
				t.Fatalf("agent logs:\n%s", logs)
			}
			var out, errOut bytes.Buffer
			v := exec.Command(bin, "-c", cfg, "verify")
			v.Stdout, v.Stderr = &out, &errOut
			if err := v.Run(); err != nil {
				t.Fatalf("verify after %v: %v\n%s%s", tc.signal, err, out.String(), errOut.String())
			}
		})
	}
}
