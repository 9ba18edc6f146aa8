package api

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/policy/source/internal/ready"
)

// SourceName is the name under which pushed policies reach the sink.
const SourceName = "api"

// Sink receives the full set of policies of one source (policy.Store).
type Sink interface {
	Apply(source string, policies []policy.KubeArmorPolicy) error
}

// Lister lists every policy in force, from all sources (policy.Store). Optional.
type Lister interface {
	Names() []string
}

// ParseFunc parses one payload; origin names it in errors.
type ParseFunc func(data []byte, origin string) ([]policy.KubeArmorPolicy, error)

// ErrNotExist is returned when deleting a name that was never pushed.
var ErrNotExist = errors.New("no such policy")

// Set is the API-pushed policies, applied as one full set.
type Set struct {
	sink   Sink
	lister Lister
	parse  ParseFunc
	logger *slog.Logger
	ready  *ready.Signal

	mu       sync.Mutex
	policies map[string]policy.KubeArmorPolicy
}

// NewSet returns an empty Set. lister may be nil; parse defaults to policy.Parse.
func NewSet(sink Sink, lister Lister, parse ParseFunc, logger *slog.Logger) *Set {
	if parse == nil {
		parse = policy.Parse
	}
	s := &Set{sink: sink, lister: lister, parse: parse, logger: logger.With("source", SourceName), ready: ready.New(),
		policies: map[string]policy.KubeArmorPolicy{}}
	s.ready.SetErr(errors.New("no policy pushed yet"))
	return s
}

// Ready is closed after the first successful push (the gate's --policy-wait-api).
func (s *Set) Ready() <-chan struct{} { return s.ready.Ready() }

// Err says why the set is not ready.
func (s *Set) Err() error { return s.ready.Err() }

// Upsert adds or replaces policies by name. It reports, per name, whether the
// name already existed. All or nothing.
func (s *Set) Upsert(ps []policy.KubeArmorPolicy) (existed map[string]bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps.Clone(s.policies)
	existed = map[string]bool{}
	for _, p := range ps {
		_, existed[p.Metadata.Name] = s.policies[p.Metadata.Name]
		next[p.Metadata.Name] = p
	}
	return existed, s.commit(next, "upsert", ps)
}

// Replace makes ps the whole API-pushed set.
func (s *Set) Replace(ps []policy.KubeArmorPolicy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]policy.KubeArmorPolicy, len(ps))
	for _, p := range ps {
		next[p.Metadata.Name] = p
	}
	return s.commit(next, "replace", ps)
}

// Delete lifts the named policy; ErrNotExist if it was never pushed.
func (s *Set) Delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.policies[name]; !ok {
		return fmt.Errorf("%w: %q", ErrNotExist, name)
	}
	next := maps.Clone(s.policies)
	delete(next, name)
	return s.commit(next, "delete", nil)
}

// Names lists the API-pushed policies.
func (s *Set) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.policies))
}

// InForce lists every policy in force (all sources), or nil without a Lister.
func (s *Set) InForce() []string {
	if s.lister == nil {
		return nil
	}
	return s.lister.Names()
}

// commit hands next to the sink and keeps it only if accepted.
// Precondition: s.mu is held.
func (s *Set) commit(next map[string]policy.KubeArmorPolicy, op string, changed []policy.KubeArmorPolicy) error {
	list := make([]policy.KubeArmorPolicy, 0, len(next))
	for _, name := range slices.Sorted(maps.Keys(next)) {
		list = append(list, next[name])
	}
	if err := s.sink.Apply(SourceName, list); err != nil {
		s.logger.Warn("pushed policy rejected; the last good set stays in force", "op", op, "err", err)
		return fmt.Errorf("rejected by the policy engine: %w", err)
	}
	s.policies = next
	names := make([]string, 0, len(changed))
	for _, p := range changed {
		names = append(names, p.Metadata.Name)
	}
	s.logger.Info("pushed policies applied", "op", op, "changed", names, "api_set", slices.Sorted(maps.Keys(next)))
	if op != "delete" {
		s.ready.Done()
	}
	return nil
}
