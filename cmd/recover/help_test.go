package main

import (
	"strings"
	"testing"
)

func TestHelpHasExamples(t *testing.T) {
	out, code := run(t, "--help")
	if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--dry-run") || !strings.Contains(out, "--resume") {
		t.Fatalf("--help: exit %d\n%s", code, out)
	}
}
