package custody

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrStreamLocked means another process is writing the stream.
var ErrStreamLocked = errors.New("another custody process is writing this stream")

// lockWait is how long LockStreamAt waits for another process's lock.
const lockWait = 30 * time.Second

// LockHolder is who holds a stream's lock, as the holder wrote it into the
// lock file when it took the lock.
type LockHolder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

func (h LockHolder) String() string {
	if h.PID == 0 {
		return "a process that did not record itself (an older custody)"
	}
	s := fmt.Sprintf("pid %d on %s", h.PID, h.Host)
	if h.Command != "" {
		s += fmt.Sprintf(" (%s)", h.Command)
	}
	if !h.Since.IsZero() {
		s += " since " + h.Since.UTC().Format(time.RFC3339)
	}
	return s
}

func lockPath(ledgerPath, stream string) string {
	return filepath.Join(filepath.Dir(ledgerPath), "."+filepath.Base(ledgerPath)+"."+segment(stream)+".lock")
}

// LockStreamAt takes an exclusive lock on stream for this process, beside
// the ledger file, so that only one process extends a stream's chain at a
// time; it waits up to 30 seconds for another holder, calling waiting (when
// not nil), once and at once, with the holder before it waits. The lock
// file records this process (pid, host, command, and the time now gives)
// once taken. Release the lock with the returned function.
func LockStreamAt(ledgerPath, stream string, now func() time.Time, waiting func(LockHolder)) (func(), error) {
	return lockStream(ledgerPath, stream, now, waiting, lockWait)
}

// lockStream waits up to wait for the lock. The wait is a timer, not a
// deadline read from a clock: it measures real elapsed time whatever now
// says.
func lockStream(ledgerPath, stream string, now func() time.Time, waiting func(LockHolder), wait time.Duration) (func(), error) {
	path := lockPath(ledgerPath, stream)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock stream %s: %w", stream, err)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	notified := false
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || expired(deadline) {
			holder := readHolder(f)
			f.Close()
			return nil, fmt.Errorf("%w (%s, held by %s): %v", ErrStreamLocked, path, holder, err)
		}
		if !notified && waiting != nil {
			waiting(readHolder(f))
			notified = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	recordHolder(f, now)
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// expired tells whether the timer has fired.
func expired(t *time.Timer) bool {
	select {
	case <-t.C:
		return true
	default:
		return false
	}
}

// StreamLockHolder tells whether another process holds stream's lock,
// and who, without taking it (it is taken and released at once when free).
func StreamLockHolder(ledgerPath, stream string) (LockHolder, bool) {
	f, err := os.Open(lockPath(ledgerPath, stream))
	if err != nil {
		return LockHolder{}, false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return LockHolder{}, false
	}
	return readHolder(f), true
}

// recordHolder writes this process into the lock file it holds. The
// record is only information for whoever waits: the lock is the flock.
func recordHolder(f *os.File, now func() time.Time) {
	host, _ := os.Hostname()
	h := LockHolder{PID: os.Getpid(), Host: host, Command: strings.Join(os.Args, " "), Since: now().UTC()}
	b, err := json.Marshal(h)
	if err != nil {
		return
	}
	if err := f.Truncate(0); err != nil {
		return
	}
	_, _ = f.WriteAt(append(b, '\n'), 0)
}

func readHolder(f *os.File) LockHolder {
	var h LockHolder
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 4096))
	if err == nil {
		_ = json.Unmarshal(b, &h)
	}
	return h
}
