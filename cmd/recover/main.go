// Command recover puts a versioned S3 bucket back as it was at a point in
// time, guided by the evidence custody preserved.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws" // awskms:// signers, for sealing recoveries

	"github.com/custody-ir/custody/cmd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	g := &globals{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, now: time.Now}
	err := newRootCommand(g).ExecuteContext(ctx)
	stop()
	os.Exit(cli.ExitCode(err, os.Stderr))
}
