package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/custody-ir/custody/custody/config"
)

// Exit codes shared by custody and recover.
const (
	ExitOK       = 0 // everything held
	ExitFindings = 1 // the command ran and found failures (verify), or a run failed
	ExitUsage    = 2 // bad flags, arguments or configuration
	ExitCanceled = 130
)

// ExitCodesHelp is appended to every command's help.
const ExitCodesHelp = `Exit codes:
  0  success
  1  the command ran and reports failures (findings, failed actions)
  2  usage or configuration error
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
// they have already printed.
var ErrFindings = errors.New("findings reported")

// ExitCode maps an error returned by a command to the process exit code,
// printing it to stderr unless it was already reported.
func ExitCode(err error, stderr io.Writer) int {
	var usage UsageError
	var problems config.Problems
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrFindings):
		return ExitFindings
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "interrupted")
		return ExitCanceled
	case errors.As(err, &problems):
		fmt.Fprintln(stderr, "Error:", problems.Error())
		return ExitUsage
	case errors.As(err, &usage), strings.HasPrefix(err.Error(), "unknown command "):
		fmt.Fprintln(stderr, "Error:", err)
		return ExitUsage
	default:
		fmt.Fprintln(stderr, "Error:", err)
		return ExitFindings
	}
}
