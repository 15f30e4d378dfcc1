// Command custody is the evidence preservation and chain-of-custody agent:
// it keeps evidence in an S3 Object Lock bucket under signed, hash-chained
// manifests, and verifies it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws" // awskms:// signers

	"github.com/custody-ir/custody/cmd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	g := &globals{stdout: os.Stdout, stderr: os.Stderr, now: time.Now}
	err := newRootCommand(g).ExecuteContext(ctx)
	stop()
	os.Exit(g.printer().Exit(cli.ExitCode(err, os.Stderr), err))
}
