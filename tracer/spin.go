package tracer

import "time"

// Why the stop loop spins before it sleeps.
//
// A ptrace stop wakes the tracer and then, at PTRACE_CONT, the app. When the
// tracer sleeps in wait4 and its CPU goes idle, each of those wake-ups is an
// inter-processor interrupt to a halted CPU; in a VM (Fargate is Firecracker)
// that costs tens of µs, far more than deciding the call. A tracer that
// polls for the next stop for a few tens of µs, yielding its CPU to anything
// runnable meanwhile, keeps its CPU awake, so both wake-ups stay cheap while
// the app makes syscalls in quick succession. Measured on this project's
// 2-vCPU VM: an open+close loop under bluelock went from 1.69 to 0.90 s per
// 20,000 (docs/benchmarks.md), using less CPU time in all, since a halted
// CPU's wake-up costs CPU too.
//
// Spinning is wasted when stops are sparse, so the spinner gives up after a
// few misses in a row and only starts again once a sleeping wait returned
// within the budget (stops are coming fast again).

// DefaultSpin is the spin budget when none is configured.
const DefaultSpin = 50 * time.Microsecond

// MaxSpin bounds a configured budget: beyond it a miss burns more CPU than
// any wake-up it could save.
const MaxSpin = time.Millisecond

// spinMisses is how many spins in a row may find nothing before the
// spinner rests.
const spinMisses = 3

// spinner decides, wait by wait, whether to poll before sleeping. It is
// pure bookkeeping: the loop reports what each wait found.
type spinner struct {
	budget time.Duration
	misses int // consecutive spins that found nothing
}

// spin reports whether the next wait should poll for up to s.budget first.
func (s *spinner) spin() bool { return s.budget > 0 && s.misses < spinMisses }

// polled records a spin's outcome: hit means a stop came within the budget.
func (s *spinner) polled(hit bool) {
	if hit {
		s.misses = 0
	} else {
		s.misses++
	}
}

// slept records a sleeping wait that returned after d: a stop that came
// within the budget means spinning would have caught it, so spin again.
func (s *spinner) slept(d time.Duration) {
	if d < s.budget {
		s.misses = 0
	}
}
