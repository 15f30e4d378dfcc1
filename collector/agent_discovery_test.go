package collector

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// flakyDiscoverer finds its collectors on the calls fail says succeed.
type flakyDiscoverer struct {
	mu    sync.Mutex
	calls int
	fail  func(call int) bool
	found []Collector
}

func (d *flakyDiscoverer) Name() string { return "cloudtrail:123456789012/flaky" }
func (d *flakyDiscoverer) Kind() string { return "cloudtrail" }
func (d *flakyDiscoverer) Collect(context.Context, Run) (Outcome, error) {
	return Outcome{}, errDiscoverer
}
func (d *flakyDiscoverer) Discover(context.Context) ([]Collector, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.fail(d.calls) {
		return nil, errors.New("DescribeTrails: connection refused")
	}
	return d.found, nil
}

// TestAgentDiscoversOnSchedule: a failed discovery is the source's failed
// run and stops nothing; it is tried again on the schedule, and what an
// earlier discovery found is collected while a later one fails.
func TestAgentDiscoversOnSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{Versioning: true})
	found := &Posture{API: e.s3, Ledger: e.Ledger, Bucket: src, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now}
	d := &flakyDiscoverer{fail: func(call int) bool { return call != 2 }, found: []Collector{found}}
	a := &Agent{Chain: e.Chain, Collectors: []Collector{d}, Schedules: config.Schedules{CloudTrail: "@every 1s"}, UnhealthyAfter: 100, Now: time.Now}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		n := a.status[found.Name()].Runs
		a.mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	ds, fs := a.status[d.Name()], a.status[found.Name()]
	a.mu.Unlock()
	// Discoveries: failed, found, failed (the posture collector runs
	// after the second and the third).
	if ds.Runs < 3 || ds.Failures != ds.Runs-1 || ds.LastSuccess.IsZero() || !strings.Contains(ds.LastError, "DescribeTrails") {
		t.Errorf("the discovery: %+v", ds)
	}
	if fs.Runs < 2 || fs.Failures != 0 {
		t.Errorf("the discovered collector: %+v", fs)
	}
	// The failed discoveries were sealed as runs, and everything verifies.
	r := e.verify(t)
	failed := 0
	for _, m := range r.Manifests {
		if m.Collector == d.Name() {
			failed++
		}
	}
	if failed != ds.Failures {
		t.Errorf("%d failed discoveries sealed, %d counted", failed, ds.Failures)
	}
}

func TestSelectAndResolve(t *testing.T) {
	ctx := context.Background()
	td := &TrailDiscovery{Account: "123456789012", Region: "us-east-1"}
	p := &Posture{Bucket: "data"}
	cs := []Collector{td, p}
	for name, want := range map[string][]Collector{
		"":                                       {td, p},
		"cloudtrail":                             {td},
		"cloudtrail:123456789012/us-east-1":      {td},
		"cloudtrail:123456789012/us-east-1/main": {td},
		"cloudtrail:123456789012/us-east-2/main": nil,
		"posture:data":                           {p},
		"versions":                               nil,
	} {
		if got := Select(cs, name); len(got) != len(want) || (len(got) > 0 && got[0] != want[0]) {
			t.Errorf("Select(%q) = %v, want %v", name, got, want)
		}
	}
	fd := &flakyDiscoverer{fail: func(int) bool { return true }}
	got := Resolve(ctx, []Collector{fd, p}, "cloudtrail:123456789012/flaky/main")
	if len(got) != 1 || got[0].Name() != fd.Name() || fd.calls != 1 {
		t.Fatalf("Resolve: %v (%d discoveries)", got, fd.calls)
	}
	if _, err := got[0].Collect(ctx, nil); err == nil || !strings.Contains(err.Error(), "DescribeTrails") {
		t.Fatalf("the failed discovery's run: %v", err)
	}
	if got := Resolve(ctx, []Collector{fd, p}, "posture"); len(got) != 1 || got[0] != p || fd.calls != 1 {
		t.Fatalf("Resolve(posture) discovered trails: %v (%d discoveries)", got, fd.calls)
	}
}

// TestFindingKindsListsEveryKind: every kind of finding a collector
// writes is in finding.Collected for its collector, so the agent exports it
// from the start.
func TestFindingKindsListsEveryKind(t *testing.T) {
	listed := map[string]bool{}
	for _, k := range Kinds {
		for _, fk := range finding.Collected(k.Kind) {
			listed[string(fk.Kind)+" "+string(fk.Severity)] = true
		}
	}
	if len(listed) < 20 {
		t.Fatalf("finding.Collected lists only %d kinds", len(listed))
	}
	names := kindConstants(t)
	kind := `(?:"([a-z-]+)"|finding\.(\w+))`
	literal := regexp.MustCompile(`Severity: (?:custody\.Severity|finding\.)(Failure|Warning), Kind: ` + kind)
	helper := regexp.MustCompile(`\b(fail|warn)\(` + kind)
	files, _ := filepath.Glob("*.go")
	ct, _ := filepath.Glob("cloudtrail/validate.go")
	n := 0
	for _, f := range append(files, ct...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check := func(lit, name string, sev custody.Severity) {
			n++
			k := finding.Kind(lit)
			if name != "" {
				var ok bool
				if k, ok = names[name]; !ok {
					t.Errorf("%s: finding.%s is not a constant of package finding", f, name)
					return
				}
			}
			if strings.HasPrefix(f, "cloudtrail") {
				k = finding.CloudTrail(k) // as the CloudTrail collector reports them
			}
			if !listed[string(k)+" "+string(sev)] {
				t.Errorf("%s: finding %s (%s) is not in finding.Collected", f, k, sev)
			}
		}
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			check(m[2], m[3], custody.Severity(strings.ToLower(m[1])))
		}
		for _, m := range helper.FindAllStringSubmatch(string(b), -1) {
			sev := custody.SeverityFailure
			if m[1] == "warn" {
				sev = custody.SeverityWarning
			}
			check(m[2], m[3], sev)
		}
	}
	if n < 20 {
		t.Fatalf("only %d finding kinds found in the sources", n)
	}
}

// kindConstants maps the names of package finding's Kind constants to
// their values, read from its source.
func kindConstants(t *testing.T) map[string]finding.Kind {
	t.Helper()
	b, err := os.ReadFile("../custody/finding/kinds.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]finding.Kind{}
	for _, m := range regexp.MustCompile(`(?m)^\t(\w+) Kind = "([a-z-]+)"$`).FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = finding.Kind(m[2])
	}
	if len(out) < 50 {
		t.Fatalf("only %d Kind constants in package finding", len(out))
	}
	return out
}
