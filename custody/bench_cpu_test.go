package custody

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchCPU accounts the CPU time of this process and, when
// CUSTODY_BENCH_SERVER_PID names it, of the S3 server, per phase of a
// benchmark round.
type benchCPU struct {
	tb     testing.TB
	server int
	last   [2]time.Duration
	mem    runtime.MemStats
	phases []string
	// CUSTODY_BENCH_PROFILES names a directory that gets one CPU profile
	// per phase and round (not with -cpuprofile): GC and the transport's
	// goroutines, which carry no phase label, are counted in their phase.
	profiles string
	round    int
	profile  *os.File
}

func newBenchCPU(tb testing.TB) *benchCPU {
	c := &benchCPU{tb: tb}
	if s := os.Getenv("CUSTODY_BENCH_SERVER_PID"); s != "" {
		c.server, _ = strconv.Atoi(s)
	}
	c.profiles = os.Getenv("CUSTODY_BENCH_PROFILES")
	return c
}

func (c *benchCPU) now() [2]time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return [2]time.Duration{self, procCPU(c.server)}
}

// mark starts a round.
func (c *benchCPU) mark() {
	c.round++
	c.phases = c.phases[:0]
	c.start("list")
	c.last = c.now()
	runtime.ReadMemStats(&c.mem)
}

// start profiles the phase that begins (when profiles are asked for).
func (c *benchCPU) start(name string) {
	if c.profiles == "" {
		return
	}
	f, err := os.Create(filepath.Join(c.profiles, fmt.Sprintf("round%d-%s.prof", c.round, name)))
	if err != nil {
		c.tb.Fatal(err)
	}
	// The allocations before it: go tool pprof -sample_index=alloc_space
	// -diff_base roundN-raw.heap roundN-verify.heap gives the phase's.
	h, err := os.Create(filepath.Join(c.profiles, fmt.Sprintf("round%d-%s.heap", c.round, name)))
	if err != nil {
		c.tb.Fatal(err)
	}
	if err := pprof.Lookup("allocs").WriteTo(h, 0); err != nil {
		c.tb.Fatal(err)
	}
	if err := h.Close(); err != nil {
		c.tb.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		c.tb.Fatal(err)
	}
	c.profile = f
}

func (c *benchCPU) stop() {
	if c.profile == nil {
		return
	}
	pprof.StopCPUProfile()
	if err := c.profile.Close(); err != nil {
		c.tb.Fatal(err)
	}
	c.profile = nil
}

// phase ends one phase and starts the next (next "" at the end of a
// round).
func (c *benchCPU) phase(name, next string) {
	n := c.now()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	c.stop()
	if next != "" {
		c.start(next)
	}
	c.phases = append(c.phases, fmt.Sprintf("%s client %.1fs server %.1fs alloc %dMB in %d objects, %d GCs, heap %dMB",
		name, (n[0]-c.last[0]).Seconds(), (n[1]-c.last[1]).Seconds(),
		(m.TotalAlloc-c.mem.TotalAlloc)>>20, m.Mallocs-c.mem.Mallocs, m.NumGC-c.mem.NumGC, m.HeapAlloc>>20))
	c.last, c.mem = n, m
}

func (c *benchCPU) log() { c.tb.Log("cpu: " + strings.Join(c.phases, "; ")) }

// procCPU is a process's user+system CPU time from /proc (0 when pid is
// 0 or unreadable).
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// live writes the heap profile of what is live while v is (the report
// verify returned), when profiles are asked for.
func (c *benchCPU) live(v any) {
	if c.profiles == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(filepath.Join(c.profiles, fmt.Sprintf("round%d-live.heap", c.round)))
	if err != nil {
		c.tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		c.tb.Fatal(err)
	}
	runtime.KeepAlive(v)
}
