package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// Progress reports how far a long operation is: "applied 48/4000 actions,
// 12.0/s, 5m29s left". On a terminal it redraws one line at most ten
// times a second; elsewhere (a log file, a pipe) it prints a line every
// ten seconds, so that logs show the run is alive. It counts only what the
// caller reports as finished, and reads the clock only through now.
type Progress struct {
	w     io.Writer
	verb  string
	unit  string
	total int
	now   func() time.Time
	tty   bool
	every time.Duration

	mu       sync.Mutex
	done     int
	start    time.Time
	last     time.Time // when a line was last written
	finished bool
	stop     chan struct{}
}

// NewProgress returns a progress report of total items to w, each line
// starting with verb ("applied", "verified"). It prints nothing until
// Set, Add or Tick is called.
func NewProgress(w io.Writer, verb string, total int, now func() time.Time) *Progress {
	p := &Progress{w: w, verb: verb, unit: "actions", total: total, now: now, every: 10 * time.Second}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty, p.every = true, 100*time.Millisecond
	}
	p.start = now()
	p.last = p.start
	return p
}

// Unit sets the word for the items counted ("actions" by default).
func (p *Progress) Unit(u string) *Progress {
	p.unit = u
	return p
}

// Set records that done items have finished.
func (p *Progress) Set(done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if done > p.done {
		p.done = done
	}
	p.tickLocked()
}

// Add records n more finished items.
func (p *Progress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.tickLocked()
}

// Done is the number of items recorded as finished.
func (p *Progress) Done() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Tick prints a line if one is due. Start calls it every second, so that
// a run stuck on one long item still shows life.
func (p *Progress) Tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tickLocked()
}

func (p *Progress) tickLocked() {
	if p.finished {
		return
	}
	now := p.now()
	if now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	p.writeLocked(now)
}

func (p *Progress) writeLocked(now time.Time) {
	line := p.lineLocked(now)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// Line is the current progress line, without a line end.
func (p *Progress) Line() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lineLocked(p.now())
}

func (p *Progress) lineLocked(now time.Time) string {
	s := fmt.Sprintf("%s %d/%d %s", p.verb, p.done, p.total, p.unit)
	elapsed := now.Sub(p.start)
	if p.done == 0 || elapsed <= 0 {
		return s
	}
	rate := float64(p.done) / elapsed.Seconds()
	s += fmt.Sprintf(", %.1f/s", rate)
	if left := p.total - p.done; left > 0 {
		eta := time.Duration(float64(left) / rate * float64(time.Second))
		s += fmt.Sprintf(", %s left", eta.Round(time.Second))
	}
	return s
}

// Start calls Tick every second until Finish.
func (p *Progress) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil || p.finished {
		return
	}
	p.stop = make(chan struct{})
	stop := p.stop
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.Tick()
			}
		}
	}()
}

// Finish stops the report. On a terminal it draws the final count and ends
// the line, so that what follows starts on a line of its own; elsewhere it
// prints the final line (unless there was nothing to count). It prints
// nothing more afterwards, and is safe to call more than once.
func (p *Progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	if p.stop != nil {
		close(p.stop)
	}
	now := p.now()
	if p.tty {
		p.writeLocked(now)
		fmt.Fprintln(p.w)
	} else if p.total > 0 {
		p.writeLocked(now)
	}
	p.finished = true
}
