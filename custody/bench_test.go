package custody

// Benchmarks against MinIO, each beside its baseline in the same run:
//
//	go test -run '^$' -bench . -benchtime 3x ./custody/
//
// Verify throughput is compared with a bare parallel GetObject + SHA-256
// loop over the same versions; sealing 10,000 artifacts with bare parallel
// PutObject calls carrying the same headers.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

const benchConcurrency = 16

func BenchmarkVerifyThroughput(b *testing.B) {
	ctx := context.Background()
	e := newTestEnv(b, config.ModeCompliance)
	const n, size = 128, 1 << 20
	run, err := e.chain.StartRun(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, size)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(benchConcurrency)
	for i := 0; i < n; i++ {
		g.Go(func() error {
			buf := append([]byte(nil), body...)
			rand.Read(buf)
			_, err := run.Put(gctx, ArtifactKey("custody", "1", "r", "bench", e.clock.now(), run.ID, fmt.Sprintf("a-%03d", i)), bytes.NewReader(buf), PutOptions{Kind: "bench"})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := run.Seal(ctx, SealRequest{Event: EventCollect}, nil); err != nil {
		b.Fatal(err)
	}
	arts := run.Artifacts()

	b.Run("baseline-get-sha256", func(b *testing.B) {
		b.SetBytes(n * size)
		for i := 0; i < b.N; i++ {
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(benchConcurrency)
			for _, a := range arts {
				g.Go(func() error {
					out, err := e.s3.GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(a.Key), VersionId: aws.String(a.VersionID)})
					if err != nil {
						return err
					}
					defer out.Body.Close()
					h := sha256.New()
					if _, err := io.CopyBuffer(h, out.Body, make([]byte, 256<<10)); err != nil {
						return err
					}
					if hex.EncodeToString(h.Sum(nil)) != a.SHA256 {
						return fmt.Errorf("digest mismatch")
					}
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("custody-verify", func(b *testing.B) {
		b.SetBytes(n * size)
		v := NewVerifier(e.s3, e.cfg, e.trust, nil, e.clock.now)
		for i := 0; i < b.N; i++ {
			r, err := v.Verify(ctx, VerifyOptions{Concurrency: benchConcurrency})
			if err != nil {
				b.Fatal(err)
			}
			if r.Checked.Subjects != n+0 || len(testaws.Failures(r.Findings)) != 0 {
				b.Fatalf("verify: %+v %v", r.Checked, testaws.Failures(r.Findings))
			}
		}
	})
}

func BenchmarkSeal10000(b *testing.B) {
	ctx := context.Background()
	const n = 10000
	body := []byte(`{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject"}`)
	sum := sha256.Sum256(body)
	checksum := base64.StdEncoding.EncodeToString(sum[:])

	b.Run("baseline-put", func(b *testing.B) {
		e := newTestEnv(b, config.ModeCompliance)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(benchConcurrency)
			until := time.Now().Add(24 * time.Hour)
			for j := 0; j < n; j++ {
				g.Go(func() error {
					_, err := e.s3.PutObject(gctx, &s3.PutObjectInput{
						Bucket: aws.String(e.cfg.Bucket), Key: aws.String(fmt.Sprintf("custody/base/%d/%05d", i, j)), Body: bytes.NewReader(body),
						ContentLength: aws.Int64(int64(len(body))), ChecksumSHA256: aws.String(checksum),
						ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until),
					})
					return err
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("custody-run-and-seal", func(b *testing.B) {
		e := newTestEnv(b, config.ModeCompliance)
		b.ResetTimer()
		var sealNs atomic.Int64
		for i := 0; i < b.N; i++ {
			run, err := e.chain.StartRun(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(benchConcurrency)
			for j := 0; j < n; j++ {
				g.Go(func() error {
					_, err := run.Put(gctx, ArtifactKey("custody", "1", "r", "bench", e.clock.now(), run.ID, fmt.Sprintf("%05d", j)), bytes.NewReader(body), PutOptions{Kind: "bench"})
					return err
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, err := run.Seal(ctx, SealRequest{Event: EventCollect}, nil); err != nil {
				b.Fatal(err)
			}
			sealNs.Add(int64(time.Since(start)))
		}
		b.ReportMetric(float64(sealNs.Load())/float64(b.N)/1e6, "seal-ms/op")
	})
	b.Run("manifest-build-and-sign", func(b *testing.B) {
		arts := make([]Artifact, n)
		for j := range arts {
			arts[j] = Artifact{Key: fmt.Sprintf("custody/1/r/bench/2026/11/23/run/%05d", j), VersionID: "v", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body))}
		}
		signer := newKey(b)
		for i := 0; i < b.N; i++ {
			payload, err := json.Marshal(NewStatement(Predicate{Stream: "s", Sequence: 1}, arts, "COMPLIANCE"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := SignEnvelope(signer, PayloadType, payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCaseExportSize measures what a case package carries out of a
// store of 10,000 manifests in one stream (each sealing 3 small
// artifacts): the case sealed near the head, and the case sealed halfway.
// A package holds the case's artifacts and every manifest from the case's
// first one to the head, so its size grows with the manifests sealed
// since the case, not with the store.
//
//	go test -run '^$' -bench CaseExportSize -benchtime 1x -timeout 30m ./custody/
func BenchmarkCaseExportSize(b *testing.B) {
	ctx := context.Background()
	e := newTestEnv(b, config.ModeCompliance)
	const manifests = 10_000
	addCase := func(id string) {
		run, err := e.chain.StartRun(ctx, "add")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := run.Put(ctx, CaseKey("custody", id, e.clock.now(), run.ID, "notes.txt"), bytes.NewReader([]byte("responder notes")), PutOptions{Kind: "file", Case: id}); err != nil {
			b.Fatal(err)
		}
		if _, err := run.Seal(ctx, SealRequest{Event: EventAdd, Case: id}, nil); err != nil {
			b.Fatal(err)
		}
	}
	for i := 1; i <= manifests-2; i++ {
		if i == manifests/2 {
			addCase("HALFWAY")
		}
		e.collect(e.chain, 3)
	}
	addCase("RECENT")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range []string{"RECENT", "HALFWAY"} {
			out := filepath.Join(b.TempDir(), c+".tar.gz")
			start := time.Now()
			res, err := NewVerifier(e.s3, e.cfg, e.trust, e.ledger, e.clock.now).Export(ctx, VerifyOptions{Case: c}, out, e.chain)
			if err != nil {
				b.Fatal(err)
			}
			name := strings.ToLower(c)
			b.ReportMetric(float64(res.Size)/1024, name+"-package-KiB")
			b.ReportMetric(float64(res.Manifests), name+"-manifests")
			b.ReportMetric(time.Since(start).Seconds(), name+"-export-s")
		}
	}
}
