package custody

import "testing"

// TestStoreReusesPartBuffers: a part buffer released to the pool is the
// one the next Put takes (the pool holds *[]byte: a buffer put in as
// another type would never come back out), and a buffer of another size
// is not handed out.
func TestStoreReusesPartBuffers(t *testing.T) {
	s := &Store{PartSize: 64 << 10}
	reused := false
	// sync.Pool may drop what it holds (at random under -race, and at
	// each GC): one reuse in many tries is what is asked.
	for i := 0; i < 100 && !reused; i++ {
		b := s.buffer()
		if int64(len(b)) != s.PartSize {
			t.Fatalf("buffer of %d bytes, want %d", len(b), s.PartSize)
		}
		s.release(b)
		reused = &s.buffer()[0] == &b[0]
	}
	if !reused {
		t.Fatal("a released part buffer never came back from the pool")
	}
	s.release(make([]byte, 1<<10))
	if b := s.buffer(); int64(len(b)) != s.PartSize {
		t.Fatalf("the pool handed out a %d-byte buffer for %d-byte parts", len(b), s.PartSize)
	}
}
