package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
)

// TestSafetyInterruptedVerify: SIGINT while verify reads artifacts ends it
// with "interrupted" and exit 130, and prints no report: the reads the
// interruption cut short are not failures of the evidence. An interrupted
// export leaves no package and records no event.
func TestSafetyInterruptedVerify(t *testing.T) {
	s := newSafetyStore(t)
	bin := custodyBin(t)
	args := []string{"-c", s.cfg, "add", "--case", "IR-1"}
	for i := range 30 {
		args = append(args, s.file(t, fmt.Sprintf("shot-%02d.png", i), strings.Repeat("x", 1000+i)))
	}
	if out, errOut, code := run(t, args...); code != 0 {
		t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
	}

	// A proxy in front of MinIO that slows every read of an artifact and
	// says when the first one starts.
	target, err := url.Parse(s.env.S3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // the reads cut short
	var mu sync.Mutex
	var reading chan struct{} // closed at the first read of an artifact
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Has("versionId") && strings.Contains(r.URL.Path, "/cases/") {
			mu.Lock()
			select {
			case <-reading:
			default:
				if reading != nil {
					close(reading)
				}
			}
			mu.Unlock()
			time.Sleep(300 * time.Millisecond)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()

	pkg := filepath.Join(s.dir, "IR-1.tar.gz")
	before := s.versions(t)
	for _, a := range [][]string{
		{"-c", s.cfg, "verify", "--concurrency", "2"},
		{"--json", "-c", s.cfg, "verify", "--concurrency", "2"},
		{"-c", s.cfg, "export", "--case", "IR-1", "--concurrency", "2", "--out", pkg},
	} {
		name := strings.Join(a[2:], " ")
		mu.Lock()
		started := make(chan struct{})
		reading = started
		mu.Unlock()
		cmd := exec.Command(bin, a...)
		cmd.Env = append(os.Environ(), "CUSTODY_STORE_ENDPOINT="+srv.URL)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-started:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("%s never read an artifact\n%s%s", name, out.String(), errOut.String())
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		if code := cmd.ProcessState.ExitCode(); code != cli.ExitCanceled || !strings.Contains(errOut.String(), "interrupted") {
			t.Errorf("interrupted %s: exit %d, want %d and \"interrupted\"\n%s%s", name, code, cli.ExitCanceled, out.String(), errOut.String())
		}
		if out.Len() != 0 || strings.Contains(errOut.String(), "artifact-unreadable") {
			t.Errorf("interrupted %s printed a report:\n%s%s", name, out.String(), errOut.String())
		}
	}
	// The interrupted export left no package and recorded no event.
	if _, err := os.Stat(pkg); !os.IsNotExist(err) {
		t.Errorf("interrupted export left a package: %v", err)
	}
	if after := s.versions(t); !sameStrings(before, after) {
		t.Errorf("interrupted runs wrote to the bucket:\nbefore %v\nafter  %v", before, after)
	}
}

// TestSafetyLockWaitSaysWho: a command that must wait for another
// process's stream lock says at once, on stderr, who holds it.
func TestSafetyLockWaitSaysWho(t *testing.T) {
	s := newSafetyStore(t)
	bin := custodyBin(t)
	unlock, err := custody.LockStreamAt(s.ledger, s.stream, time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()

	cmd := exec.Command(bin, "-c", s.cfg, "add", "--case", "IR-1", s.file(t, "a.txt", "a"))
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	want := fmt.Sprintf("held by pid %d on ", os.Getpid())
	started := time.Now()
	var said string
	for said == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				_ = cmd.Wait() // the exit code is what the failure reports
				t.Fatalf("add ended without saying who holds the lock (exit %d)", cmd.ProcessState.ExitCode())
			}
			if strings.Contains(l, "waiting for the lock of stream "+s.stream) && strings.Contains(l, want) {
				said = l
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatal("add did not say within 10s who holds the lock")
		}
	}
	if d := time.Since(started); d > 5*time.Second {
		t.Errorf("the wait was announced after %v, not at once", d)
	}
	if !strings.Contains(said, ".test") {
		t.Errorf("the holder's command is not named: %q", said)
	}
	unlock()
	locked = false
	out, _ := io.ReadAll(outPipe)
	for range lines {
	}
	if err := cmd.Wait(); err != nil || !strings.Contains(string(out), "sealed s3://") {
		t.Fatalf("add after the lock was released: %v\n%s", err, out)
	}
}
