//go:build amd64

package tracer

import (
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestSpinWait: with a budget the stop loop finds stops by polling (an app
// making opens back to back gives it hundreds, once the rest after its
// exec is over), and with polling off it never polls. Either way every
// open is decided: the app's 300 opens are all counted as trapped. Needs
// root (ptrace).
func TestSpinWait(t *testing.T) {
	const opens = 300
	for _, c := range []struct {
		name string
		spin time.Duration
	}{
		{name: "default", spin: 0},
		{name: "long", spin: time.Millisecond},
		{name: "off", spin: -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			stats := traceOpens(t, "open-n-late", opens, func(cfg *Config) { cfg.Spin = c.spin })
			hits, misses := stats.SpinHits.Load(), stats.SpinMisses.Load()
			t.Logf("spin hits %d, misses %d", hits, misses)
			if c.spin < 0 {
				if hits+misses != 0 {
					t.Fatalf("polling off, yet %d hits and %d misses", hits, misses)
				}
				return
			}
			// Each open's next stop comes a few µs after the last one was
			// resumed; even on a loaded machine most are found by polling.
			if hits < opens/10 {
				t.Fatalf("%d of %d stops found by polling; the loop does not poll", hits, opens)
			}
		})
	}
}

// TestSpinRestsAfterExec: with more than one CPU the stop loop does not
// poll for the stops that follow an exec (spin.go): the app's opens after
// its start are waited for asleep, and counted as rests. On one CPU it
// polls for them. The rest is made an hour long, so that how fast the app
// starts does not matter. Needs root (ptrace).
func TestSpinRestsAfterExec(t *testing.T) {
	const opens = 300
	stats := traceOpens(t, "open-n", opens, func(cfg *Config) { cfg.spawnRest = time.Hour })
	hits, rests := stats.SpinHits.Load(), stats.SpinRests.Load()
	t.Logf("%d CPUs: spin hits %d, rests %d", runtime.NumCPU(), hits, rests)
	if runtime.NumCPU() == 1 {
		if rests != 0 {
			t.Fatalf("one CPU, yet %d waits rested", rests)
		}
		return
	}
	if rests < opens {
		t.Fatalf("%d waits rested, want at least one per open (%d)", rests, opens)
	}
	// Only stops before the app's exec may have been polled for: stage 2's
	// (Go's threads starting), 1 to 12 of them here.
	if hits >= opens/10 {
		t.Fatalf("%d stops found by polling: the loop polls after an exec", hits)
	}
}

// traceOpens runs the helper action mode ("open-n" or "open-n-late") with n
// opens of /etc/hostname under the tracer, tuned by tune, and wants it to
// succeed with every open trapped. It returns the tracer's counters.
func traceOpens(t *testing.T, mode string, n int, tune func(*Config)) *Stats {
	t.Helper()
	argv, env := helper(t, mode, "/etc/hostname", strconv.Itoa(n))
	stats := NewStats()
	r := traceRunTuned(t, fakePolicy{}, 0, stats, env, tune, argv...)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	if got := stats.Syscalls()["openat"]; got < uint64(n) {
		t.Fatalf("%d openat trapped, want at least %d", got, n)
	}
	return stats
}
