package testaws

import (
	"bytes"
	"compress/gzip"
)

// Gzip compresses b. Writing to memory cannot fail: an error here is a
// bug in the test, and panics.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
