package testaws

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
)

// OfflineHTTP answers every request of an AWS SDK client itself: no
// network, the bytes a test or a fuzzer hands it go straight into the
// SDK's own deserializers. It is the HTTPClient of OfflineS3 and
// OfflineS3Control, and of any other SDK client a test builds the same way.
type OfflineHTTP func(*http.Request) (*http.Response, error)

// Do answers r.
func (f OfflineHTTP) Do(r *http.Request) (*http.Response, error) { return f(r) }

// Reply is a response of status carrying body as contentType, with the
// request id "offline". A test may add headers before returning it.
func Reply(status int, contentType string, body []byte) *http.Response {
	return &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {contentType}, "Content-Length": {strconv.Itoa(len(body))}, "X-Amz-Request-Id": {"offline"}},
		ContentLength: int64(len(body)), Body: io.NopCloser(bytes.NewReader(body))}
}

// XMLReplies answers every request with status and body as S3 XML, after
// reading the request's body as a server would.
func XMLReplies(status int, body []byte) OfflineHTTP {
	return func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		return Reply(status, "application/xml", body), nil
	}
}

// OfflineS3 returns an S3 client whose every request h answers: anonymous,
// path-style, without retries (one request is one answer of h), at an
// endpoint that cannot resolve should a request ever escape h.
func OfflineS3(h OfflineHTTP) *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, HTTPClient: h, Retryer: aws.NopRetryer{},
		UsePathStyle: true, BaseEndpoint: aws.String("https://s3.offline.invalid")})
}

// OfflineS3Control returns an S3 Control client whose every request h
// answers, as OfflineS3 does.
func OfflineS3Control(h OfflineHTTP) *s3control.Client {
	return s3control.New(s3control.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, HTTPClient: h, Retryer: aws.NopRetryer{},
		BaseEndpoint: aws.String("https://s3-control.offline.invalid")})
}
