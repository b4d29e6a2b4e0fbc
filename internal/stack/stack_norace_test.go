//go:build !race

// The race detector's runtime starts goroutines on larger stacks and keeps
// a larger guard, so the sizes below hold only without it; make test runs
// this package without -race too (its standalone step).

package stack

import (
	"runtime"
	"testing"
)

// parked starts n goroutines that each run f and then block, and returns
// how many bytes of stack the runtime holds for them beyond what it held
// before, per goroutine, and a function that releases them.
func parked(n int, f func()) (perGoroutine uint64, release func()) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ready := make(chan struct{})
	done := make(chan struct{})
	for range n {
		go func() {
			f()
			ready <- struct{}{}
			<-done
		}()
	}
	for range n {
		<-ready
	}
	runtime.ReadMemStats(&after)
	return (after.StackInuse - before.StackInuse) / uint64(n), func() { close(done) }
}

// TestReserveGrowsTo8And16KiB checks the mechanism the Suites rely on: a
// fresh goroutine that calls Reserve holds an 8 KiB stack (not 16, which
// would waste memory per in-flight request), one that calls ReserveDeep
// 16 KiB, where one that calls neither holds the runtime's 2 KiB.
func TestReserveGrowsTo8And16KiB(t *testing.T) {
	const n = 512
	plain, release := parked(n, func() {})
	release()
	reserved, release := parked(n, func() { Reserve(1) })
	release()
	if plain > 4<<10 {
		t.Fatalf("a plain goroutine holds %d B of stack, want the runtime's 2 KiB start: the runtime changed, revisit Reserve", plain)
	}
	if reserved < 7<<10 || reserved > 9<<10 {
		t.Fatalf("a goroutine that called Reserve holds %d B of stack, want 8 KiB", reserved)
	}
	deep, release := parked(n, func() { ReserveDeep(1) })
	release()
	if deep < 15<<10 || deep > 17<<10 {
		t.Fatalf("a goroutine that called ReserveDeep holds %d B of stack, want 16 KiB", deep)
	}
}
