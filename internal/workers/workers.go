// Package workers runs many small tasks on a few long-lived goroutines.
//
// A goroutine per task costs more than it seems when each task calls
// through the AWS SDK: a new goroutine starts with a small stack, and the
// SDK's deep middleware calls grow it again (copying it each time) for
// every task. Verify reads 200,000 objects of a 100,000-manifest store.
package workers

import (
	"sync"
	"sync/atomic"
)

// Each calls fn(i) for every i in [0, n), on at most workers goroutines
// (at least one), and returns when all calls have returned. Tasks are
// taken in order of i; fn must be safe to run concurrently.
func Each(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(workers, 1), n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}
