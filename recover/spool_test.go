package recovery

import (
	"bytes"
	"crypto/md5" //nolint:gosec // what spool returns
	"io"
	"strings"
	"testing"
)

// A body of unknown size (no Content-Length) is spooled whole, not as an
// empty object; one longer than its declared size is refused, never cut;
// the MD5 is the bytes'.
func TestSpool(t *testing.T) {
	body := strings.Repeat("replica bytes ", 1000)
	want := md5.Sum([]byte(body)) //nolint:gosec // what S3 and spool use
	for _, size := range []int64{int64(len(body)), -1} {
		r, sum, cleanup, err := spool(strings.NewReader(body), size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		got, err := io.ReadAll(r)
		cleanup()
		if err != nil || string(got) != body || !bytes.Equal(sum, want[:]) {
			t.Fatalf("size %d: %d bytes, MD5 %x, %v; want %d bytes, MD5 %x", size, len(got), sum, err, len(body), want)
		}
	}
	for _, size := range []int64{0, 10} {
		if _, _, _, err := spool(strings.NewReader(body), size); err == nil || !strings.Contains(err.Error(), "Content-Length") {
			t.Errorf("a %d-byte body declared %d bytes: %v, want refused", len(body), size, err)
		}
	}
}
