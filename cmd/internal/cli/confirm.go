package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
)

// Confirm asks question ("... [y/N] ") on stderr and reads the answer from
// in: nil for "y" or "yes", a usage error saying notConfirmed for
// anything else. The line is read in the background, so that Ctrl-C at
// the prompt (ctx cancelled) returns at once rather than waiting for one.
func Confirm(ctx context.Context, in io.Reader, stderr io.Writer, question, notConfirmed string) error {
	fmt.Fprintf(stderr, "%s [y/N] ", question)
	answers := make(chan string, 1)
	go func() {
		a, _ := bufio.NewReader(in).ReadString('\n')
		answers <- a
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(stderr)
		return ctx.Err()
	case a := <-answers:
		if s := strings.ToLower(strings.TrimSpace(a)); s == "y" || s == "yes" {
			return nil
		}
	}
	return Usagef("%s", notConfirmed)
}
