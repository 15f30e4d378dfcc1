package custody

import (
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
	unlock, err := LockStream(ledgerPath, "s1")
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
		unlock2, err := LockStreamNotify(ledgerPath, "s1", func(h LockHolder) { told <- h })
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
	unlock3, err := LockStream(ledgerPath, "s2")
	if err != nil {
		t.Fatal(err)
	}
	unlock3()
}
