// Package ready is the start-up handshake between a policy source and the
// gate in package source: a source marks itself ready once it has delivered
// its first complete set, and records why it has not, so the gate can say so.
package ready

import (
	"sync"
)

// Signal is closed once, when its source has delivered a complete set. The
// zero value is not usable; call New.
type Signal struct {
	once sync.Once
	ch   chan struct{}

	mu      sync.Mutex
	lastErr error
}

// New returns an open Signal.
func New() *Signal { return &Signal{ch: make(chan struct{})} }

// Done marks the source ready. Later calls do nothing.
func (s *Signal) Done() {
	s.once.Do(func() { close(s.ch) })
	s.SetErr(nil)
}

// Ready is closed once Done has been called.
func (s *Signal) Ready() <-chan struct{} { return s.ch }

// IsReady reports whether Done has been called.
func (s *Signal) IsReady() bool {
	select {
	case <-s.ch:
		return true
	default:
		return false
	}
}

// SetErr records the latest reason the source could not deliver (nil clears it).
func (s *Signal) SetErr(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

// Err is the latest reason recorded by SetErr.
func (s *Signal) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}
