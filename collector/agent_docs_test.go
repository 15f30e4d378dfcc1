package collector

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/custody-ir/custody/internal/config"
)

// TestDocumentedMetricsAreExported: every custody_* metric docs/collectors.md
// names (its table and its alert rules) is one a fresh agent exports.
func TestDocumentedMetricsAreExported(t *testing.T) {
	doc, err := os.ReadFile("../docs/collectors.md")
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{Collectors: []Collector{&Posture{Bucket: "data"}}, Schedules: config.Schedules{Posture: "@hourly"}}
	a.init()
	families, err := a.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = true
	}
	rules := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	if rules == nil || !strings.Contains(string(rules[1]), "custody_findings_total{severity=\"failure\"}") {
		t.Fatal("docs/collectors.md has no alert rules on failure findings")
	}
	names := regexp.MustCompile(`custody_[a-z_]*[a-z](_\*)?`).FindAllString(string(doc), -1)
	for _, n := range names {
		if !strings.HasSuffix(n, "_*") && !exported[n] {
			t.Errorf("docs/collectors.md names %s, which the agent does not export", n)
		}
	}
	if len(names) < 10 {
		t.Fatalf("only %d metric names in docs/collectors.md", len(names))
	}
}
