package recovery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// writeTries is how many times writeOnce tries a write.
const writeTries = 8

// noRetry turns the SDK's own retries off for one call.
func noRetry(o *s3.Options) { o.RetryMaxAttempts = 1 }

// writeOnce runs a write that must not take effect twice: every copy that
// lands makes one more version. The SDK would retry a call whose response
// was lost (a reset or a timeout after S3 had done the work), so it does
// not retry these; writeOnce does, and before each new try it asks landed
// whether the last one took effect after all. Errors no retry can fix
// (access denied, a missing version) end it at once.
func writeOnce(ctx context.Context, what string, landed func(context.Context) (bool, error), write func(context.Context) error) error {
	var err error
	for try := range writeTries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff(try)):
			}
			ok, lerr := landed(ctx)
			if lerr == nil && ok {
				return nil
			}
		}
		if err = write(ctx); err == nil || !transient(err) {
			return err
		}
	}
	return fmt.Errorf("%s: gave up after %d tries: %w", what, writeTries, err)
}

// backoff before try n (1, 2, ...): 250 ms doubling, capped at 15 s.
func backoff(n int) time.Duration {
	return min(250*time.Millisecond<<(n-1), 15*time.Second)
}

// transient reports whether a retry could fix err: network failures,
// timeouts, 5xx and throttling.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary ||
		retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}
