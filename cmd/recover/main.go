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
	"golang.org/x/term"

	"github.com/custody-ir/custody/cmd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	g := &globals{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, now: time.Now, interactive: term.IsTerminal(int(os.Stdin.Fd()))}
	root := newRootCommand(g)
	err := root.ExecuteContext(ctx)
	stop()
	json, _ := root.Flags().GetBool("json")
	os.Exit(cli.Printer{Out: os.Stdout, JSON: json}.Exit(exitCode(err, os.Stderr), err))
}
