package main

// BenchmarkVerifyBundle measures verify --bundle of a 1 GiB package
// through the binary, beside its baseline in the same run: sha256sum over
// the same files, extracted.
//
//	go test -run '^$' -bench VerifyBundle -benchtime 1x ./cmd/custody/
//
// It reports the throughput of both, their ratio (the goal: verify at no
// less than 0.8 of sha256sum) and verify's peak resident memory (the
// goal: under 64 MiB).

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custody-ir/custody/internal/testaws"
)

func BenchmarkVerifyBundle(b *testing.B) {
	e := testaws.Require(b)
	dir := b.TempDir()
	r := binRun{dir: dir, env: append(e.Environ(), "CUSTODY_KEY_PASSPHRASE=bench passphrase")}
	must := func(args ...string) string {
		out, errOut, code := r.run(b, args...)
		if code != 0 {
			b.Fatalf("custody %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	must("keygen", "--out", filepath.Join(dir, "signing.pem"))
	cfg := filepath.Join(dir, "custody.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `ledger: %s/ledger.db
agent: {stream: bench}
store:
  bucket: %s
  retention: {mode: GOVERNANCE, days: 1}
signer: {key: file://%s/signing.pem}
`, dir, testaws.BucketName(b), dir), 0o600); err != nil {
		b.Fatal(err)
	}
	r.env = append(r.env, "CUSTODY_CONFIG="+cfg)
	must("store", "init")

	// 1 GiB of incompressible evidence in 16 files, added to one case.
	const files, size = 16, 64 << 20
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o700); err != nil {
		b.Fatal(err)
	}
	args := []string{"add", "--case", "BENCH"}
	for i := 0; i < files; i++ {
		p := filepath.Join(src, fmt.Sprintf("image-%02d.raw", i))
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyN(f, rand.Reader, size); err != nil {
			b.Fatal(err)
		}
		f.Close()
		args = append(args, p)
	}
	must(args...)
	pkg := filepath.Join(dir, "bench.tar.gz")
	var exported struct {
		SignerKeyID string `json:"signerKeyId"`
	}
	if err := json.Unmarshal([]byte(must("--json", "export", "--case", "BENCH", "--out", pkg)), &exported); err != nil {
		b.Fatal(err)
	}
	if err := os.RemoveAll(src); err != nil {
		b.Fatal(err)
	}

	// The baseline: sha256sum over the extracted files.
	x := filepath.Join(dir, "x")
	if err := os.Mkdir(x, 0o700); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("tar", "-xzf", pkg, "-C", x).CombinedOutput(); err != nil {
		b.Fatalf("tar: %v\n%s", err, out)
	}
	var extracted []string
	var total int64
	_ = filepath.Walk(x, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			extracted, total = append(extracted, p), total+info.Size()
		}
		return nil
	})

	var base, verify time.Duration
	var rss int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if out, err := exec.Command("sha256sum", extracted...).CombinedOutput(); err != nil {
			b.Fatalf("sha256sum: %v\n%s", err, out)
		}
		base += time.Since(start)

		cmd := exec.Command(custodyBin(b), "verify", "--bundle", pkg, "--key-id", exported.SignerKeyID)
		cmd.Env = r.env
		start = time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("verify --bundle: %v\n%s", err, out)
		}
		verify += time.Since(start)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss*1024 > rss {
			rss = ru.Maxrss * 1024 // kilobytes on Linux
		}
	}
	b.StopTimer()
	mib := float64(total) / (1 << 20) * float64(b.N)
	b.ReportMetric(mib/base.Seconds(), "sha256sum-MiB/s")
	b.ReportMetric(mib/verify.Seconds(), "verify-MiB/s")
	b.ReportMetric(base.Seconds()/verify.Seconds(), "x-sha256sum")
	b.ReportMetric(float64(rss)/(1<<20), "verify-maxrss-MiB")
}
