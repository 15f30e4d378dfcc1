package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)} }
func lines(s string) []string                { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
func countLines(b *bytes.Buffer) int         { return strings.Count(b.String(), "\n") }
func (p *Progress) setTTY(tty bool) *Progress { // a terminal without a terminal
	p.tty = tty
	if tty {
		p.every = 100 * time.Millisecond
	}
	return p
}

// TestProgressLogEveryTenSeconds: off a terminal, one line every 10 s of
// the clock, however many items finish in between, with rate and time left.
func TestProgressLogEveryTenSeconds(t *testing.T) {
	c := newFakeClock()
	var b bytes.Buffer
	p := NewProgress(&b, "applied", 4000, c.now)
	for i := 0; i < 99; i++ {
		c.advance(100 * time.Millisecond)
		p.Add(1)
	}
	if b.Len() != 0 {
		t.Fatalf("printed before 10 s had passed: %q", b.String())
	}
	c.advance(100 * time.Millisecond)
	p.Add(1) // 100 done in 10 s: 10/s, 3900 left: 6m30s
	if got, want := b.String(), "applied 100/4000 actions, 10.0/s, 6m30s left\n"; got != want {
		t.Fatalf("line = %q, want %q", got, want)
	}
	// Nothing finishes for a while: Tick still shows life every 10 s.
	c.advance(9 * time.Second)
	p.Tick()
	if countLines(&b) != 1 {
		t.Fatalf("a second line within 10 s: %q", b.String())
	}
	c.advance(time.Second)
	p.Tick()
	if l := lines(b.String()); len(l) != 2 || l[1] != "applied 100/4000 actions, 5.0/s, 13m0s left" {
		t.Fatalf("after a stall: %q", b.String())
	}
	p.Finish()
	p.Finish()
	p.Add(5)
	p.Tick()
	if l := lines(b.String()); len(l) != 3 || l[2] != "applied 100/4000 actions, 5.0/s, 13m0s left" {
		t.Fatalf("finish prints the final count once and nothing after: %q", b.String())
	}
}

// TestProgressTerminalRedraws: on a terminal one line is redrawn at most
// ten times a second and ended with a newline by Finish.
func TestProgressTerminalRedraws(t *testing.T) {
	c := newFakeClock()
	var b bytes.Buffer
	p := NewProgress(&b, "applied", 10, c.now).setTTY(true)
	for i := 0; i < 10; i++ {
		c.advance(30 * time.Millisecond)
		p.Set(i + 1)
	}
	// 300 ms: draws at 120 ms (4 done) and 240 ms (8 done) only.
	if got := strings.Count(b.String(), "\r"); got != 2 {
		t.Fatalf("%d redraws in 300 ms, want 2: %q", got, b.String())
	}
	if strings.Contains(b.String(), "\n") {
		t.Fatalf("a newline before Finish: %q", b.String())
	}
	p.Finish()
	out := b.String()
	if !strings.HasSuffix(out, "\r\033[Kapplied 10/10 actions, 33.3/s\n") {
		t.Fatalf("final line: %q", out)
	}
}

// TestProgressCountsOnlyWhatFinished: Set never goes back, the count is
// what was reported and nothing else, and an empty job prints nothing.
func TestProgressCountsOnlyWhatFinished(t *testing.T) {
	c := newFakeClock()
	var b bytes.Buffer
	p := NewProgress(&b, "applied", 4000, c.now)
	p.Set(48)
	p.Set(12) // a late, smaller report
	c.advance(4 * time.Second)
	if p.Done() != 48 || p.Line() != "applied 48/4000 actions, 12.0/s, 5m29s left" {
		t.Fatalf("done %d, line %q", p.Done(), p.Line())
	}
	p.Finish()
	if got := b.String(); got != "applied 48/4000 actions, 12.0/s, 5m29s left\n" {
		t.Fatalf("after an interrupt at 48: %q", got)
	}

	var empty bytes.Buffer
	q := NewProgress(&empty, "verified", 0, c.now).Unit("manifests")
	q.Finish()
	if empty.Len() != 0 {
		t.Fatalf("nothing to count, yet printed %q", empty.String())
	}
	if q.Line() != "verified 0/0 manifests" {
		t.Fatalf("unit: %q", q.Line())
	}
}
