package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// Only "y" or "yes" (any case, any spaces) confirms; anything else,
// an empty line or no line at all is a usage error with the message
// given; a cancelled context returns at once though no line comes.
func TestConfirm(t *testing.T) {
	for answer, ok := range map[string]bool{"y\n": true, " YES \n": true, "Yes": true, "n\n": false, "\n": false, "": false, "yess\n": false, "no y\n": false} {
		var out bytes.Buffer
		err := Confirm(context.Background(), strings.NewReader(answer), &out, "apply 3 action(s)?", "not confirmed; nothing was changed")
		if ok != (err == nil) {
			t.Errorf("answer %q: %v", answer, err)
		}
		var u UsageError
		if !ok && (!errors.As(err, &u) || !strings.Contains(err.Error(), "nothing was changed")) {
			t.Errorf("answer %q: %v, want a usage error saying nothing was changed", answer, err)
		}
		if out.String() != "apply 3 action(s)? [y/N] " {
			t.Errorf("prompt %q", out.String())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe() // a terminal nobody answers
	defer pw.Close()
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := Confirm(ctx, pr, io.Discard, "q?", "no"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled at the prompt: %v", err)
	}
}
