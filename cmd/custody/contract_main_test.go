package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The contract tests run the real custody binary, built once per test
// run and removed by TestMain.
var contractBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if contractBin.dir != "" {
		os.RemoveAll(contractBin.dir)
	}
	os.Exit(code)
}

// custodyBin builds the custody binary (once) and returns its path.
func custodyBin(t testing.TB) string {
	t.Helper()
	contractBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "custody-contract-")
		if err != nil {
			contractBin.err = err
			return
		}
		contractBin.dir = dir
		contractBin.path = filepath.Join(dir, "custody")
		if out, err := exec.Command("go", "build", "-o", contractBin.path, ".").CombinedOutput(); err != nil {
			contractBin.err = errors.New("build custody: " + err.Error() + "\n" + string(out))
		}
	})
	if contractBin.err != nil {
		t.Fatal(contractBin.err)
	}
	return contractBin.path
}

// binRun is one run of the custody binary: in dir (a fresh temporary
// directory when empty), with the process environment minus every
// CUSTODY_* variable, plus env.
type binRun struct {
	dir string
	env []string
}

func (r binRun) run(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(custodyBin(t), args...)
	cmd.Dir = r.dir
	if cmd.Dir == "" {
		cmd.Dir = t.TempDir()
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUSTODY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, r.env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run custody %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}
