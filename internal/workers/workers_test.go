package workers

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Every task runs once, on no more goroutines than asked for; zero tasks
// and a worker count below one are handled.
func TestEach(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{0, 4}, {1, 4}, {3, 8}, {1000, 4}, {10, 0}, {10, -3}} {
		seen := make([]atomic.Int32, tc.n)
		var mu sync.Mutex
		running, most := 0, 0
		before := runtime.NumGoroutine()
		var grew atomic.Int64
		Each(tc.n, tc.workers, func(i int) {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			grew.Store(max(grew.Load(), int64(runtime.NumGoroutine()-before)))
			seen[i].Add(1)
			mu.Lock()
			running--
			mu.Unlock()
		})
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Fatalf("n=%d workers=%d: task %d ran %d times", tc.n, tc.workers, i, c)
			}
		}
		if limit := max(tc.workers, 1); most > limit || grew.Load() > int64(limit) {
			t.Fatalf("n=%d workers=%d: %d tasks at once on %d new goroutines; want at most %d", tc.n, tc.workers, most, grew.Load(), limit)
		}
	}
}
