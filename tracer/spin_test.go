package tracer

import (
	"testing"
	"time"
)

// TestSpinner: the spinner polls while stops come fast, rests after
// spinMisses empty polls in a row, and polls again once a sleeping wait
// returns within the budget.
func TestSpinner(t *testing.T) {
	const b = 50 * time.Microsecond
	type step struct {
		poll  bool          // the wait polled: hit says whether it found a stop
		hit   bool          //
		slept time.Duration // else: the wait slept this long
	}
	hit, miss := step{poll: true, hit: true}, step{poll: true}
	for _, c := range []struct {
		name   string
		budget time.Duration
		steps  []step
		want   bool // spin() after the steps
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
	} {
		t.Run(c.name, func(t *testing.T) {
			s := spinner{budget: c.budget}
			for i, st := range c.steps {
				if st.poll {
					if !s.spin() {
						t.Fatalf("step %d polls, but spin() said no", i)
					}
					s.polled(st.hit)
				} else {
					s.slept(st.slept)
				}
			}
			if got := s.spin(); got != c.want {
				t.Fatalf("spin() = %v, want %v", got, c.want)
			}
		})
	}
}
