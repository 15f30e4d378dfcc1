package awsclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// flaky serves content, cutting each body off after cut bytes, and
// refuses a Range whose If-Match is not the ETag.
type flaky struct {
	content string
	etag    string
	cut     int
	calls   int
}

func (f *flaky) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.calls++
	off := 0
	if in.Range != nil {
		if aws.ToString(in.IfMatch) != f.etag {
			return nil, errors.New("PreconditionFailed")
		}
		if _, err := fmt.Sscanf(aws.ToString(in.Range), "bytes=%d-", &off); err != nil {
			return nil, fmt.Errorf("range %q: %w", aws.ToString(in.Range), err)
		}
	}
	rest := f.content[off:]
	var body io.Reader = strings.NewReader(rest)
	if len(rest) > f.cut {
		body = io.MultiReader(strings.NewReader(rest[:f.cut]), errReader{syscall.ECONNRESET})
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(body), ETag: aws.String(f.etag), ContentLength: aws.Int64(int64(len(f.content)))}, nil
}

func TestGetObjectResumesMidBody(t *testing.T) {
	content := strings.Repeat("evidence ", 1000)
	f := &flaky{content: content, etag: `"abc"`, cut: 2000}
	out, err := GetObject(context.Background(), f, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := io.Copy(&got, out.Body); err != nil {
		t.Fatalf("read: %v", err)
	}
	if got.String() != content || f.calls != 5 {
		t.Fatalf("got %d bytes in %d calls, want %d bytes in 5", got.Len(), f.calls, len(content))
	}

	// More cuts than it resumes: the read error comes through.
	f = &flaky{content: content, etag: `"abc"`, cut: 100}
	out, _ = GetObject(context.Background(), f, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if _, err := io.Copy(io.Discard, out.Body); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("err = %v, want the connection reset", err)
	}
	if f.calls != 1+resumeTries {
		t.Fatalf("%d calls, want %d", f.calls, 1+resumeTries)
	}
}

func TestNotFound(t *testing.T) {
	for err, want := range map[error]bool{
		&smithy.GenericAPIError{Code: "NoSuchKey"}:                        true,
		&smithy.GenericAPIError{Code: "NoSuchVersion"}:                    true,
		&smithy.GenericAPIError{Code: "AccessDenied"}:                     false,
		syscall.ECONNRESET:                                                false,
		fmt.Errorf("head: %w", &smithy.GenericAPIError{Code: "NotFound"}): true,
	} {
		if NotFound(err) != want {
			t.Errorf("NotFound(%v) = %v, want %v", err, !want, want)
		}
	}
}
