package custody

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

// A server's declared size only sizes the buffer: a body longer or
// shorter than declared is read as it is, and the limit still holds.
func TestReadAllSized(t *testing.T) {
	body := strings.Repeat("manifest", 100) // 800 bytes
	for _, tc := range []struct {
		name        string
		size, limit int64
		want        string
	}{
		{"as declared", 800, 1 << 20, body},
		{"unknown size", -1, 1 << 20, body},
		{"declared shorter", 10, 1 << 20, body},
		{"declared longer", 5000, 1 << 20, body},
		{"empty body declared empty", 0, 1 << 20, ""},
		{"limit below the body", 800, 100, body[:100]},
		{"declared shorter, limit below the body", 10, 100, body[:100]},
		{"a huge size declared: not allocated up front", 200 << 20, 256 << 20, body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := body
			if tc.want == "" {
				src = ""
			}
			got, err := readAllSized(strings.NewReader(src), tc.size, tc.limit)
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, len(tc.want))
			}
		})
	}
	// A server that declares 200 MiB and sends 800 bytes costs 800 bytes,
	// not 200 MiB, per manifest read ahead.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := readAllSized(strings.NewReader(body), 200<<20, 256<<20); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("a declared size allocated %d bytes up front", grew)
	}
	broken := errors.New("connection reset")
	got, err := readAllSized(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(broken)), 800, 1<<20)
	if !errors.Is(err, broken) || !bytes.Equal(got, []byte("abc")) {
		t.Fatalf("a broken read: %q, %v", got, err)
	}
}

// gatedSource serves every version as its key's bytes, each read held
// until release, counting the reads in flight and their order.
type gatedSource struct {
	mu             sync.Mutex
	inFlight, most int
	order          []string
	release        chan struct{}
	started        chan struct{}
}

func (g *gatedSource) Versions(context.Context, string, func(ObjectVersion) error) error { return nil }
func (g *gatedSource) Offline() bool                                                     { return true }

func (g *gatedSource) Open(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, error) {
	g.mu.Lock()
	g.inFlight++
	g.most = max(g.most, g.inFlight)
	g.order = append(g.order, key)
	g.mu.Unlock()
	g.started <- struct{}{}
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}()
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ObjectMeta{}, ctx.Err()
	}
	return io.NopCloser(strings.NewReader(key)), ObjectMeta{Size: int64(len(key))}, nil
}

// The read-ahead runs on at most twice as many workers as reads may be in
// flight (not a goroutine per object), serves each version once, and
// leaves no goroutine behind; a cancelled read ahead answers with the
// context's error rather than hanging.
func TestPrefetchWorkers(t *testing.T) {
	const concurrency, n = 4, 200
	g := &gatedSource{release: make(chan struct{}), started: make(chan struct{}, n)}
	p := newPrefetchSource(g, concurrency)
	var vs []ObjectVersion
	for i := range n {
		vs = append(vs, ObjectVersion{Key: fmt.Sprintf("k%03d", i), VersionID: "v"})
	}
	vs = append(vs, vs[7], ObjectVersion{Key: "marker", VersionID: "m", DeleteMarker: true}) // a duplicate, a delete marker
	before := runtime.NumGoroutine()
	ctx := context.Background()
	p.prefetch(ctx, vs)
	for range concurrency {
		<-g.started
	}
	// Every read in flight is held: the workers wait for a place, the rest
	// of the objects wait in the queue, not in goroutines of their own.
	if grew := runtime.NumGoroutine() - before; grew > 2*concurrency {
		t.Fatalf("%d goroutines for %d objects read ahead %d at a time; want at most %d", grew, n, concurrency, 2*concurrency)
	}
	close(g.release)
	for i := range n {
		key := fmt.Sprintf("k%03d", i)
		rc, _, err := p.Open(ctx, key, "v")
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if b, _ := io.ReadAll(rc); string(b) != key {
			t.Fatalf("%s served %q", key, b)
		}
	}
	g.mu.Lock()
	most, order := g.most, g.order
	g.mu.Unlock()
	if most > concurrency {
		t.Errorf("%d reads in flight; the bound is %d", most, concurrency)
	}
	if len(order) != n {
		t.Errorf("%d reads for %d versions (a duplicate or a delete marker read?)", len(order), n)
	}
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.workers == 0 })

	// Cancelled: what is still queued answers with the context's error.
	g2 := &gatedSource{release: make(chan struct{}), started: make(chan struct{}, n)}
	p2 := newPrefetchSource(g2, 1)
	cctx, cancel := context.WithCancel(ctx)
	p2.prefetch(cctx, vs[:20])
	<-g2.started
	cancel()
	for _, ov := range vs[:20] {
		if _, _, err := p2.Open(ctx, ov.Key, "v"); !errors.Is(err, context.Canceled) {
			t.Fatalf("%s after the read ahead was cancelled: %v, want context.Canceled", ov.Key, err)
		}
	}
	waitFor(t, func() bool { p2.mu.Lock(); defer p2.mu.Unlock(); return p2.workers == 0 })
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for range 500 {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("workers left running")
}
