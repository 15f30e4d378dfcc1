package custody

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"sync"
	"time"
)

// prefetchWindow is how many small structural objects (manifests, tokens,
// checkpoint versions) verify reads ahead of the checks that need them in
// order: a stream of 100,000 manifests is read at the bucket's parallel
// throughput, not one round trip at a time, in bounded memory.
const prefetchWindow = 256

// trustedSize is the largest body size a server's declaration makes
// readAllSized allocate before the bytes arrive.
const trustedSize = 1 << 20

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
	// decoded is what the prefetch's decode made of body, if it had one.
	decoded any
}

func newPrefetchSource(src evidenceSource, concurrency int) *prefetchSource {
	return &prefetchSource{evidenceSource: src, sem: make(chan struct{}, max(concurrency, 1)), cache: map[string]*prefetched{}}
}

// prefetch starts reading vs (up to maxEnvelopeSize each) and returns at
// once; Open waits for what it needs.
func (p *prefetchSource) prefetch(ctx context.Context, vs []ObjectVersion) {
	p.prefetchDecoded(ctx, vs, nil)
}

// prefetchDecoded is prefetch that also runs decode (when not nil) over
// each body read (checked against S3's checksum first, see
// OpenSelfChecked), once its read is done and outside the bound on reads in
// flight: the CPU work of checking small objects runs in parallel with
// the reads and with the checks that take them in order (openDecoded).
// decode may keep body, which nothing changes, and must be safe to run
// concurrently.
func (p *prefetchSource) prefetchDecoded(ctx context.Context, vs []ObjectVersion, decode func(ov ObjectVersion, body []byte) any) {
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
			open := p.evidenceSource.Open
			if decode != nil {
				open = func(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, error) {
					return openSelfChecked(ctx, p.evidenceSource, key, versionID)
				}
			}
			rc, meta, err := open(ctx, ov.Key, ov.VersionID)
			if err == nil {
				e.body, err = readAllSized(rc, meta.Size, maxEnvelopeSize+1)
				rc.Close()
			}
			if err == nil && decode != nil && len(e.body) <= maxEnvelopeSize {
				sum := sha256.Sum256(e.body)
				err = checkTransfer(meta, sum[:])
			}
			<-p.sem
			e.meta, e.err = meta, err
			if err == nil && decode != nil {
				e.decoded = decode(ov, e.body)
			}
		}()
	}
}

// OpenSelfChecked is openSelfChecked through the prefetch: a version
// read ahead was checked against S3's checksum as it was read.
func (p *prefetchSource) OpenSelfChecked(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, error) {
	p.mu.Lock()
	_, ok := p.cache[key+"\x00"+versionID]
	p.mu.Unlock()
	if ok {
		return p.Open(ctx, key, versionID)
	}
	return openSelfChecked(ctx, p.evidenceSource, key, versionID)
}

// Open serves a version read ahead (once), else reads it.
func (p *prefetchSource) Open(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, error) {
	rc, meta, _, err := p.openDecoded(ctx, key, versionID)
	return rc, meta, err
}

// openDecoded is Open that also returns what the prefetch's decode made
// of the bytes (nil when the version was not read ahead with one).
func (p *prefetchSource) openDecoded(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, any, error) {
	id := key + "\x00" + versionID
	p.mu.Lock()
	e, ok := p.cache[id]
	delete(p.cache, id)
	p.mu.Unlock()
	if !ok {
		rc, meta, err := p.evidenceSource.Open(ctx, key, versionID)
		return rc, meta, nil, err
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return nil, ObjectMeta{}, nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.meta, nil, e.err
	}
	return io.NopCloser(bytes.NewReader(e.body)), e.meta, e.decoded, nil
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

// readAllSized reads r to its end, up to limit bytes, into one buffer the
// size the server declared (size, -1 if unknown) rather than growing one:
// verify reads 100,000 manifests. A body longer or shorter than declared
// is read as it is. Only a small declared size is trusted up front: a
// server claiming a huge body grows the buffer with the bytes it really
// sends, as io.ReadAll does.
func readAllSized(r io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 || size >= limit || size > trustedSize {
		return io.ReadAll(io.LimitReader(r, limit))
	}
	buf := make([]byte, size+1) // one byte more shows a longer body
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return buf[:n], nil
	case err != nil:
		return buf[:n], err
	}
	rest, err := io.ReadAll(io.LimitReader(r, limit-int64(n)))
	return append(buf, rest...), err
}
