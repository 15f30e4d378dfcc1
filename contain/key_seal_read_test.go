package contain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/search"
)

// bodyOpener answers every GetObject with body.
type bodyOpener string

func (b bodyOpener) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader(string(b)))}, nil
}

// A sealed state is read back only as its manifest sealed it: the bytes
// of another size or hash (the evidence bucket changed) and a state over
// the bound are refused, naming the object and the manifest.
func TestReadSealedChecksWhatWasSealed(t *testing.T) {
	sealed := `{"phase":"before"}`
	sum := sha256.Sum256([]byte(sealed))
	f := search.File{Bucket: "ev", Key: "custody/contain/before.json", VersionID: "v1", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(sealed)), Manifest: "contain/3"}
	if b, err := readSealed(context.Background(), bodyOpener(sealed), f); err != nil || string(b) != sealed {
		t.Fatalf("the sealed bytes: %q, %v", b, err)
	}
	for name, tc := range map[string]struct {
		body string
		f    func(search.File) search.File
		want string
	}{
		"bytes changed":      {`{"phase":"after!"}`, func(f search.File) search.File { return f }, "run custody verify"},
		"bytes appended":     {sealed + " ", func(f search.File) search.File { return f }, "run custody verify"},
		"over the bound":     {sealed, func(f search.File) search.File { f.Size = maxStateSize + 1; return f }, "over"},
		"recorded size lies": {sealed, func(f search.File) search.File { f.Size--; return f }, "run custody verify"},
	} {
		_, err := readSealed(context.Background(), bodyOpener(tc.body), tc.f(f))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "custody/contain/before.json") {
			t.Errorf("%s: %v; want an error naming the object and %q", name, err, tc.want)
		}
	}
}
