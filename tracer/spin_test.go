package tracer

import (
	"testing"
	"time"
)

// TestSpinner: the spinner polls while stops come fast, rests after
// spinMisses empty polls in a row, and polls again once a sleeping wait
// returns within the budget. With more than one CPU it also rests for
// spawnRest after a new process or exec.
func TestSpinner(t *testing.T) {
	const b = 50 * time.Microsecond
	type step struct {
		poll  bool          // the wait polled: hit says whether it found a stop
		hit   bool          //
		spawn bool          // a process was created or exec'd
		slept time.Duration // else: the wait slept this long
	}
	hit, miss, spawn := step{poll: true, hit: true}, step{poll: true}, step{spawn: true}
	t0 := time.Unix(1_000_000, 0)
	for _, c := range []struct {
		name    string
		budget  time.Duration
		oneCPU  bool
		steps   []step
		after   time.Duration // spin() is asked this long after the steps
		want    bool          // spin() after the steps
		resting bool          // resting() then
	}{
		{name: "fresh", budget: b, want: true},
		{name: "off", budget: -1, want: false},
		{name: "hits", budget: b, steps: []step{hit, hit, hit, hit}, want: true},
		{name: "misses-under-limit", budget: b, steps: []step{miss, miss}, want: true},
		{name: "rests-after-misses", budget: b, steps: []step{miss, miss, miss}, want: false},
		{name: "hit-resets-misses", budget: b, steps: []step{miss, miss, hit, miss, miss}, want: true},
		{name: "slow-sleep-keeps-resting", budget: b, steps: []step{miss, miss, miss, {slept: time.Millisecond}}, want: false},
		{name: "fast-sleep-wakes-it", budget: b, steps: []step{miss, miss, miss, {slept: 10 * time.Microsecond}}, want: true},
		{name: "off-stays-off", budget: -1, steps: []step{{slept: time.Nanosecond}}, want: false},
		{name: "rests-after-spawn", budget: b, steps: []step{hit, spawn}, want: false, resting: true},
		{name: "rest-outlasts-fast-stops", budget: b, steps: []step{spawn, {slept: time.Microsecond}}, after: spawnRest - time.Millisecond, want: false, resting: true},
		{name: "rest-ends", budget: b, steps: []step{spawn}, after: spawnRest, want: true},
		{name: "spawn-after-misses-is-not-a-rest", budget: b, steps: []step{miss, miss, miss, spawn}, want: false},
		{name: "one-cpu-does-not-rest", budget: b, oneCPU: true, steps: []step{spawn}, want: true},
		{name: "off-does-not-rest", budget: -1, steps: []step{spawn}, want: false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := spinner{budget: c.budget, rest: spawnRest}
			if c.oneCPU {
				s.rest = 0
			}
			for i, st := range c.steps {
				switch {
				case st.poll:
					if !s.spin(t0) {
						t.Fatalf("step %d polls, but spin() said no", i)
					}
					s.polled(st.hit)
				case st.spawn:
					s.spawned(t0)
				default:
					s.slept(st.slept)
				}
			}
			now := t0.Add(c.after)
			if got := s.spin(now); got != c.want {
				t.Fatalf("spin() = %v, want %v", got, c.want)
			}
			if got := s.resting(now); got != c.resting {
				t.Fatalf("resting() = %v, want %v", got, c.resting)
			}
		})
	}
}
