package awsclient

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// ConnectTimeout bounds opening a connection, and the TLS handshake on it
// once open: an address that drops packets fails in seconds, not after the
// operating system's minutes of SYN retries.
const ConnectTimeout = 5 * time.Second

// DefaultCallTimeout is how long one call may go without an answer, its
// retries and the waits between them included: no attempt starts later
// than this after the call began. Time spent sending a request body (an
// upload) does not count, and neither does reading a response body: a
// large transfer that keeps moving is never cut short by it (the read
// timeout covers a transfer that stops).
const DefaultCallTimeout = time.Minute

// DefaultAttemptTimeout is how long one attempt waits for the response to
// start once its request is sent, unless the call timeout is shorter. S3
// answers in milliseconds, and keeps slow copies alive by sending their
// 200 response at once followed by whitespace.
const DefaultAttemptTimeout = 20 * time.Second

// ConnectRetryBudget is how long a call keeps retrying when it cannot
// connect at all (connection refused, no route, name not resolved), with
// waits of at most ConnectRetryMaxDelay: a brief restart of an endpoint is
// ridden out, a wrong endpoint is reported in seconds.
const (
	ConnectRetryBudget   = 5 * time.Second
	ConnectRetryMaxDelay = time.Second
)

// CallTimeout is DefaultCallTimeout, or CUSTODY_AWS_CALL_TIMEOUT (a Go
// duration such as 30s) when set.
func CallTimeout() (time.Duration, error) {
	return envDuration("CUSTODY_AWS_CALL_TIMEOUT", DefaultCallTimeout)
}

// AttemptTimeout is DefaultAttemptTimeout, or CUSTODY_AWS_ATTEMPT_TIMEOUT,
// and never more than the call timeout.
func AttemptTimeout() (time.Duration, error) {
	d, err := envDuration("CUSTODY_AWS_ATTEMPT_TIMEOUT", DefaultAttemptTimeout)
	if err != nil {
		return 0, err
	}
	call, err := CallTimeout()
	if err != nil {
		return 0, err
	}
	return min(d, call), nil
}

// ReadTimeout is DefaultReadTimeout, or CUSTODY_AWS_READ_TIMEOUT (a Go
// duration such as 30s) when set.
func ReadTimeout() (time.Duration, error) {
	return envDuration("CUSTODY_AWS_READ_TIMEOUT", DefaultReadTimeout)
}

func envDuration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, ConfigError{Err: fmt.Errorf("%s=%q: want a positive duration such as 30s or 2m", name, v)}
	}
	return d, nil
}

// timeouts are the limits Load puts on every call.
type timeouts struct {
	read, call, attempt time.Duration
}

func loadTimeouts() (timeouts, error) {
	var t timeouts
	var err error
	if t.read, err = ReadTimeout(); err != nil {
		return t, err
	}
	if t.call, err = CallTimeout(); err != nil {
		return t, err
	}
	if t.attempt, err = AttemptTimeout(); err != nil {
		return t, err
	}
	return t, nil
}

// patientOps make the server work before it answers: a server-side copy
// of gigabytes takes minutes. S3 starts their 200 answer at once and keeps
// it alive with whitespace, but S3-compatible servers may stay silent
// until done, so these wait for their answer as long as the read timeout
// allows rather than the attempt timeout.
var patientOps = map[string]bool{"CopyObject": true, "UploadPartCopy": true, "CompleteMultipartUpload": true}

type patientKey struct{}

// httpClient is the SDK's client with custody's limits:
//   - connecting and the TLS handshake each give up after ConnectTimeout;
//   - the response must start within the attempt timeout of the request
//     having been sent (so an upload's own duration does not count),
//     except for patientOps;
//   - a connection that delivers no byte for the read timeout fails and
//     the call is retried. The transport reads a connection for as long
//     as a request is in flight, so this also ends an upload the peer
//     stopped accepting.
//
// None of them is a deadline on a whole transfer: a large object that
// keeps moving is never cut.
func (t timeouts) httpClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = ConnectTimeout }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = ConnectTimeout
			tr.ResponseHeaderTimeout = t.attempt
		}).
		// The SDK resets a read deadline before every read.
		WithReadTimeout(t.read)
}

// splitHTTP returns the client the SDK configured from httpClient (a
// custom CA bundle added), with patientOps split off to a copy of it
// without the attempt timeout.
func splitHTTP(c aws.HTTPClient) aws.HTTPClient {
	b, ok := c.(*awshttp.BuildableClient)
	if !ok {
		return c
	}
	return splitClient{quick: b, patient: b.WithTransportOptions(func(tr *http.Transport) { tr.ResponseHeaderTimeout = 0 })}
}

// splitClient sends patientOps through a client without the attempt
// timeout, every other call through one with it.
type splitClient struct{ quick, patient aws.HTTPClient }

func (c splitClient) Do(r *http.Request) (*http.Response, error) {
	if r.Context().Value(patientKey{}) != nil {
		return c.patient.Do(r)
	}
	return c.quick.Do(r)
}
