package awsclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/testaws"
)

type retryLog struct {
	mu    sync.Mutex
	lines []string
}

func (r *retryLog) add(op string, attempt, maxAttempts int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf("%s %d/%d %s", op, attempt, maxAttempts, awsclient.Short(err)))
}

func (r *retryLog) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// clientAt loads a client whose every call goes to addr.
func clientAt(t *testing.T, addr string, onRetry awsclient.RetryFunc) *s3.Client {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	c, err := awsclient.Load(context.Background(), awsclient.Options{
		Region:      "us-east-1",
		S3Endpoint:  "http://" + addr,
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		OnRetry:     onRetry,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c.S3(func(o *s3.Options) {
		// No checksum pass over the body before sending it: the tests
		// time the transfer itself.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
}

// A refused connection fails within seconds (it took 13 to 39 s with the
// SDK's backoff of up to 20 s), after a few quick retries, each told to
// OnRetry, and the short error says what and where.
func TestRefusedConnectionFailsFast(t *testing.T) {
	t.Setenv("AWS_MAX_ATTEMPTS", "")
	addr := testaws.FreeAddr(t)
	var log retryLog
	api := clientAt(t, addr, log.add)
	start := time.Now()
	_, err := api.GetBucketVersioning(context.Background(), &s3.GetBucketVersioningInput{Bucket: aws.String("b")})
	took := time.Since(start)
	if err == nil {
		t.Fatal("GetBucketVersioning on a closed port succeeded")
	}
	t.Logf("refused: failed after %s: %s", took, awsclient.Short(err))
	if took > 8*time.Second {
		t.Errorf("a refused connection took %s to fail, want under 8 s", took)
	}
	want := "GetBucketVersioning: connection refused (" + addr + ") after "
	if got := awsclient.Short(err); !strings.HasPrefix(got, want) || !strings.Contains(got, " attempts in ") {
		t.Errorf("Short = %q, want %q...attempts in ...", got, want)
	}
	lines := log.get()
	if len(lines) < 2 {
		t.Fatalf("OnRetry told of %d retries, want several: %q", len(lines), lines)
	}
	if want := "GetBucketVersioning 2/10 connection refused (" + addr + ")"; lines[0] != want {
		t.Errorf("first retry: %q, want %q", lines[0], want)
	}
}

// A server that accepts the connection and never answers is given up on
// once the call timeout is spent (it kept commands silent for over 400 s),
// each attempt waiting at most the attempt timeout.
func TestSilentServerBoundedByCallTimeout(t *testing.T) {
	t.Setenv("CUSTODY_AWS_CALL_TIMEOUT", "3s")
	t.Setenv("CUSTODY_AWS_ATTEMPT_TIMEOUT", "1s")
	t.Setenv("AWS_MAX_ATTEMPTS", "")
	addr := testaws.SilentServer(t)
	var log retryLog
	api := clientAt(t, addr, log.add)
	start := time.Now()
	_, err := api.GetBucketVersioning(context.Background(), &s3.GetBucketVersioningInput{Bucket: aws.String("b")})
	took := time.Since(start)
	if err == nil {
		t.Fatal("GetBucketVersioning on a silent server succeeded")
	}
	t.Logf("silent: failed after %s: %s", took, awsclient.Short(err))
	if took < time.Second || took > 7*time.Second {
		t.Errorf("silent server: failed after %s, want between the attempt timeout (1 s) and the call timeout plus one attempt (4 s, 7 s on a busy machine)", took)
	}
	if got, want := awsclient.Short(err), "GetBucketVersioning: no response within 1s ("+addr+") after "; !strings.HasPrefix(got, want) {
		t.Errorf("Short = %q, want prefix %q", got, want)
	}
	if lines := log.get(); len(lines) == 0 || !strings.HasPrefix(lines[0], "GetBucketVersioning 2/10 no response within 1s") {
		t.Errorf("retries told: %q", lines)
	}
}

// The defaults: 5 s to connect, 20 s for a response to start, a minute
// for a call; CUSTODY_AWS_* override them and a bad value is a
// configuration error.
func TestTimeoutSettings(t *testing.T) {
	for _, k := range []string{"CUSTODY_AWS_CALL_TIMEOUT", "CUSTODY_AWS_ATTEMPT_TIMEOUT", "CUSTODY_AWS_READ_TIMEOUT"} {
		t.Setenv(k, "")
	}
	if d, err := awsclient.CallTimeout(); err != nil || d != time.Minute {
		t.Errorf("CallTimeout() = %s, %v; want 1m", d, err)
	}
	if d, err := awsclient.AttemptTimeout(); err != nil || d != 20*time.Second {
		t.Errorf("AttemptTimeout() = %s, %v; want 20s", d, err)
	}
	if awsclient.ConnectTimeout != 5*time.Second {
		t.Errorf("ConnectTimeout = %s", awsclient.ConnectTimeout)
	}
	t.Setenv("CUSTODY_AWS_CALL_TIMEOUT", "7s")
	if d, err := awsclient.AttemptTimeout(); err != nil || d != 7*time.Second {
		t.Errorf("AttemptTimeout() under a 7 s call timeout = %s, %v", d, err)
	}
	t.Setenv("CUSTODY_AWS_CALL_TIMEOUT", "soon")
	_, err := awsclient.Load(context.Background(), awsclient.Options{Region: "us-east-1"})
	var ce awsclient.ConfigError
	if err == nil || !asConfigError(err, &ce) || !strings.Contains(err.Error(), "CUSTODY_AWS_CALL_TIMEOUT") {
		t.Errorf("bad CUSTODY_AWS_CALL_TIMEOUT: %v, want a ConfigError naming it", err)
	}
}

// slowBody is an upload that trickles: 4 KiB every 50 ms.
type slowBody struct{ *bytes.Reader }

func (b slowBody) Read(p []byte) (int, error) {
	time.Sleep(50 * time.Millisecond)
	return b.Reader.Read(p[:min(len(p), 4096)])
}

// An upload that takes longer than the call timeout is neither cut nor
// counted against it: its first attempt fails after the body is sent,
// and the retry still happens.
func TestUploadTimeNotCountedAgainstCallTimeout(t *testing.T) {
	t.Setenv("CUSTODY_AWS_CALL_TIMEOUT", "1s")
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `<Error><Code>InternalError</Code><Message>try again</Message></Error>`)
			return
		}
		if n != 128<<10 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("ETag", `"x"`)
	}))
	defer srv.Close()
	api := clientAt(t, strings.TrimPrefix(srv.URL, "http://"), nil)
	start := time.Now()
	_, err := api.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("b"), Key: aws.String("k"),
		Body:          slowBody{bytes.NewReader(make([]byte, 128<<10))},
		ContentLength: aws.Int64(128 << 10),
	})
	if err != nil {
		t.Fatalf("a 3 s upload under a 1 s call timeout: %s", awsclient.Short(err))
	}
	if took := time.Since(start); took < 2*time.Second || calls.Load() != 2 {
		t.Errorf("%d attempts in %s, want 2 slow ones", calls.Load(), took)
	}
}

// A peer that stops reading an upload fails the attempt once the read
// timeout passes without a byte (the transport reads while it writes);
// the stall counts against the call timeout, which ends the retries.
func TestStalledUploadFails(t *testing.T) {
	t.Setenv("CUSTODY_AWS_READ_TIMEOUT", "1s")
	t.Setenv("CUSTODY_AWS_CALL_TIMEOUT", "2s")
	addr := testaws.SilentServer(t)
	api := clientAt(t, addr, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	body := make([]byte, 64<<20)
	_, err := api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("b"), Key: aws.String("k"),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
	})
	took := time.Since(start)
	if err == nil {
		t.Fatal("upload to a server that never reads succeeded")
	}
	t.Logf("stalled upload: failed after %s: %s", took, awsclient.Short(err))
	// Each attempt ends a second after the peer stops reading, and that
	// second of silence counts against the 2 s call timeout (the time the
	// body was moving does not): two or three attempts, not ten.
	if ctx.Err() != nil || took > 6*time.Second {
		t.Errorf("stalled upload failed after %s (test deadline hit: %v), want within 6 s", took, ctx.Err())
	}
	if got := awsclient.Short(err); !strings.HasPrefix(got, "PutObject: write timed out ("+addr+")") &&
		!strings.HasPrefix(got, "PutObject: no data for 1s ("+addr+")") &&
		!strings.HasPrefix(got, "PutObject: connection closed ("+addr+")") {
		t.Errorf("Short = %q, want a time-out or a closed connection", got)
	}
}

func asConfigError(err error, target *awsclient.ConfigError) bool {
	return errors.As(err, target)
}

// A server-side copy may keep its answer back until it is done (S3-
// compatible servers do): CopyObject, UploadPartCopy and
// CompleteMultipartUpload wait past the attempt timeout, while other
// calls to the same slow server give up at it.
func TestServerSideCopyWaitsPastAttemptTimeout(t *testing.T) {
	t.Setenv("CUSTODY_AWS_ATTEMPT_TIMEOUT", "1s")
	t.Setenv("CUSTODY_AWS_CALL_TIMEOUT", "5s")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the request is read whole; its error is the client's
		time.Sleep(2 * time.Second)
		switch {
		case r.Header.Get("X-Amz-Copy-Source") != "" && r.URL.Query().Has("partNumber"):
			fmt.Fprint(w, `<CopyPartResult><ETag>"p"</ETag></CopyPartResult>`)
		case r.Header.Get("X-Amz-Copy-Source") != "":
			fmt.Fprint(w, `<CopyObjectResult><ETag>"c"</ETag></CopyObjectResult>`)
		case r.URL.Query().Has("uploadId"):
			fmt.Fprint(w, `<CompleteMultipartUploadResult><ETag>"m"</ETag></CompleteMultipartUploadResult>`)
		default:
			fmt.Fprint(w, `<VersioningConfiguration/>`)
		}
	}))
	defer srv.Close()
	api := clientAt(t, strings.TrimPrefix(srv.URL, "http://"), nil)
	ctx := context.Background()
	b, k := aws.String("b"), aws.String("k")
	if _, err := api.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: k, CopySource: aws.String("b/src")}); err != nil {
		t.Errorf("CopyObject answered after 2 s: %s", awsclient.Short(err))
	}
	if _, err := api.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: k, CopySource: aws.String("b/src"), UploadId: aws.String("u"), PartNumber: aws.Int32(1)}); err != nil {
		t.Errorf("UploadPartCopy answered after 2 s: %s", awsclient.Short(err))
	}
	if _, err := api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: aws.String("u")}); err != nil {
		t.Errorf("CompleteMultipartUpload answered after 2 s: %s", awsclient.Short(err))
	}
	_, err := api.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	if got := awsclient.Short(err); !strings.HasPrefix(got, "GetBucketVersioning: no response within 1s") {
		t.Errorf("GetBucketVersioning answered after 2 s: %q, want no response within 1s", got)
	}
}
