package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Posture is a domain's default posture: what happens to an operation no rule
// matches once the domain is an allow-list.
type Posture string

const (
	PostureBlock Posture = "block"
	PostureAudit Posture = "audit"
	// PostureAllow lets unmatched operations run unreported, as KubeArmor's
	// flags allow.
	PostureAllow Posture = "allow"
)

// DefaultPosture is KubeArmor's global default (audit since v0.7), used for
// every posture left empty in Options.
const DefaultPosture = PostureAudit

// Options say whom the policies are for and what the default postures are.
type Options struct {
	ContainerName       string
	Namespace           string
	Labels              map[string]string
	FilePosture         Posture // process and file operations share it
	NetworkPosture      Posture
	CapabilitiesPosture Posture
	// Audited is the pod annotation kubearmor-policy: audited: blocks become "Audit (Block)".
	Audited bool
}

// ParsePosture reads a posture name (any case); "" gives DefaultPosture.
func ParsePosture(s string) (Posture, error) {
	switch p := Posture(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return DefaultPosture, nil
	case PostureBlock, PostureAudit, PostureAllow:
		return p, nil
	}
	return "", fmt.Errorf("invalid posture %q: must be block, audit or allow", s)
}

// normalize fills empty postures and checks the others.
func (o Options) normalize() (Options, error) {
	var errs []error
	for _, p := range []struct {
		name string
		v    *Posture
	}{{"file", &o.FilePosture}, {"network", &o.NetworkPosture}, {"capabilities", &o.CapabilitiesPosture}} {
		v, err := ParsePosture(string(*p.v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s posture: %w", p.name, err))
			v = DefaultPosture
		}
		*p.v = v
	}
	return o, errors.Join(errs...)
}

// Store holds the compiled rule set in force and swaps it atomically. Decide,
// MayBlock, Names and Syscalls read the current set without locking; Apply and
// SetOptions build a new set under a mutex and publish it in one store.
type Store struct {
	cur atomic.Pointer[ruleSet]

	mu      sync.Mutex // serialises writers
	opts    Options
	seq     uint64
	sources map[string]sourceSet
}

// sourceSet is the full set one source delivered last.
type sourceSet struct {
	seq      uint64 // order of delivery: a later delivery wins a name clash
	policies []KubeArmorPolicy
}

// NewStore returns a store with no policies. Invalid postures in opts fall
// back to DefaultPosture, as KubeArmor overwrites invalid annotations with
// the global value; use SetOptions to be told.
func NewStore(opts Options) *Store {
	opts, _ = opts.normalize()
	s := &Store{opts: opts, sources: map[string]sourceSet{}}
	s.cur.Store(compile(nil, opts))
	return s
}

// Shadow reports a policy namespace/name delivered twice, by two sources or
// twice by one: the later delivery (or the later one in the list) wins, the
// other is not in force.
type Shadow struct {
	Namespace, Name string
	Winner, Loser   string // source names
}

// Report describes what an Apply did, for the caller to log.
type Report struct {
	// Policies is the number of policies in force for this container.
	Policies int
	// Names are the policies in force for this container.
	Names []string
	// Unselected are delivered policies whose selector (labels, container
	// name, namespace, matchExpressions, status) leaves this container out:
	// worth a log line, since a policy copied with the wrong namespace or
	// container name otherwise silently does nothing.
	Unselected []string
	// Shadowed lists name clashes between sources.
	Shadowed []Shadow
}

// Apply replaces the full set of policies from one source (never a delta);
// nil or empty lifts that source's policies. All sources are merged, the
// result compiled and swapped in. An invalid policy fails the whole call with
// errors naming the source, policy and field, and leaves the set in force
// unchanged.
func (s *Store) Apply(source string, policies []KubeArmorPolicy) error {
	_, err := s.ApplyReport(source, policies)
	return err
}

// ApplyReport is Apply, also returning what is now in force and which
// policies another source shadowed.
func (s *Store) ApplyReport(source string, policies []KubeArmorPolicy) (Report, error) {
	var errs []error
	for i := range policies {
		if err := policies[i].validateForApply(); err != nil {
			errs = append(errs, fmt.Errorf("source %q: %w", source, err))
		}
	}
	if len(errs) > 0 {
		return Report{}, errors.Join(errs...)
	}
	own := slices.Clone(policies)

	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]sourceSet, len(s.sources)+1)
	for k, v := range s.sources {
		next[k] = v
	}
	if len(own) == 0 {
		delete(next, source)
	} else {
		s.seq++
		next[source] = sourceSet{seq: s.seq, policies: own}
	}
	merged, shadows := merge(next)
	rs := compile(merged, s.opts)
	s.sources = next
	s.cur.Store(rs)
	return Report{Policies: len(rs.names), Names: slices.Clone(rs.names),
		Unselected: slices.Clone(rs.unselected), Shadowed: shadows}, nil
}

// merge flattens the sources into one list; for a namespace/name delivered by
// several sources, the latest delivery wins.
func merge(sources map[string]sourceSet) ([]KubeArmorPolicy, []Shadow) {
	names := make([]string, 0, len(sources))
	for k := range sources {
		names = append(names, k)
	}
	// Oldest delivery first, so later ones overwrite.
	slices.SortFunc(names, func(a, b string) int {
		return int(sources[a].seq) - int(sources[b].seq)
	})
	type owner struct {
		source string
		index  int
	}
	byName := map[string]owner{}
	var out []KubeArmorPolicy
	var shadows []Shadow
	for _, src := range names {
		for _, p := range sources[src].policies {
			key := p.Metadata.Namespace + "/" + p.Metadata.Name
			if prev, ok := byName[key]; ok {
				// Reported even within one source (two files defining the
				// same policy): the later one silently replacing the
				// earlier would surprise whoever wrote them.
				shadows = append(shadows, Shadow{Namespace: p.Metadata.Namespace, Name: p.Metadata.Name, Winner: src, Loser: prev.source})
				out[prev.index] = p
				byName[key] = owner{src, prev.index}
				continue
			}
			byName[key] = owner{src, len(out)}
			out = append(out, p)
		}
	}
	return out, shadows
}

// SetOptions changes identity or postures (namespace annotations) and
// recompiles. Invalid postures are reported and replaced by DefaultPosture.
func (s *Store) SetOptions(opts Options) error {
	opts, err := opts.normalize()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts = opts
	merged, _ := merge(s.sources)
	s.cur.Store(compile(merged, opts))
	return err
}

// Options returns the options in force (postures normalised).
func (s *Store) Options() Options {
	return s.cur.Load().opts
}

// MayBlock reports whether the set in force could block an operation of this
// domain (a Block rule, or an allow-list under block posture). The tracer
// fails closed on unreadable arguments only where this is true.
func (s *Store) MayBlock(op Operation) bool {
	rs := s.cur.Load()
	if rs.opts.Audited {
		return false
	}
	switch op {
	case OpProcess:
		return rs.process.hasBlock || (rs.process.allowList && rs.opts.FilePosture == PostureBlock)
	case OpFile:
		return rs.file.hasBlock || (rs.file.allowList && rs.opts.FilePosture == PostureBlock)
	case OpNetwork:
		return rs.network.hasBlock || (rs.network.allowList && rs.opts.NetworkPosture == PostureBlock)
	case OpCapabilities:
		return rs.caps.hasBlock || (rs.caps.allowList && rs.opts.CapabilitiesPosture == PostureBlock)
	}
	return false // syscall rules only audit
}

// Names lists the policies in force for this container, sorted.
func (s *Store) Names() []string {
	return slices.Clone(s.cur.Load().names)
}

// Syscalls lists the syscall names spec.syscalls rules in force watch, sorted,
// so the tracer can trap exactly those.
func (s *Store) Syscalls() []string {
	rs := s.cur.Load()
	out := make([]string, 0, len(rs.syscalls))
	for n := range rs.syscalls {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
