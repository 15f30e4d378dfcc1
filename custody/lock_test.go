package custody

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLockStreamSaysWhoHoldsIt: the holder records itself in the lock
// file, and a second taker is told who it is before it waits.
func TestLockStreamSaysWhoHoldsIt(t *testing.T) {
	ledgerPath := filepath.Join(t.TempDir(), "ledger.db")
	if _, held := StreamLockHolder(ledgerPath, "s1"); held {
		t.Fatal("a lock nobody took is held")
	}
	unlock, err := LockStreamAt(ledgerPath, "s1", time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, held := StreamLockHolder(ledgerPath, "s1")
	host, _ := os.Hostname()
	if !held || h.PID != os.Getpid() || h.Host != host || !strings.Contains(h.Command, ".test") || time.Since(h.Since) > time.Minute {
		t.Fatalf("holder = %+v, %v; want this process", h, held)
	}
	if !strings.Contains(h.String(), "pid ") {
		t.Errorf("holder string %q", h)
	}

	told := make(chan LockHolder, 1)
	got := make(chan error, 1)
	go func() {
		unlock2, err := LockStreamAt(ledgerPath, "s1", time.Now, func(h LockHolder) { told <- h })
		if err == nil {
			unlock2()
		}
		got <- err
	}()
	select {
	case h := <-told:
		if h.PID != os.Getpid() {
			t.Errorf("told holder %+v", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter was not told who holds the lock")
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	// Another stream's lock is independent.
	unlock3, err := LockStreamAt(ledgerPath, "s2", time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	unlock3()
}

// TestLockStreamAtRecordsTheInjectedClock: the holder's time is the
// caller's clock, not the machine's.
func TestLockStreamAtRecordsTheInjectedClock(t *testing.T) {
	ledgerPath := filepath.Join(t.TempDir(), "ledger.db")
	at := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	unlock, err := LockStreamAt(ledgerPath, "s1", func() time.Time { return at }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if h, held := StreamLockHolder(ledgerPath, "s1"); !held || !h.Since.Equal(at) {
		t.Fatalf("holder = %+v, %v; want since %v", h, held, at)
	}
}

// TestLockStreamGivesUpAfterTheWait: a lock held by another taker is
// refused with ErrStreamLocked once the wait has passed, whatever the
// injected clock says (the wait is a timer).
func TestLockStreamGivesUpAfterTheWait(t *testing.T) {
	ledgerPath := filepath.Join(t.TempDir(), "ledger.db")
	frozen := func() time.Time { return time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC) }
	unlock, err := LockStreamAt(ledgerPath, "s1", frozen, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	done := make(chan error, 1)
	go func() {
		unlock2, err := lockStream(ledgerPath, "s1", frozen, nil, 300*time.Millisecond)
		if err == nil {
			unlock2()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrStreamLocked) || !strings.Contains(err.Error(), "pid ") {
			t.Fatalf("second taker: %v, want ErrStreamLocked naming the holder", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second taker did not give up after its wait")
	}
}
