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
//
// Spinning also costs where the app is creating processes, hits included,
// when there is more than one CPU. A tracer that spins keeps its CPU busy,
// and the kernel places each new process on another one (fork and exec
// pick an idle CPU; a woken task goes back to the CPU it last ran on):
// tracer and tracee then sit on different CPUs, and every stop the spin
// misses (exec and the dynamic loader run for hundreds of µs between
// stops) waits for a halted CPU twice. A scheduler trace of a fork+exec
// loop (perf sched timehist) showed just that: polling, each wake-up took
// about 20 µs; sleeping, tracer and tracee shared one CPU for runs of
// stops, each wake-up a context switch of 5–8 µs. So with more than one
// CPU the spinner rests for spawnRest after each new process or exec.
// Measured on the 2-vCPU VM against the build before, interleaved
// (docs/benchmarks.md): a shell loop of 1,000 fork+exec 3.5 % faster (13
// of 15 rounds), a 61-file C build 4.7 % (9 of 11), a C fork+exec loop
// 10 % (6 of 7); an open loop and nginx, which create no processes once
// started, within the noise. On one CPU there is no other CPU to be pushed
// to and spinning (yielding) pays there too, so it does not rest.

// DefaultSpin is the spin budget when none is configured.
const DefaultSpin = 50 * time.Microsecond

// MaxSpin bounds a configured budget: beyond it a miss burns more CPU than
// any wake-up it could save.
const MaxSpin = time.Millisecond

// spinMisses is how many spins in a row may find nothing before the
// spinner rests.
const spinMisses = 3

// spawnRest is how long the spinner rests after a process is created or
// execs, where there is more than one CPU. It spans the gaps between the
// programs of a build or a shell script (a few ms to tens), and is short
// enough that a server which starts one now and then (an exec probe) is
// soon polled for again.
const spawnRest = 50 * time.Millisecond

// spinner decides, wait by wait, whether to poll before sleeping. It is
// pure bookkeeping: the loop reports what each wait found.
type spinner struct {
	budget time.Duration
	misses int // consecutive spins that found nothing
	// rest is how long to rest after a new process or exec: spawnRest
	// with more than one CPU, else 0.
	rest      time.Duration
	restUntil time.Time // no spinning before this (spawned)
}

// spin reports whether the wait starting at now should poll for up to
// s.budget first.
func (s *spinner) spin(now time.Time) bool { return s.polling() && !now.Before(s.restUntil) }

// resting reports whether spin(now) says no only because a process was
// created or exec'd within s.rest of now.
func (s *spinner) resting(now time.Time) bool { return s.polling() && now.Before(s.restUntil) }

// polling reports whether the budget and the recent misses allow a poll.
func (s *spinner) polling() bool { return s.budget > 0 && s.misses < spinMisses }

// spawned records that a process was created or exec'd at now.
func (s *spinner) spawned(now time.Time) {
	if s.rest > 0 {
		s.restUntil = now.Add(s.rest)
	}
}

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
