package awsclient

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// RetryFunc is told of every retry before its wait: the operation, the
// number of the attempt about to be made (2 for the first retry), the most
// attempts the call will make, and the error of the attempt that failed.
// It may be called from several goroutines at once.
type RetryFunc func(op string, attempt, maxAttempts int, err error)

// callState is one call's bookkeeping, shared by its attempts.
type callState struct {
	start    time.Time
	mu       sync.Mutex
	attempts int
	streamed time.Duration // time spent sending request bodies
}

func (c *callState) addStreamed(d time.Duration) {
	c.mu.Lock()
	c.streamed += d
	c.mu.Unlock()
}

// spent is the time the call has spent without moving a body.
func (c *callState) spent() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Since(c.start) - c.streamed
}

type callStateKey struct{}

// AttemptError is the error of one attempt of a call, as the retryer saw
// it: the SDK's error with the attempt's number and the time the call had
// spent. The error a call returns holds the last one (errors.As finds it).
type AttemptError struct {
	Op      string
	Attempt int           // 1 for the first attempt
	Max     int           // the most attempts the call would make
	Elapsed time.Duration // since the call began
	Err     error

	spent     time.Duration // Elapsed without the time bodies were moving
	onRetry   RetryFunc
	limits    timeouts
	delay     time.Duration
	retryable bool
}

func (e *AttemptError) Error() string { return e.Err.Error() }
func (e *AttemptError) Unwrap() error { return e.Err }

// callMiddleware adds custody's bookkeeping around the SDK's retry loop:
// one state per call before it, each attempt's error wrapped after it.
func callMiddleware(limits timeouts, maxAttempts int, onRetry RetryFunc) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		if _, ok := stack.Finalize.Get("Retry"); !ok {
			return nil
		}
		begin := middleware.FinalizeMiddlewareFunc("CustodyCall", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			ctx = context.WithValue(ctx, callStateKey{}, &callState{start: time.Now()})
			if patientOps[awsmiddleware.GetOperationName(ctx)] {
				ctx = context.WithValue(ctx, patientKey{}, true)
			}
			return next.HandleFinalize(ctx, in)
		})
		attempt := middleware.FinalizeMiddlewareFunc("CustodyAttempt", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			st, _ := ctx.Value(callStateKey{}).(*callState)
			if st == nil {
				return next.HandleFinalize(ctx, in)
			}
			// Time spent sending a request body does not count against
			// the call timeout, but a body that stopped moving does: it is
			// measured from the headers to the body's last read.
			var moved atomic.Int64
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				if s := req.GetStream(); s != nil {
					if _, pipe := s.(*io.PipeReader); !pipe {
						if rc, err := req.SetStream(trackReads(s, &moved)); err == nil {
							in.Request = rc
						}
					}
				}
			}
			// The transport may write one attempt on a second connection
			// (a reused one found dead): the callbacks run on each
			// connection's own goroutine.
			var wroteHeaders atomic.Int64 // unix nanoseconds; 0 before the headers
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				WroteHeaders: func() { wroteHeaders.Store(time.Now().UnixNano()) },
				WroteRequest: func(info httptrace.WroteRequestInfo) {
					headers := wroteHeaders.Load()
					if headers == 0 {
						return
					}
					last := time.Now()
					if info.Err != nil {
						last = time.Unix(0, moved.Load())
					}
					if d := last.Sub(time.Unix(0, headers)); d > 0 {
						st.addStreamed(d)
					}
				},
			})
			st.mu.Lock()
			st.attempts++
			n := st.attempts
			st.mu.Unlock()
			out, md, err := next.HandleFinalize(ctx, in)
			if err == nil {
				return out, md, nil
			}
			return out, md, &AttemptError{
				Op:      awsmiddleware.GetOperationName(ctx),
				Attempt: n,
				Max:     maxAttempts,
				Elapsed: time.Since(st.start),
				Err:     err,
				spent:   st.spent(),
				onRetry: onRetry,
				limits:  limits,
			}
		})
		if err := stack.Finalize.Insert(begin, "Retry", middleware.Before); err != nil {
			return err
		}
		return stack.Finalize.Insert(attempt, "Retry", middleware.After)
	}
}

// retryer is the standard retryer with custody's limits on top: a call
// stops retrying once its call timeout is spent, and one that cannot
// connect at all retries for ConnectRetryBudget, waiting at most
// ConnectRetryMaxDelay between tries.
type retryer struct {
	aws.RetryerV2
	max int
}

func (r *retryer) MaxAttempts() int { return r.max }

func (r *retryer) IsErrorRetryable(err error) bool {
	if !r.RetryerV2.IsErrorRetryable(err) {
		return false
	}
	var ae *AttemptError
	if !errors.As(err, &ae) {
		return true
	}
	if ae.Attempt >= ae.Max {
		ae.retryable = true
		return true
	}
	delay, derr := r.RetryerV2.RetryDelay(ae.Attempt, err)
	if derr != nil {
		return true
	}
	budget := ae.limits.call
	if cannotConnect(err) {
		delay = min(delay, ConnectRetryMaxDelay)
		budget = min(budget, ConnectRetryBudget)
	}
	if ae.spent+delay >= budget {
		return false
	}
	ae.delay = delay
	ae.retryable = true
	return true
}

func (r *retryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	var ae *AttemptError
	if !errors.As(err, &ae) || !ae.retryable {
		return r.RetryerV2.RetryDelay(attempt, err)
	}
	if ae.onRetry != nil {
		ae.onRetry(ae.Op, attempt+1, ae.Max, ae)
	}
	return ae.delay, nil
}

// trackReads wraps a seekable request body so that each read (or write,
// through WriteTo) that moves bytes records the time in moved. Seek and
// WriteTo go to the body itself (the signer hashes a body through WriteTo
// when it can).
func trackReads(r io.Reader, moved *atomic.Int64) io.Reader {
	return trackedBody{r: r, moved: moved}
}

type trackedBody struct {
	r     io.Reader
	moved *atomic.Int64
}

func (b trackedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.moved.Store(time.Now().UnixNano())
	}
	return n, err
}

var errNotSeekable = errors.New("body not seekable")

func (b trackedBody) Seek(offset int64, whence int) (int64, error) {
	s, ok := b.r.(io.Seeker)
	if !ok {
		return 0, errNotSeekable // SetStream fails: the body is left unwrapped
	}
	return s.Seek(offset, whence)
}

func (b trackedBody) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := b.r.(io.WriterTo); ok {
		return wt.WriteTo(stampWriter{w: w, moved: b.moved})
	}
	return io.Copy(w, struct{ io.Reader }{b})
}

// stampWriter records in moved the time of each write that took bytes.
type stampWriter struct {
	w     io.Writer
	moved *atomic.Int64
}

func (s stampWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if n > 0 {
		s.moved.Store(time.Now().UnixNano())
	}
	return n, err
}

// cannotConnect reports whether err is a failure to open a connection:
// refused, unreachable, timed out while connecting, or a name that does
// not resolve.
func cannotConnect(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}
