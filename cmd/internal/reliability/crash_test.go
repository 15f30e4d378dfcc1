package reliability

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/custody-ir/custody/internal/testaws"
)

// crashTrials is how many kills each crash test makes (CUSTODY_CRASH_TRIALS,
// 12 by default; scripts/reliability runs 60) and crashSeed seeds their
// random points (CUSTODY_CRASH_SEED): a trial is reproduced by its seed
// and number.
func crashTrials() (trials int, seed uint64) {
	trials, seed = 12, 1
	if v, err := strconv.Atoi(os.Getenv("CUSTODY_CRASH_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	if v, err := strconv.ParseUint(os.Getenv("CUSTODY_CRASH_SEED"), 10, 64); err == nil {
		seed = v
	}
	return trials, seed
}

// killAfter starts cmd, SIGKILLs it after delay (unless it ended first)
// and reports whether the kill landed.
func killAfter(t *testing.T, cmd *exec.Cmd, delay time.Duration) bool {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return false
	case <-time.After(delay):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return true
}

// ledgerState counts, in a ledger left by a killed process, the sealed
// manifests, the runs still marked running and the unsealed artifacts.
func ledgerState(t *testing.T, path string) (manifests, running, unsealed int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for q, n := range map[string]*int{
		`SELECT COUNT(*) FROM manifests`:                            &manifests,
		`SELECT COUNT(*) FROM runs WHERE status = 'running'`:        &running,
		`SELECT COUNT(*) FROM artifacts WHERE manifest_seq IS NULL`: &unsealed,
	} {
		if err := db.QueryRow(q).Scan(n); err != nil {
			return 0, 0, 0 // killed before the ledger existed
		}
	}
	return manifests, running, unsealed
}

// TestCrashAgent kills the agent with SIGKILL at seeded random points of
// its collection, runs the next collection, and checks every invariant.
func TestCrashAgent(t *testing.T) {
	w := getWorld(t)
	trials, seed := crashTrials()

	// How long one full collection takes, to spread the kills over it.
	base := newEvidence(t, w, "@every 1h")
	start := time.Now()
	if out, code := base.run(t, nil, w.custody, "collect", "--once"); code != 0 {
		t.Fatalf("uninterrupted collection: exit %d\n%s", code, out)
	}
	full := time.Since(start)
	if inv := base.check(t); len(inv.Violations) > 0 {
		t.Fatalf("uninterrupted collection breaks invariants: %v", inv.Violations)
	}
	t.Logf("an uninterrupted collection takes %v; %d trials, seed %d", full.Round(time.Millisecond), trials, seed)

	var landed, pending, violations int
	for i := range trials {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		// The agent starts a round of every collector each second; the kill
		// lands anywhere from start-up to well into its second round.
		delay := time.Duration(rng.Int64N(int64(full + 2*time.Second)))
		ev := newEvidence(t, w, "* * * * * *")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		var out testaws.Buffer
		cmd := w.command(ctx, []string{"CUSTODY_CONFIG=" + ev.config}, w.custody, "agent")
		cmd.Stdout, cmd.Stderr = &out, &out
		killed := killAfter(t, cmd, delay)
		cancel()
		manifests, running, unsealed := ledgerState(t, ev.ledger)
		if killed {
			landed++
		}
		if running > 0 || unsealed > 0 {
			pending++
		}
		rout, code := ev.run(t, nil, w.custody, "collect", "--once")
		if code != 0 {
			t.Errorf("trial %d (seed %d, kill at %v): the next run exited %d\n%s", i, seed, delay, code, tail(rout, 1500))
		}
		inv := ev.check(t)
		violations += len(inv.Violations)
		for _, v := range inv.Violations {
			t.Errorf("trial %d (seed %d, kill at %v): %s", i, seed, delay, v)
		}
		t.Logf("trial %2d: kill at %6v (landed %v): %d manifests sealed, %d runs in flight, %d artifacts unsealed; after the next run %d manifests, %d artifacts sealed, %d violations",
			i, delay.Round(time.Millisecond), killed, manifests, running, unsealed, inv.Manifests, inv.Sealed, len(inv.Violations))
	}
	t.Logf("SUMMARY crash-agent: %d trials (seed %d), %d kills landed, %d left work unsealed, %d invariant violations", trials, seed, landed, pending, violations)
}

// TestCrashRecover kills recover with SIGKILL at seeded random points of a
// recovery, runs it again (resuming the job when one was journalled), and
// checks the bucket is exactly at its target with no action applied twice.
func TestCrashRecover(t *testing.T) {
	w := getWorld(t)
	trials, seed := crashTrials()
	c := s3Client(w.env)
	set := newDamagedSet(t, c, trials+1, 600)

	start := time.Now()
	journal := t.TempDir() + "/journal.db"
	if out, code := w.run(t, nil, w.recover, "--bucket", set[0].bucket, "--since", set[0].target, "--remove-new", "--yes", "--concurrency", "2", "--ledger", journal); code != 0 {
		t.Fatalf("uninterrupted recovery: exit %d\n%s", code, out)
	}
	full := time.Since(start)
	if bad := set[0].check(t, c); len(bad) > 0 {
		t.Fatalf("uninterrupted recovery: %v", bad)
	}
	t.Logf("an uninterrupted recovery takes %v; %d trials, seed %d", full.Round(time.Millisecond), trials, seed)

	var landed, resumed, violations int
	for i, d := range set[1:] {
		rng := rand.New(rand.NewPCG(seed, uint64(1000+i)))
		delay := time.Duration(rng.Int64N(int64(full)))
		journal := t.TempDir() + "/journal.db"
		var out testaws.Buffer
		cmd := w.command(context.Background(), nil, w.recover, "--bucket", d.bucket, "--since", d.target, "--remove-new", "--yes", "--concurrency", "2", "--ledger", journal)
		cmd.Stdout, cmd.Stderr = &out, &out
		killed := killAfter(t, cmd, delay)
		if killed {
			landed++
		}
		job := ""
		if m := jobRE.FindStringSubmatch(out.String()); m != nil {
			job = m[1]
		}
		done := journalDone(t, journal)
		if job != "" {
			resumed++
		}
		runs := d.recoverUntilDone(t, w, journal, job)
		bad := d.check(t, c)
		violations += len(bad)
		for _, v := range bad {
			t.Errorf("trial %d (seed %d, kill at %v): %s", i, seed, delay, v)
		}
		t.Logf("trial %2d: kill at %6v (landed %v): job %q, %d actions marked in the journal at the kill; finished in %d more run(s), %d violations",
			i, delay.Round(time.Millisecond), killed, job, done, runs, len(bad))
	}
	t.Logf("SUMMARY crash-recover: %d trials (seed %d), %d kills landed, %d resumed a journalled job, %d invariant violations", trials, seed, landed, resumed, violations)
}

// journalDone counts the actions a killed recover had marked done.
func journalDone(t *testing.T, path string) int {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM recovery_actions WHERE state <> 'planned'`).Scan(&n); err != nil {
		return 0
	}
	return n
}
