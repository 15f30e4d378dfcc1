package custody

// BenchmarkVerifyGeneratedLog verifies one stream of generated manifests
// (default 100,000, each sealing one small artifact, with a checkpoint
// version every 1,000), from a machine without the ledger, beside a bare
// parallel GET + SHA-256 loop over the same objects; then exports a case
// of one manifest from the middle and reports the package and its proof.
//
//	CUSTODY_BENCH_MANIFESTS=100000 go test -run '^$' -bench VerifyGeneratedLog -benchtime 1x -timeout 60m ./custody/
//
// Run it at 10,000 and at 100,000: ns per manifest stays flat (linear).
// CUSTODY_BENCH_ROUNDS=3 alternates baseline and verify three times on the
// same store and logs each round's ratio: MinIO shares the machine's
// cores with both, so one pair of loops swings with its load.
// CUSTODY_BENCH_SERVER_PID=$(pgrep -f 'minio.*primary') adds each phase's
// CPU seconds, client and server, and allocations; CUSTODY_BENCH_PROFILES=DIR
// writes a CPU and an allocation profile per phase and round.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/internal/config"
)

func BenchmarkVerifyGeneratedLog(b *testing.B) {
	ctx := context.Background()
	n := 100_000
	if s := os.Getenv("CUSTODY_BENCH_MANIFESTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	e := newTestEnv(b, config.ModeGovernance)
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	put := func(ctx context.Context, key string, body []byte) (string, error) {
		sum := sha256.Sum256(body)
		out, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
			ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])), ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(until)})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.VersionId), nil
	}
	start := time.Now()
	// The artifacts, in parallel; the case's is manifest n/2's.
	arts := make([]Artifact, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range arts {
		g.Go(func() error {
			body := fmt.Appendf(nil, `{"item":%d}`, i)
			caseID := ""
			key := ArtifactKey("custody", "123456789012", "us-east-1", "bench", until, fmt.Sprintf("run-%06d", i), "item.json")
			if i == n/2 {
				caseID = "BENCH-CASE"
				key = CaseKey("custody", caseID, until, fmt.Sprintf("run-%06d", i), "notes.txt")
			}
			v, err := put(gctx, key, body)
			sum := sha256.Sum256(body)
			arts[i] = Artifact{Bucket: e.cfg.Bucket, Key: key, VersionID: v, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body)), Kind: "bench", RetainUntil: until, Case: caseID}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	// The manifests, signed in order (each links to the one before), then
	// stored in parallel; a checkpoint every 1,000 and at the end.
	envs := make([][]byte, n)
	prev := ""
	sealed := time.Now().UTC()
	f := &frontier{}
	var checkpoints [][]byte
	for i := range envs {
		p := Predicate{Stream: "agent-1", Sequence: int64(i + 1), PreviousSHA256: prev, Event: EventCollect, RunID: fmt.Sprintf("run-%06d", i),
			Bucket: e.cfg.Bucket, Case: arts[i].Case, Who: Who{Host: "bench", Software: "custody-bench", KeyID: e.trust[0].KeyID}, When: When{SealedAt: sealed}}
		payload, err := json.Marshal(NewStatement(p, arts[i:i+1], config.ModeGovernance))
		if err != nil {
			b.Fatal(err)
		}
		if envs[i], err = SignEnvelope(e.signer, PayloadType, payload); err != nil {
			b.Fatal(err)
		}
		sum := sha256.Sum256(envs[i])
		prev = hex.EncodeToString(sum[:])
		f.append(leafHash(envs[i]))
		if (i+1)%1000 == 0 || i == n-1 {
			cp, err := signLogCheckpoint(LogCheckpoint{Origin: LogOrigin(e.cfg.Bucket, "custody", "agent-1"), Size: f.size, Root: f.root(), Time: time.Now().UTC().Truncate(time.Second),
				Closed: true, HeadSHA: prev, Frontier: f.nodes}, e.signer)
			if err != nil {
				b.Fatal(err)
			}
			checkpoints = append(checkpoints, cp)
		}
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range envs {
		g.Go(func() error {
			_, err := put(gctx, ManifestKey("custody", "agent-1", int64(i+1)), envs[i])
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	for _, cp := range checkpoints { // in order: every version is kept
		if _, err := put(ctx, LogCheckpointKey("custody", "agent-1"), cp); err != nil {
			b.Fatal(err)
		}
	}
	e.clock.t = time.Now() // the registry entry is signed now
	if err := e.store.registry().append(ctx, e.chain, f.size, f.root()); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d manifests in %s", n, time.Since(start).Round(time.Second))

	// CUSTODY_BENCH_ROUNDS alternates the loops that many times per
	// iteration (each round's ratio logged): on a shared machine the
	// ratio of sums over rounds is steadier than one pair.
	rounds := 1
	if s := os.Getenv("CUSTODY_BENCH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	var list, raw, full time.Duration
	var versions []ObjectVersion
	// CUSTODY_BENCH_SERVER_PID (MinIO's pid) adds, per round, the CPU
	// seconds this process and the server spent in each loop: both share
	// the cores, so the ratio of wall times is a ratio of their sums.
	cpu := newBenchCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N*rounds; i++ {
		list0, raw0, full0 := list, raw, full
		// The baseline: list the store, then GET and hash every version
		// (pooled buffers, as verify's reads), 16 at a time. x-raw
		// compares verify with the reads alone, x-raw-listed with both.
		t0 := time.Now()
		cpu.mark()
		versions = versions[:0]
		if err := (s3Source{api: e.s3, bucket: e.cfg.Bucket}).Versions(ctx, "custody/", func(ov ObjectVersion) error {
			versions = append(versions, ov)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		list += time.Since(t0)
		cpu.phase("list", "raw")
		t0 = time.Now()
		// Profile labels (go tool pprof -tagfocus phase=verify) tell the
		// loops apart in -cpuprofile.
		g, gctx := errgroup.WithContext(pprof.WithLabels(ctx, pprof.Labels("phase", "raw")))
		pprof.SetGoroutineLabels(gctx)
		g.SetLimit(benchConcurrency)
		for _, ov := range versions {
			g.Go(func() error {
				out, err := e.s3.GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(ov.Key), VersionId: aws.String(ov.VersionID)})
				if err != nil {
					return err
				}
				defer out.Body.Close()
				h := sha256.New()
				buf := copyBuffers.Get().(*[]byte)
				_, err = io.CopyBuffer(h, out.Body, *buf)
				copyBuffers.Put(buf)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		raw += time.Since(t0)
		cpu.phase("raw", "verify")

		vctx := pprof.WithLabels(ctx, pprof.Labels("phase", "verify"))
		pprof.SetGoroutineLabels(vctx)
		t0 = time.Now()
		v := NewVerifier(e.s3, e.cfg, e.trust, nil, func() time.Time { return time.Now() })
		r, err := v.Verify(vctx, VerifyOptions{Concurrency: benchConcurrency})
		pprof.SetGoroutineLabels(ctx)
		if err != nil {
			b.Fatal(err)
		}
		full += time.Since(t0)
		cpu.phase("verify", "")
		cpu.live(r) // the report held: what verify keeps
		if r.Checked.Manifests != n || !r.OK {
			for _, f := range r.Findings[:min(5, len(r.Findings))] {
				b.Log(f)
			}
			b.Fatalf("verified %d manifests, ok %v", r.Checked.Manifests, r.OK)
		}
		cpu.log()
		if rounds > 1 {
			b.Logf("round %d: %.3fx raw, %.3fx raw listed", i+1, (raw-raw0).Seconds()/(full-full0).Seconds(), (raw-raw0+list-list0).Seconds()/(full-full0).Seconds())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(versions))/raw.Seconds()*float64(b.N*rounds), "raw-objects/s")
	b.ReportMetric(float64(len(versions))/full.Seconds()*float64(b.N*rounds), "verify-objects/s")
	b.ReportMetric(raw.Seconds()/full.Seconds(), "x-raw")
	b.ReportMetric((raw+list).Seconds()/full.Seconds(), "x-raw-listed")
	b.ReportMetric(float64(full.Nanoseconds())/float64(n*b.N*rounds), "verify-ns/manifest")

	// A case of one manifest out of n: the manifest, its artifact, its
	// proof and the newest checkpoint.
	out := filepath.Join(b.TempDir(), "case.tar.gz")
	res, err := NewVerifier(e.s3, e.cfg, e.trust, nil, time.Now).Export(ctx, VerifyOptions{Case: "BENCH-CASE", Concurrency: benchConcurrency}, out, e.newChain(e.ledger, "exporter"))
	if err != nil {
		b.Fatal(err)
	}
	_, bodies := entries(b, out)
	var ps PackageStatement
	if err := json.Unmarshal(bodies[bundlePackage], &ps); err != nil {
		b.Fatal(err)
	}
	proof := 0
	for _, m := range ps.Manifests {
		for _, h := range m.Proof {
			proof += len(h)
		}
	}
	b.ReportMetric(float64(res.Size)/1024, "case-package-KiB")
	b.ReportMetric(float64(res.Manifests), "case-manifests")
	b.ReportMetric(float64(proof), "case-proof-bytes")
}
