package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/custody-ir/custody/collector"
)

// TestCollectHelpListsEveryKind: one line per collector kind, and examples.
func TestCollectHelpListsEveryKind(t *testing.T) {
	out, _, code := run(t, "collect", "--help")
	if code != 0 {
		t.Fatalf("collect --help: exit %d", code)
	}
	kinds := []string{"cloudtrail", "config", "posture", "versions"}
	for _, k := range collector.Kinds {
		if !slices.Contains(kinds, k.Kind) {
			kinds = append(kinds, k.Kind)
		}
	}
	for _, kind := range kinds {
		if n := len(regexp.MustCompile(`(?m)^  `+kind+` +\S.*$`).FindAllString(out, -1)); n != 1 {
			t.Errorf("collect --help: %d line(s) for the kind %s, want 1:\n%s", n, kind, out)
		}
	}
	if !strings.Contains(out, "Examples:\n  custody collect --once") || !strings.Contains(out, "Exit codes:") {
		t.Errorf("collect --help has no examples or exit codes:\n%s", out)
	}
}
