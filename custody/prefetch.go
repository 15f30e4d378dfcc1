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
	// queue holds the reads not yet started, in the order asked for,
	// which workers take: up to twice as many as reads may be in flight,
	// so that decoding does not hold a read's place. A worker goes on
	// while there is work, rather than a goroutine per object, whose
	// stack the SDK's deep calls would grow anew each time.
	queue   []prefetchJob
	workers int
}

type prefetched struct {
	done chan struct{}
	body []byte
	meta ObjectMeta
	err  error
	// decoded is what the prefetch's decode made of body, if it had one.
	decoded any
}

// prefetchJob is one read ahead, waiting for a worker.
type prefetchJob struct {
	ctx    context.Context
	ov     ObjectVersion
	e      *prefetched
	decode func(ov ObjectVersion, body []byte) any
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
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ov := range vs {
		id := ov.Key + "\x00" + ov.VersionID
		if _, dup := p.cache[id]; dup || ov.DeleteMarker {
			continue
		}
		e := &prefetched{done: make(chan struct{})}
		p.cache[id] = e
		p.queue = append(p.queue, prefetchJob{ctx: ctx, ov: ov, e: e, decode: decode})
	}
	for p.workers < 2*cap(p.sem) && p.workers < len(p.queue) {
		p.workers++
		go p.work()
	}
}

// work runs queued reads until there are none.
func (p *prefetchSource) work() {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.workers--
			p.mu.Unlock()
			return
		}
		j := p.queue[0]
		p.queue[0] = prefetchJob{}
		p.queue = p.queue[1:]
		p.mu.Unlock()
		p.read(j)
	}
}

// read runs one read ahead, and its decode.
func (p *prefetchSource) read(j prefetchJob) {
	ctx, e := j.ctx, j.e
	defer close(e.done)
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		e.err = ctx.Err()
		return
	}
	open := p.evidenceSource.Open
	if j.decode != nil {
		open = func(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, error) {
			return openSelfChecked(ctx, p.evidenceSource, key, versionID)
		}
	}
	rc, meta, err := open(ctx, j.ov.Key, j.ov.VersionID)
	if err == nil {
		e.body, err = readAllSized(rc, meta.Size, maxEnvelopeSize+1)
		rc.Close()
	}
	if err == nil && j.decode != nil && len(e.body) <= maxEnvelopeSize {
		sum := sha256.Sum256(e.body)
		err = checkTransfer(meta, sum[:])
	}
	<-p.sem
	e.meta, e.err = meta, err
	if err == nil && j.decode != nil {
		e.decoded = j.decode(j.ov, e.body)
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
