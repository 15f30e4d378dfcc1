package reliability

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custody-ir/custody/internal/testaws"
)

// soakDuration is how long the soak runs: CUSTODY_SOAK (a Go duration), 2
// minutes by default; scripts/reliability runs 20.
func soakDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("CUSTODY_SOAK")); err == nil && d > 0 {
		return d
	}
	if testing.Short() {
		return 20 * time.Second // still 10 samples: enough to compare quarters
	}
	return 2 * time.Minute
}

// sample is one look at the running agent.
type sample struct {
	at         time.Duration
	rss        int64 // bytes, from /proc
	fds        int
	goroutines int // from its /metrics
	ledger     int64
	manifests  int
}

// TestSoak runs the agent with every collector on a 2-second schedule for
// soakDuration and checks that its memory, goroutines and file descriptors
// stay flat, that the ledger grows in proportion to the runs sealed, and
// that every invariant holds at the end.
func TestSoak(t *testing.T) {
	// Resident memory and file descriptors come from /proc. CI (Linux)
	// must have it; elsewhere the soak runs all the same, on goroutines,
	// the ledger and the invariants, and says what it could not measure.
	if _, err := os.Stat("/proc/self/status"); err != nil {
		if testaws.Required() {
			t.Fatal("the soak reads /proc, which CI must have (Linux)")
		}
		t.Log("no /proc: resident memory and file descriptors are not measured")
	}
	w := getWorld(t)
	dur := soakDuration()
	ev := newEvidence(t, w, "*/2 * * * * *")
	addr := testaws.FreeAddr(t)

	ctx, cancel := context.WithTimeout(context.Background(), dur+5*time.Minute)
	defer cancel()
	var out testaws.Buffer
	cmd := w.command(ctx, []string{"CUSTODY_CONFIG=" + ev.config}, w.custody, "agent", "--listen", addr)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pid := cmd.Process.Pid

	var samples []sample
	start := time.Now()
	tick := time.NewTicker(max(dur/60, 2*time.Second))
	defer tick.Stop()
	for time.Since(start) < dur {
		select {
		case err := <-exited:
			t.Fatalf("the agent exited during the soak: %v\n%s", err, tail(out.String(), 3000))
		case <-tick.C:
		}
		s := sample{at: time.Since(start), rss: procRSS(pid), fds: procFDs(pid), goroutines: metric(addr, "go_goroutines"),
			ledger: ledgerBytes(t, ev.ledger)}
		s.manifests, _, _ = ledgerState(t, ev.ledger)
		samples = append(samples, s)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the agent did not stop cleanly on SIGTERM: %v", err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("the agent did not stop within 3 minutes of SIGTERM")
	}
	failures := strings.Count(out.String(), `"collection failed"`)
	if failures > 0 {
		t.Errorf("%d collection(s) failed during the soak:\n%s", failures, tail(out.String(), 3000))
	}

	if len(samples) < 8 {
		t.Fatalf("only %d samples", len(samples))
	}
	// The first quarter is warm-up (first CloudTrail and Config copies,
	// caches filling). Compare the second quarter with the last.
	q := len(samples) / 4
	early, late := samples[q:2*q], samples[len(samples)-q:]
	peak := func(ss []sample, f func(sample) int64) int64 {
		var m int64
		for _, s := range ss {
			m = max(m, f(s))
		}
		return m
	}
	median := func(ss []sample, f func(sample) int64) int64 {
		vs := make([]int64, len(ss))
		for i, s := range ss {
			vs[i] = f(s)
		}
		slices.Sort(vs)
		return vs[len(vs)/2]
	}
	series := func(ss []sample, f func(sample) int64) []int64 {
		out := make([]int64, len(ss))
		for i, s := range ss {
			out[i] = f(s)
		}
		return out
	}
	rss := func(s sample) int64 { return s.rss }
	gor := func(s sample) int64 { return int64(s.goroutines) }
	fds := func(s sample) int64 { return int64(s.fds) }
	if e, l := peak(early, rss), peak(late, rss); l > e+e/2+16<<20 {
		t.Errorf("resident memory grew: peak %d MiB in the second quarter, %d MiB in the last", e>>20, l>>20)
	}
	// Goroutines come and go with every run's parallel uploads, so a
	// sample that lands in one is a burst, not a leak: a leak raises the
	// middle of the distribution, which is what is compared.
	if e, l := median(early, gor), median(late, gor); l > e+10 {
		t.Logf("goroutines: %v", series(samples, gor))
		t.Errorf("goroutines grew: median %d in the second quarter, %d in the last", e, l)
	}
	if e, l := peak(early, fds), peak(late, fds); l > e+8 {
		t.Errorf("file descriptors grew: peak %d in the second quarter, %d in the last", e, l)
	}
	// Ledger bytes per sealed manifest, first half against second half.
	mid, last := samples[len(samples)/2], samples[len(samples)-1]
	first := samples[q]
	perEarly := float64(mid.ledger-first.ledger) / float64(max(mid.manifests-first.manifests, 1))
	perLate := float64(last.ledger-mid.ledger) / float64(max(last.manifests-mid.manifests, 1))
	if last.manifests <= mid.manifests {
		t.Errorf("no manifests sealed in the second half (%d then %d)", mid.manifests, last.manifests)
	}
	if perLate > 3*perEarly+64<<10 {
		t.Errorf("the ledger grows faster than the work: %.0f bytes per manifest in the first half, %.0f in the second", perEarly, perLate)
	}

	inv := ev.check(t)
	for _, v := range inv.Violations {
		t.Errorf("invariant after the soak: %s", v)
	}
	writeSamples(t, samples)
	rssMiB := func(ss []sample) string {
		v := make([]int64, len(ss))
		for i, s := range ss {
			v[i] = s.rss >> 20
		}
		return fmt.Sprintf("%d-%d", slices.Min(v), slices.Max(v))
	}
	t.Logf("SUMMARY soak: %v, %d samples, %d manifests sealed (%d artifacts); RSS MiB second quarter %s, last quarter %s; goroutines peak %d then %d; fds peak %d then %d; ledger %d KiB at the end, %.0f then %.0f bytes per manifest; %d collection failures, %d violations",
		dur, len(samples), inv.Manifests, inv.Sealed, rssMiB(early), rssMiB(late), peak(early, gor), peak(late, gor), peak(early, fds), peak(late, fds),
		last.ledger>>10, perEarly, perLate, failures, len(inv.Violations))
}

// writeSamples keeps the samples as CSV in CUSTODY_RELIABILITY_OUT, if set.
func writeSamples(t *testing.T, ss []sample) {
	dir := os.Getenv("CUSTODY_RELIABILITY_OUT")
	if dir == "" {
		return
	}
	var b strings.Builder
	b.WriteString("seconds,rss_bytes,fds,goroutines,ledger_bytes,manifests\n")
	for _, s := range ss {
		fmt.Fprintf(&b, "%.0f,%d,%d,%d,%d,%d\n", s.at.Seconds(), s.rss, s.fds, s.goroutines, s.ledger, s.manifests)
	}
	if err := os.WriteFile(filepath.Join(dir, "soak.csv"), []byte(b.String()), 0o644); err != nil {
		t.Error(err)
	}
}

func procRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func procFDs(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// metric reads one unlabelled gauge from the agent's /metrics.
func metric(addr, name string) int {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			v, _ := strconv.ParseFloat(rest, 64)
			return int(v)
		}
	}
	return 0
}

// ledgerBytes is the ledger's size as SQLite sees it (pages in use, the
// write-ahead log included), which the file sizes show only in steps.
func ledgerBytes(t *testing.T, path string) int64 {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()`).Scan(&n); err != nil {
		return 0
	}
	return n
}
