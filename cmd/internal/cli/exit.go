package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
)

// Exit codes shared by custody and recover. 1 and 3 are kept apart for
// the recipient of a result: 1 is a conclusion (the evidence failed a
// check, an action or a collector's run failed, and it is reported), 3 is
// none (the command could not complete: S3 unreachable, access denied, the
// stream's lock held, a signer that cannot load).
const (
	ExitOK         = 0 // everything held
	ExitFindings   = 1 // the command completed and reports failures: findings, failed actions, a failed collector run
	ExitUsage      = 2 // bad flags, arguments or configuration
	ExitIncomplete = 3 // the command could not complete: nothing was concluded about the evidence
	ExitCanceled   = 130
)

// ExitCodesHelp is appended to every command's help.
const ExitCodesHelp = `Exit codes:
  0  success
  1  the command ran and reports failures (findings, failed actions, a failed run)
  2  usage or configuration error
  3  could not complete (S3 unreachable, access denied, lock held, ...):
     nothing was concluded about the evidence; with --json, stdout has
     {"ok": null, "status": "incomplete", "error": "..."}
  130 interrupted`

// UsageError marks an error as the caller's: wrong flags or arguments.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return UsageError{Err: fmt.Errorf(format, args...)}
}

// ErrFindings is returned by commands that completed but found problems
// they have already printed: findings, failed actions, a failed collector
// run. It is the only error that exits 1.
var ErrFindings = errors.New("findings reported")

// ExitCode maps an error returned by a command to the process exit code,
// printing it to stderr unless it was already reported: ErrFindings is 1,
// usage and configuration errors 2, an interrupt 130, and every other
// error 3, could not complete. Errors of AWS calls are printed on one line
// (awsclient.Short: the operation, the error code and message);
// CUSTODY_DEBUG=1 (--debug) prints the SDK's whole chain, with request ids.
func ExitCode(err error, stderr io.Writer) int {
	var usage UsageError
	var problems config.Problems
	var awsConfig awsclient.ConfigError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrFindings):
		return ExitFindings
	case errors.Is(err, custody.ErrEvidenceFailed):
		fmt.Fprintln(stderr, "Error:", ErrorText(err))
		return ExitFindings
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "interrupted")
		return ExitCanceled
	case errors.As(err, &problems):
		fmt.Fprintln(stderr, "Error:", problems.Error())
		return ExitUsage
	case errors.As(err, &usage), errors.As(err, &awsConfig), strings.HasPrefix(err.Error(), "unknown command "):
		fmt.Fprintln(stderr, "Error:", ErrorText(err))
		return ExitUsage
	default:
		fmt.Fprintln(stderr, "Error:", ErrorText(err))
		return ExitIncomplete
	}
}

// ErrorText is how an error is shown to a person: AWS errors cut to one
// line each (awsclient.Short), unless CUSTODY_DEBUG=1 asks for all of it.
// JSON output should carry err.Error(), the whole chain.
func ErrorText(err error) string {
	if Debug() {
		return err.Error()
	}
	return awsclient.Short(err)
}

// Debug reports whether CUSTODY_DEBUG asks for full errors (set by
// --debug, see AWSFlags).
func Debug() bool {
	v := os.Getenv("CUSTODY_DEBUG")
	return v != "" && v != "0" && v != "false"
}
