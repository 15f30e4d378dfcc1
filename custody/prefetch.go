package custody

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"
)

// prefetchWindow is how many small structural objects (manifests, tokens,
// checkpoint versions) verify reads ahead of the checks that need them in
// order: a stream of 100,000 manifests is read at the bucket's parallel
// throughput, not one round trip at a time, in bounded memory.
const prefetchWindow = 256

// prefetchSource is an evidence source whose small objects can be read
// ahead, in parallel and in the background: Open waits for a version
// being read ahead and serves it once, from memory; anything else is read
// from the source.
type prefetchSource struct {
	evidenceSource
	sem   chan struct{} // bounds the reads in flight
	mu    sync.Mutex
	cache map[string]*prefetched
}

type prefetched struct {
	done chan struct{}
	body []byte
	meta ObjectMeta
	err  error
}

func newPrefetchSource(src evidenceSource, concurrency int) *prefetchSource {
	return &prefetchSource{evidenceSource: src, sem: make(chan struct{}, max(concurrency, 1)), cache: map[string]*prefetched{}}
}

// prefetch starts reading vs (up to maxEnvelopeSize each) and returns at
// once; Open waits for what it needs.
func (p *prefetchSource) prefetch(ctx context.Context, vs []ObjectVersion) {
	for _, ov := range vs {
		id := ov.Key + "\x00" + ov.VersionID
		p.mu.Lock()
		_, dup := p.cache[id]
		e := &prefetched{done: make(chan struct{})}
		if !dup && !ov.DeleteMarker {
			p.cache[id] = e
		}
		p.mu.Unlock()
		if dup || ov.DeleteMarker {
			continue
		}
		go func() {
			defer close(e.done)
			select {
			case p.sem <- struct{}{}:
			case <-ctx.Done():
				e.err = ctx.Err()
				return
			}
			defer func() { <-p.sem }()
			rc, meta, err := p.evidenceSource.Open(ctx, ov.Key, ov.VersionID)
			if err == nil {
				e.body, err = io.ReadAll(io.LimitReader(rc, maxEnvelopeSize+1))
				rc.Close()
			}
			e.meta, e.err = meta, err
		}()
	}
}

// Open serves a version read ahead (once), else reads it.
func (p *prefetchSource) Open(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, error) {
	id := key + "\x00" + versionID
	p.mu.Lock()
	e, ok := p.cache[id]
	delete(p.cache, id)
	p.mu.Unlock()
	if !ok {
		return p.evidenceSource.Open(ctx, key, versionID)
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return nil, ObjectMeta{}, ctx.Err()
	}
	if e.err != nil {
		return nil, e.meta, e.err
	}
	return io.NopCloser(bytes.NewReader(e.body)), e.meta, nil
}

// prefetch reads ahead through v's source when it is a prefetchSource.
func (v *Verifier) prefetch(ctx context.Context, vs []ObjectVersion) {
	if p, ok := v.src.(*prefetchSource); ok && len(vs) > 0 {
		p.prefetch(ctx, vs)
	}
}

// ServerTime passes the source's clock through, when it has one.
func (p *prefetchSource) ServerTime() time.Time {
	if s, ok := p.evidenceSource.(interface{ ServerTime() time.Time }); ok {
		return s.ServerTime()
	}
	return time.Time{}
}
