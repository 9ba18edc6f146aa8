package policy

import (
	"slices"
	"strings"
)

// rule is one compiled rule with its inherited metadata. Rules are immutable
// once compiled; Decisions share their Tags slice.
type rule struct {
	policy    string
	severity  int
	tags      []string
	message   string
	verdict   Verdict
	readOnly  bool
	ownerOnly bool
}

// srcKey indexes rules by (resource, acting executable).
type srcKey struct {
	key, source string
}

// dirNode is one directory in the prefix tree of matchDirectories rules. The
// root node is "/"; children are keyed by one path component. A lookup walks
// the request's path component by component, so its cost depends on the
// path's depth, never on the number of rules.
type dirNode struct {
	children  map[string]*dirNode
	recursive []*rule // rules on this directory with recursive: true
	direct    []*rule // rules on this directory with recursive: false
	// patterns whose literal prefix lies in this directory (pattern tree
	// only). "*" does not cross "/", so a pattern can only match paths below
	// the directory of its literal prefix: a lookup tries just the patterns
	// on the path's way, not all of them.
	patterns []patternRule
}

func (n *dirNode) insert(dir string, r *rule, recursive bool) {
	n = n.node(dir)
	if recursive {
		n.recursive = append(n.recursive, r)
	} else {
		n.direct = append(n.direct, r)
	}
}

// node returns (creating) the node of directory dir.
func (n *dirNode) node(dir string) *dirNode {
	for _, c := range strings.Split(strings.Trim(dir, "/"), "/") {
		if c == "" {
			continue
		}
		child := n.children[c]
		if child == nil {
			if n.children == nil {
				n.children = make(map[string]*dirNode)
			}
			child = &dirNode{}
			n.children[c] = child
		}
		n = child
	}
	return n
}

type patternRule struct {
	pattern string
	rule    *rule
}

// pathTable holds the process or the file rules of the set in force.
type pathTable struct {
	exact       map[string][]*rule
	exactSrc    map[srcKey][]*rule
	execName    map[string][]*rule // process only: execname, keyed by base name
	execNameSrc map[srcKey][]*rule
	dirs        *dirNode            // nil when there are no generic dir rules
	dirsSrc     map[string]*dirNode // by source
	patterns    *dirNode            // nil when there are no patterns
	// allowList is true once any Allow rule (fromSource ones included)
	// exists: unmatched requests then get the default posture.
	allowList bool
	hasBlock  bool
}

func newPathTable() pathTable {
	return pathTable{
		exact:       map[string][]*rule{},
		exactSrc:    map[srcKey][]*rule{},
		execName:    map[string][]*rule{},
		execNameSrc: map[srcKey][]*rule{},
		dirsSrc:     map[string]*dirNode{},
	}
}

func (t *pathTable) note(r *rule) {
	switch r.verdict {
	case Allow:
		t.allowList = true
	case Block:
		t.hasBlock = true
	}
}

func (t *pathTable) addPath(path string, srcs []FromSource, r *rule) {
	t.note(r)
	if len(srcs) == 0 {
		t.exact[path] = append(t.exact[path], r)
		return
	}
	for _, s := range srcs {
		k := srcKey{path, s.Path}
		t.exactSrc[k] = append(t.exactSrc[k], r)
	}
}

func (t *pathTable) addExecName(name string, srcs []FromSource, r *rule) {
	t.note(r)
	if len(srcs) == 0 {
		t.execName[name] = append(t.execName[name], r)
		return
	}
	for _, s := range srcs {
		k := srcKey{name, s.Path}
		t.execNameSrc[k] = append(t.execNameSrc[k], r)
	}
}

func (t *pathTable) addDir(dir string, recursive bool, srcs []FromSource, r *rule) {
	t.note(r)
	if len(srcs) == 0 {
		if t.dirs == nil {
			t.dirs = &dirNode{}
		}
		t.dirs.insert(dir, r, recursive)
		return
	}
	for _, s := range srcs {
		n := t.dirsSrc[s.Path]
		if n == nil {
			n = &dirNode{}
			t.dirsSrc[s.Path] = n
		}
		n.insert(dir, r, recursive)
	}
}

func (t *pathTable) addPattern(p string, r *rule) {
	t.note(r)
	if t.patterns == nil {
		t.patterns = &dirNode{}
	}
	// The literal prefix ends at the first glob metacharacter (or escape).
	lit := p
	if i := strings.IndexAny(p, "*?[\\"); i >= 0 {
		lit = p[:i]
	}
	dir := lit[:strings.LastIndexByte(lit, '/')+1]
	n := t.patterns.node(dir)
	n.patterns = append(n.patterns, patternRule{pattern: p, rule: r})
}

// keyTable holds network (by protocol) or capability (by name) rules.
type keyTable struct {
	any       map[string][]*rule
	src       map[srcKey][]*rule
	allowList bool
	hasBlock  bool
}

func newKeyTable() keyTable {
	return keyTable{any: map[string][]*rule{}, src: map[srcKey][]*rule{}}
}

func (t *keyTable) add(key string, srcs []FromSource, r *rule) {
	switch r.verdict {
	case Allow:
		t.allowList = true
	case Block:
		t.hasBlock = true
	}
	if len(srcs) == 0 {
		t.any[key] = append(t.any[key], r)
		return
	}
	for _, s := range srcs {
		k := srcKey{key, s.Path}
		t.src[k] = append(t.src[k], r)
	}
}

// syscallRule is one matchSyscalls or matchPaths entry of spec.syscalls.
type syscallRule struct {
	rule *rule
	// path is empty for matchSyscalls; a directory ends in "/".
	path      string
	recursive bool
	sources   []SyscallSource
}

// ruleSet is the compiled, immutable set in force for one container. A new
// one is built on every change and swapped in whole.
type ruleSet struct {
	opts       Options
	names      []string
	unselected []string // delivered, but their selector does not pick this container
	process    pathTable
	file       pathTable
	network    keyTable
	caps       keyTable
	syscalls   map[string][]*syscallRule
}

// compile builds the rule set of the policies selecting opts' container.
// The policies must be valid.
func compile(policies []KubeArmorPolicy, opts Options) *ruleSet {
	rs := &ruleSet{
		opts:     opts,
		process:  newPathTable(),
		file:     newPathTable(),
		network:  newKeyTable(),
		caps:     newKeyTable(),
		syscalls: map[string][]*syscallRule{},
	}
	for i := range policies {
		p := &policies[i]
		if !selects(p, &opts) {
			rs.unselected = append(rs.unselected, p.Metadata.Name)
			continue
		}
		rs.names = append(rs.names, p.Metadata.Name)
		rs.add(p)
	}
	slices.Sort(rs.names)
	rs.names = slices.Compact(rs.names)
	slices.Sort(rs.unselected)
	rs.unselected = slices.Compact(rs.unselected)
	return rs
}

// inherit fills a rule's missing severity, tags, message and action from its
// section, then from the spec, as KubeArmor's CreateSecurityPolicy does; an
// action still empty means Block.
func inherit(name string, r, sec Meta, spec *Spec) *rule {
	out := &rule{policy: name, severity: r.Severity, tags: r.Tags, message: r.Message}
	if out.severity == 0 {
		out.severity = sec.Severity
	}
	if out.severity == 0 {
		out.severity = spec.Severity
	}
	if len(out.tags) == 0 {
		out.tags = sec.Tags
	}
	if len(out.tags) == 0 {
		out.tags = spec.Tags
	}
	if out.message == "" {
		out.message = sec.Message
	}
	if out.message == "" {
		out.message = spec.Message
	}
	a := r.Action
	if a == "" {
		a = sec.Action
	}
	if a == "" {
		a = spec.Action
	}
	switch normAction(a) {
	case "Allow":
		out.verdict = Allow
	case "Audit":
		out.verdict = Audit
	default:
		out.verdict = Block
	}
	return out
}

func (rs *ruleSet) add(p *KubeArmorPolicy) {
	name, s := p.Metadata.Name, &p.Spec
	if sec := s.Process; sec != nil {
		for _, m := range sec.MatchPaths {
			r := inherit(name, m.Meta, sec.Meta, s)
			r.ownerOnly = m.OwnerOnly
			if m.ExecName != "" {
				rs.process.addExecName(m.ExecName, m.FromSource, r)
			} else {
				rs.process.addPath(m.Path, m.FromSource, r)
			}
		}
		for _, m := range sec.MatchDirectories {
			r := inherit(name, m.Meta, sec.Meta, s)
			r.ownerOnly = m.OwnerOnly
			rs.process.addDir(m.Dir, m.Recursive, m.FromSource, r)
		}
		for _, m := range sec.MatchPatterns {
			r := inherit(name, m.Meta, sec.Meta, s)
			r.ownerOnly = m.OwnerOnly
			rs.process.addPattern(m.Pattern, r)
		}
	}
	if sec := s.File; sec != nil {
		for _, m := range sec.MatchPaths {
			r := inherit(name, m.Meta, sec.Meta, s)
			r.readOnly, r.ownerOnly = m.ReadOnly, m.OwnerOnly
			rs.file.addPath(m.Path, m.FromSource, r)
		}
		for _, m := range sec.MatchDirectories {
			r := inherit(name, m.Meta, sec.Meta, s)
			r.readOnly, r.ownerOnly = m.ReadOnly, m.OwnerOnly
			rs.file.addDir(m.Dir, m.Recursive, m.FromSource, r)
		}
		for _, m := range sec.MatchPatterns {
			r := inherit(name, m.Meta, sec.Meta, s)
			r.readOnly, r.ownerOnly = m.ReadOnly, m.OwnerOnly
			rs.file.addPattern(m.Pattern, r)
		}
	}
	if sec := s.Network; sec != nil {
		for _, m := range sec.MatchProtocols {
			r := inherit(name, m.Meta, sec.Meta, s)
			for _, proto := range strings.Split(m.Protocol, ",") {
				rs.network.add(normProtocol(proto), m.FromSource, r)
			}
		}
	}
	if sec := s.Capabilities; sec != nil {
		for _, m := range sec.MatchCapabilities {
			r := inherit(name, m.Meta, sec.Meta, s)
			rs.caps.add(normCapability(m.Capability), m.FromSource, r)
		}
	}
	if sec := s.Syscalls; sec != nil {
		// Syscall rules carry no action: KubeArmor only ever audits them.
		secMeta := Meta{Severity: sec.Severity, Tags: sec.Tags, Message: sec.Message}
		for _, m := range sec.MatchSyscalls {
			r := inherit(name, Meta{Severity: m.Severity, Tags: m.Tags, Message: m.Message, Action: "Audit"}, secMeta, s)
			sr := &syscallRule{rule: r, sources: m.FromSource}
			for _, n := range m.Syscalls {
				rs.syscalls[n] = append(rs.syscalls[n], sr)
			}
		}
		for _, m := range sec.MatchPaths {
			r := inherit(name, Meta{Severity: m.Severity, Tags: m.Tags, Message: m.Message, Action: "Audit"}, secMeta, s)
			sr := &syscallRule{rule: r, path: m.Path, recursive: m.Recursive, sources: m.FromSource}
			for _, n := range m.Syscalls {
				rs.syscalls[n] = append(rs.syscalls[n], sr)
			}
		}
	}
}

// selects reports whether policy p applies to the container opts describes.
func selects(p *KubeArmorPolicy, opts *Options) bool {
	if strings.EqualFold(p.Spec.Status, "Inactive") {
		return false
	}
	if opts.Namespace != "" && p.Metadata.Namespace != "" && p.Metadata.Namespace != opts.Namespace {
		return false
	}
	for k, v := range p.Spec.Selector.MatchLabels {
		if k == ContainerNameLabel {
			if !slices.Contains(containerNames(v), opts.ContainerName) {
				return false
			}
			continue
		}
		if have, ok := opts.Labels[k]; !ok || have != v {
			return false
		}
	}
	// matchExpressions (key "label", values "k=v"): In needs at least one of
	// its values among the container's identities, NotIn none of them.
	// KubeArmor's identities are the labels plus namespaceName=<ns>.
	hasIn, inMatched := false, false
	for _, e := range p.Spec.Selector.MatchExpressions {
		for _, v := range e.Values {
			has := hasIdentity(opts, v)
			switch e.Operator {
			case "In":
				hasIn = true
				inMatched = inMatched || has
			case "NotIn":
				if has {
					return false
				}
			}
		}
	}
	return !hasIn || inMatched
}

func hasIdentity(opts *Options, kv string) bool {
	k, v, _ := strings.Cut(kv, "=")
	if k == "namespaceName" {
		return v == opts.Namespace
	}
	have, ok := opts.Labels[k]
	return ok && have == v
}
