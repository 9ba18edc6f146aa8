package tracer

import (
	"runtime"
	"testing"
)

// maxAllocsPerOpen is what a trapped, allowed, unreported open may
// allocate in the tracer: the path string read from the tracee, and
// x/sys's copy of the path for the resolving openat2. Each allocation on
// this path measured about 0.1–0.2 µs of a trapped open on one CPU, where
// bluelock adds about 7 µs (docs/benchmarks.md).
const maxAllocsPerOpen = 2

// TestOpenAllocations holds the stop loop's open path to its allocation
// budget: the process's mallocs over a traced loop of opens, spread over
// the opens (the run's own set-up adds a few hundredths). Needs root
// (ptrace).
func TestOpenAllocations(t *testing.T) {
	const opens = 5000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	traceOpens(t, "open-n", opens, nil)
	runtime.ReadMemStats(&after)
	per := float64(after.Mallocs-before.Mallocs) / opens
	t.Logf("%.2f allocations per trapped open", per)
	if per > maxAllocsPerOpen+0.5 {
		t.Fatalf("%.2f allocations per trapped open, want at most %d: something on the open path allocates again", per, maxAllocsPerOpen)
	}
}
