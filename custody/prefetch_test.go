package custody

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
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
