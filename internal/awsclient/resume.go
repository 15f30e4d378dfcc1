package awsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ObjectGetter is the one call GetObject needs.
type ObjectGetter interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// resumeTries is how many times a body is resumed after a failed read.
const resumeTries = 5

// GetObject is s3's GetObject with a body that survives the connection
// failing mid-body. The SDK retries a call only until its response
// headers arrive; a reset or timeout while the body streams reaches the
// reader as an error. This body then asks for the rest (a Range from the
// byte reached, If-Match the ETag of the first answer, so the bytes are
// of the same object) and carries on, up to 5 times.
func GetObject(ctx context.Context, api ObjectGetter, in *s3.GetObjectInput) (*s3.GetObjectOutput, error) {
	out, err := api.GetObject(ctx, in)
	if err != nil || in.Range != nil || out.ETag == nil {
		return out, err
	}
	again := *in
	again.IfMatch = out.ETag
	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	out.Body = &resumable{ctx: ctx, api: api, in: again, body: out.Body, size: size}
	return out, nil
}

type resumable struct {
	ctx   context.Context
	api   ObjectGetter
	in    s3.GetObjectInput
	body  io.ReadCloser
	off   int64
	size  int64 // -1 when unknown
	tries int
}

func (r *resumable) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || errors.Is(err, io.EOF) || n > 0 {
			// Data first; a broken connection fails the next Read again.
			return n, err
		}
		if r.off == r.size {
			return 0, io.EOF // every byte arrived; only the end was lost
		}
		if r.tries >= resumeTries || r.ctx.Err() != nil {
			return 0, err
		}
		r.tries++
		r.body.Close()
		in := r.in
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", r.off))
		out, gerr := r.api.GetObject(r.ctx, &in)
		if gerr != nil {
			r.body = io.NopCloser(errReader{err})
			return 0, fmt.Errorf("%w (resuming at byte %d failed: %v)", err, r.off, gerr)
		}
		r.body = out.Body
	}
}

func (r *resumable) Close() error { return r.body.Close() }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// NotFound reports whether err says the object or version does
// not exist (a 404 with or without an error code, or the 405 S3 answers
// for a HEAD of a delete marker), as opposed to any failure to ask.
func NotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchVersion":
			return true
		}
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusNotFound || re.HTTPStatusCode() == http.StatusMethodNotAllowed)
}
