package testaws

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/custody-ir/custody/internal/awsclient"
)

// Moto is a moto server of one test's own, started by StartMoto.
type Moto struct {
	// Endpoint serves every service, S3 and S3 Control included.
	Endpoint string
	// Region is the region clients made by Config use.
	Region string
}

// motoArmed is INITIAL_NO_AUTH_ACTION_COUNT for a dedicated server: IAM is
// enforced after this many requests, or as soon as Enforce is called.
const motoArmed = "1000000"

// StartMoto starts a moto server for the calling test alone
// (scripts/motoserver.py on a free loopback port, as scripts/localaws
// runs it) and stops it when the test ends. The server answers every
// request until Enforce is called, so that the test can set up buckets,
// keys, users and roles; from then on it enforces IAM: every request must
// be signed by an IAM user or assumed role it knows and is checked against
// their policies. Without python3 and moto the test is skipped, or fails
// when the servers are Required.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	script, err := findScript("motoserver.py")
	if err != nil {
		unavailable(t, err)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		unavailable(t, err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "moto.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, script, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "INITIAL_NO_AUTH_ACTION_COUNT="+motoArmed)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		unavailable(t, fmt.Errorf("start %s: %w", script, err))
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		logFile.Close()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // fails only if moto has exited already, which done reports
		<-done
	})

	m := &Moto{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Region: "us-east-1"}
	client := http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := client.Get(m.Endpoint + "/moto-api/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m
			}
		}
		select {
		case <-done:
			out, _ := os.ReadFile(logPath)
			unavailable(t, fmt.Errorf("moto exited while starting (%v):\n%s", waitErr, tail(out, 20)))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logPath)
			t.Fatalf("moto did not answer at %s within 60s:\n%s", m.Endpoint, tail(out, 20))
		}
	}
}

// Enforce turns IAM enforcement on: from now on every request is
// authenticated and authorized.
func (m *Moto) Enforce(t testing.TB) {
	t.Helper()
	resp, err := http.Post(m.Endpoint+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("moto reset-auth: %s", resp.Status)
	}
}

// Config returns a client configuration whose every service, S3 and S3
// Control included, is this server, with the given access key.
func (m *Moto) Config(t testing.TB, accessKey, secretKey string) awsclient.Config {
	t.Helper()
	c, err := awsclient.Load(context.Background(), awsclient.Options{
		Region:      m.Region,
		Endpoint:    m.Endpoint,
		S3Endpoint:  m.Endpoint,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Anonymous is a client configuration with credentials moto does not
// know: before Enforce it may do anything, after it nothing.
func (m *Moto) Anonymous(t testing.TB) awsclient.Config {
	return m.Config(t, "AKIDSETUP", "setup-secret")
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("moto unavailable (CI requires it): %v", err)
	}
	t.Skipf("moto unavailable (pip install 'moto[server]'): %v", err)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, lines int) []byte {
	parts := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return bytes.Join(parts, []byte("\n"))
}
