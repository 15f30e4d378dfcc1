package awsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Short returns err's message with every AWS SDK operation error in it
// cut to one line: the operation, then the service's error code and
// message, or what went wrong with the connection, and how many attempts
// were made:
//
//	read versioning of s3://b: GetBucketVersioning: AccessDenied: Access Denied
//	read versioning of s3://b: GetBucketVersioning: connection refused (127.0.0.1:9) after 8 attempts in 4.6s
//
// The context custody wraps around the SDK's error is kept; request ids
// and the SDK's own layers ("operation error S3: ..., https response
// error StatusCode: 403, RequestID: ..., HostID: ...") are dropped. An
// error from outside the SDK is returned as err.Error().
func Short(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	ops := operationErrors(err, nil)
	if len(ops) == 0 {
		if d, ok := describe(err); ok {
			return d
		}
		return msg
	}
	for _, op := range ops {
		msg = strings.Replace(msg, op.Error(), shortOperation(op), 1)
	}
	return msg
}

// operationErrors collects every smithy.OperationError in err's tree,
// outermost first, without descending into one.
func operationErrors(err error, acc []*smithy.OperationError) []*smithy.OperationError {
	if err == nil {
		return acc
	}
	if op, ok := err.(*smithy.OperationError); ok {
		return append(acc, op)
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			acc = operationErrors(e, acc)
		}
		return acc
	case interface{ Unwrap() error }:
		return operationErrors(u.Unwrap(), acc)
	}
	return acc
}

func shortOperation(op *smithy.OperationError) string {
	s := op.OperationName + ": "
	full := op.Err.Error()
	var inner *smithy.OperationError
	switch {
	case strings.Contains(full, "no EC2 IMDS role found"):
		// The SDK tried every source of credentials and ended at the
		// instance role, which is not there.
		s += "no AWS credentials found (environment, shared config and credentials files, SSO, container or instance role)"
	case strings.Contains(full, "get credentials: ") && errors.As(op.Err, &inner):
		s += "get credentials: " + shortOperation(inner)
	default:
		s += describeOperation(op)
	}
	var ae *AttemptError
	var maxed *retry.MaxAttemptsError
	switch {
	case errors.As(op.Err, &ae) && ae.Attempt > 1:
		s += fmt.Sprintf(" after %d attempts in %s", ae.Attempt, roundDuration(ae.Elapsed))
	case errors.As(op.Err, &maxed) && maxed.Attempt > 1:
		s += fmt.Sprintf(" after %d attempts", maxed.Attempt)
	}
	return s
}

func describeOperation(op *smithy.OperationError) string {
	if d, ok := describe(op.Err); ok {
		return d
	}
	return sdkNoise.ReplaceAllString(op.Err.Error(), "")
}

// sdkNoise is what the SDK's layers add to a message that says nothing to
// a person reading it.
var sdkNoise = regexp.MustCompile(`(exceeded maximum number of attempts, \d+, |https response error StatusCode: \d+, RequestID: [^,]*, HostID: [^,]*, |request send failed, )`)

// describe says in a few words what err is: the service's error code and
// message, or what happened to the connection.
func describe(err error) (string, bool) {
	var api smithy.APIError
	if errors.As(err, &api) {
		code, msg := api.ErrorCode(), api.ErrorMessage()
		switch {
		case code == "" && msg == "":
		case msg == "" || msg == code:
			if status := httpStatus(err); status != 0 {
				return fmt.Sprintf("%s (HTTP %d)", code, status), true
			}
			return code, true
		case code == "":
			return msg, true
		default:
			return code + ": " + msg, true
		}
	}
	if d := describeNetwork(err); d != "" {
		var ae *AttemptError
		if d == "no response" && errors.As(err, &ae) && ae.limits.attempt > 0 {
			d += " within " + roundDuration(ae.limits.attempt).String()
		}
		if host := endpointHost(err); host != "" {
			d += " (" + host + ")"
		}
		return d, true
	}
	if errors.Is(err, context.Canceled) {
		return "canceled", true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline exceeded", true
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		return fmt.Sprintf("HTTP %d", re.HTTPStatusCode()), true
	}
	return "", false
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func describeNetwork(err error) string {
	var rt *awshttp.ResponseTimeoutError
	var op *net.OpError
	var dns *net.DNSError
	var timeout interface{ Timeout() bool }
	switch {
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "host " + dns.Name + " not found"
		}
		return "cannot resolve " + dns.Name
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.As(err, &rt):
		return fmt.Sprintf("no data for %s", roundDuration(rt.TimeoutDur))
	case strings.Contains(err.Error(), "timeout awaiting response headers"):
		return "no response"
	case errors.As(err, &op) && op.Op == "dial" && op.Timeout():
		return "connect timed out"
	case errors.As(err, &op) && op.Timeout():
		return op.Op + " timed out"
	case errors.Is(err, net.ErrClosed):
		return "connection closed"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed by the server"
	case errors.As(err, &timeout) && timeout.Timeout():
		return "timed out"
	}
	return ""
}

// endpointHost is the host:port a failed request went to.
func endpointHost(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			return u.Host
		}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		return op.Addr.String()
	}
	return ""
}

func roundDuration(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}
