package tracer

import (
	"sync"
	"sync/atomic"

	"github.com/bluelock/bluelock/policy"
)

// Stats are the tracer's counters, safe to read from any goroutine while the
// stop loop writes them. cmd/bluelock exports them to Prometheus.
type Stats struct {
	mu       sync.Mutex
	syscalls map[string]*atomic.Uint64 // trapped syscalls by name

	decisions [policy.Block + 1]atomic.Uint64 // by verdict
	// Unreadable counts syscalls whose decision-relevant argument could not be
	// read; FailedClosed those of them that were denied for it.
	Unreadable   atomic.Uint64
	FailedClosed atomic.Uint64
	// PostExecKills counts processes killed because the image that was really
	// loaded is blocked (the exec pre-check was raced or fooled).
	PostExecKills atomic.Uint64
	// Tracees is the number of live traced threads; TraceesTotal counts every
	// one ever seen.
	Tracees      atomic.Int64
	TraceesTotal atomic.Uint64
	// Events counts events handed to the emitter.
	Events atomic.Uint64
	// Relocated counts allowed syscalls whose checked arguments were moved
	// into the read-only region; RegionInjected the processes it was mapped
	// into; RelocFailedClosed the calls denied because that was impossible
	// (address taken, slots exhausted, a relative path's directory changed);
	// RegionRefusals the memory calls refused for touching its block.
	Relocated      atomic.Uint64
	RegionInjected atomic.Uint64
	// RegionAtExec counts the injections made by the exec-time stub, with no
	// stop of their own (reloc.Stub).
	RegionAtExec      atomic.Uint64
	RelocFailedClosed atomic.Uint64
	RegionRefusals    atomic.Uint64
	// PinnedOpens counts the relocated opens handed to the kernel as
	// openat2 of their symlink-free path (pin_linux_amd64.go).
	PinnedOpens atomic.Uint64
	// ParkedCalls counts path calls that waited for another to finish
	// (serial_linux.go).
	ParkedCalls atomic.Uint64
	// SpinHits counts stops the loop found while polling, SpinMisses the
	// polls that found none within the budget and slept (spin.go).
	SpinHits   atomic.Uint64
	SpinMisses atomic.Uint64
	// SpinRests counts waits that slept without polling because a process
	// had been created or had exec'd just before (spin.go).
	SpinRests atomic.Uint64
}

// NewStats returns zeroed counters.
func NewStats() *Stats { return &Stats{syscalls: map[string]*atomic.Uint64{}} }

func (s *Stats) trapped(name string) {
	s.mu.Lock()
	c, ok := s.syscalls[name]
	if !ok {
		c = new(atomic.Uint64)
		s.syscalls[name] = c
	}
	s.mu.Unlock()
	c.Add(1)
}

func (s *Stats) decided(v policy.Verdict) {
	if int(v) < len(s.decisions) {
		s.decisions[v].Add(1)
	}
}

// Syscalls returns a copy of the trapped-syscall counts by name.
func (s *Stats) Syscalls() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.syscalls))
	for k, v := range s.syscalls {
		out[k] = v.Load()
	}
	return out
}

// Decisions returns how many syscalls got each verdict.
func (s *Stats) Decisions() map[policy.Verdict]uint64 {
	out := make(map[policy.Verdict]uint64, len(s.decisions))
	for v := range s.decisions {
		out[policy.Verdict(v)] = s.decisions[v].Load()
	}
	return out
}
