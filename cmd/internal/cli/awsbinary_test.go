package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody-ir/custody/internal/testaws"
)

var recoverBin struct {
	once sync.Once
	path string
	err  error
}

// buildRecover builds the real recover binary once per test run.
func buildRecover(t *testing.T) string {
	t.Helper()
	recoverBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "custody-cli-test")
		if err != nil {
			recoverBin.err = err
			return
		}
		recoverBin.path = filepath.Join(dir, "recover")
		out, err := exec.Command("go", "build", "-o", recoverBin.path, "../../recover").CombinedOutput()
		if err != nil {
			recoverBin.err = errors.New(string(out))
		}
	})
	if recoverBin.err != nil {
		t.Fatalf("build recover: %v", recoverBin.err)
	}
	return recoverBin.path
}

// runRecoverAt runs recover --dry-run with every AWS call sent to addr and
// returns its stderr, exit code and duration.
func runRecoverAt(t *testing.T, addr string, env ...string) (string, int, time.Duration) {
	t.Helper()
	bin := buildRecover(t)
	cmd := exec.Command(bin, "--bucket", "custody-evidence", "--since", "1h", "--dry-run", "--ledger", filepath.Join(t.TempDir(), "j.db"))
	cmd.Env = append(os.Environ(),
		"AWS_ENDPOINT_URL=http://"+addr, "AWS_ENDPOINT_URL_S3=", "AWS_REGION=us-east-1", "AWS_PROFILE=", "AWS_MAX_ATTEMPTS=",
		"AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=b", "AWS_EC2_METADATA_DISABLED=true", "CUSTODY_DEBUG=")
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stderr.String(), code, took
}

// The real recover binary against an endpoint that refuses connections:
// it fails within seconds (13 to 39 s before), with one line naming the
// operation, what happened, where, and the attempts; no retry lines off a
// terminal.
func TestRecoverBinaryRefusedConnection(t *testing.T) {
	addr := testaws.FreeAddr(t)
	stderr, code, took := runRecoverAt(t, addr)
	t.Logf("refused: exit %d after %s: %s", code, took, stderr)
	if code != ExitIncomplete || took > 10*time.Second {
		t.Errorf("exit %d after %s, want 3 within 10 s", code, took)
	}
	line := regexp.MustCompile(`\nError: [^\n]*: [A-Za-z]+: connection refused \(` + regexp.QuoteMeta(addr) + `\) after \d+ attempts in [0-9.]+s\n$`)
	if !line.MatchString("\n"+stderr) || strings.Contains(stderr, "retry") || strings.Contains(stderr, "operation error") {
		t.Errorf("stderr %q, want one short error line last, and no retry lines", stderr)
	}
}

// The real recover binary against a server that accepts and never
// answers: bounded by CUSTODY_AWS_CALL_TIMEOUT (it was silent for over
// 400 s).
func TestRecoverBinarySilentServer(t *testing.T) {
	addr := testaws.SilentServer(t)
	stderr, code, took := runRecoverAt(t, addr, "CUSTODY_AWS_CALL_TIMEOUT=3s", "CUSTODY_AWS_ATTEMPT_TIMEOUT=1s")
	t.Logf("silent: exit %d after %s: %s", code, took, stderr)
	if code != ExitIncomplete || took > 8*time.Second {
		t.Errorf("exit %d after %s, want 3 within 8 s", code, took)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "Error: ") || !strings.Contains(last, ": no response within 1s ("+addr+") after ") || strings.Contains(stderr, "operation error") {
		t.Errorf("stderr %q, want a last line saying nothing answered", stderr)
	}
}
