package policy

import (
	"path/filepath"
	"strings"
)

// PolicyDefaultPosture is the PolicyName KubeArmor reports when a domain's
// default posture, not a rule, decided.
const PolicyDefaultPosture = "DefaultPosture"

// outcome is what one matching rule means for one request, ordered by
// strength: within one precedence tier the strongest outcome wins.
type outcome uint8

const (
	none outcome = iota
	// permitted: a Block/Audit rule with readOnly/ownerOnly matched the
	// path, but the request satisfies the condition (a read, the owner).
	permitted
	// allowDenied: an Allow rule matched the path but not its condition
	// (a write under readOnly, another user under ownerOnly): the rule
	// does not grant the request, so the default posture applies.
	allowDenied
	allowed
	audited
	blocked
)

// match accumulates the strongest outcome of one tier.
type match struct {
	best outcome
	rule *rule
	// The owner is looked up at most once per request, and only when an
	// ownerOnly rule is met.
	ownerChecked, isOwner bool
	// allowOnly ignores every rule but Allow ones (see grantedByAllow).
	allowOnly bool
}

func (m *match) consider(rules []*rule, r *Request) {
	for _, ru := range rules {
		m.considerOne(ru, r)
	}
}

func (m *match) considerOne(ru *rule, r *Request) {
	if m.allowOnly && ru.verdict != Allow {
		return
	}
	conditional := ru.readOnly || ru.ownerOnly
	// violated: the request breaks the rule's condition. A rule without a
	// condition is always "violated" by a matching request.
	violated := !conditional || (ru.readOnly && r.Write) || (ru.ownerOnly && !m.owner(r))
	var o outcome
	switch {
	case ru.verdict == Allow && conditional && violated:
		o = allowDenied
	case ru.verdict == Allow:
		o = allowed
	case !violated:
		o = permitted
	case ru.verdict == Audit:
		o = audited
	default:
		o = blocked
	}
	if o > m.best {
		m.best, m.rule = o, ru
	}
}

// owner reports whether the caller owns the path. An unknown owner counts as
// "not the owner": an ownerOnly Block then blocks, which fails closed.
func (m *match) owner(r *Request) bool {
	if !m.ownerChecked {
		m.ownerChecked = true
		if r.Owner != nil {
			uid, ok := r.Owner(r.Path)
			m.isOwner = ok && uid == r.UID
		}
	}
	return m.isOwner
}

// Decide answers one request against the set in force. It never blocks, does
// no I/O (apart from calling r.Owner for ownerOnly rules) and allocates
// nothing; the returned Tags slice is shared and must not be modified.
func (s *Store) Decide(r Request) Decision {
	return s.cur.Load().decide(&r)
}

func (rs *ruleSet) decide(r *Request) Decision {
	switch r.Op {
	case OpProcess:
		return rs.decidePath(&rs.process, r, true)
	case OpFile:
		return rs.decidePath(&rs.file, r, false)
	case OpNetwork:
		return rs.decideKey(&rs.network, strings.ToLower(r.Protocol), r, rs.opts.NetworkPosture)
	case OpCapabilities:
		return rs.decideKey(&rs.caps, normCapKey(r.Capability), r, rs.opts.CapabilitiesPosture)
	case OpSyscall:
		return rs.decideSyscall(r)
	}
	return noMatch
}

// noMatch is the Decision when no rule and no posture applies: the syscall
// runs and is at most logged.
var noMatch = Decision{Verdict: Allow, Action: "Allow"}

// decidePath walks the precedence tiers of bluelock's resolution (see
// docs/policy.md): fromSource exact > fromSource directory > exact > directory
// > pattern. The first tier with a matching rule decides; within a tier Block
// beats Audit beats Allow.
func (rs *ruleSet) decidePath(t *pathTable, r *Request, process bool) Decision {
	var m match
	path, src := r.Path, r.Source
	base := ""
	if process {
		base = path[strings.LastIndexByte(path, '/')+1:]
	}
	// Tier 1: exact path (or execname) from this source.
	if src != "" {
		if len(t.exactSrc) > 0 {
			m.consider(t.exactSrc[srcKey{path, src}], r)
		}
		if process && len(t.execNameSrc) > 0 {
			m.consider(t.execNameSrc[srcKey{base, src}], r)
		}
		// Tier 2: directories from this source.
		if m.best == none && len(t.dirsSrc) > 0 {
			if n := t.dirsSrc[src]; n != nil {
				walkDirs(n, path, r, &m)
			}
		}
	}
	// Tier 3: exact path or execname, any source.
	if m.best == none {
		m.consider(t.exact[path], r)
		if process && len(t.execName) > 0 {
			m.consider(t.execName[base], r)
		}
	}
	// Tier 4: directories, any source.
	if m.best == none && t.dirs != nil {
		walkDirs(t.dirs, path, r, &m)
	}
	// Tier 5: patterns (filepath.Match: "*" does not cross "/").
	if m.best == none && t.patterns != nil {
		walkPatterns(t.patterns, path, r, &m)
	}
	// An Audit rule reports but must not open a hole in an allow-list under
	// block posture: unless an Allow rule also grants the request, the
	// posture decides (KubeArmor never loads Audit rules into its kernel map,
	// so there too the posture blocks).
	if m.best == audited && t.allowList && rs.opts.FilePosture == PostureBlock && !grantedByAllow(t, r, process) {
		return rs.posture(rs.opts.FilePosture)
	}
	return rs.conclude(&m, t.allowList, rs.opts.FilePosture)
}

// walkDirs considers the rules of every directory on path's way: recursive
// rules of each ancestor, non-recursive rules of the parent, and all rules of
// a directory equal to path itself.
func walkDirs(n *dirNode, path string, r *Request, m *match) {
	rest := strings.TrimPrefix(path, "/")
	for {
		if rest == "" {
			// path is this directory itself.
			m.consider(n.recursive, r)
			m.consider(n.direct, r)
			return
		}
		m.consider(n.recursive, r)
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			m.consider(n.direct, r) // a direct child
		}
		if n.children == nil {
			return
		}
		comp := rest
		if i >= 0 {
			comp, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if n = n.children[comp]; n == nil {
			return
		}
	}
}

// walkPatterns tries the patterns stored on path's way through the pattern
// tree (filepath.Match semantics: "*" and "?" do not match "/").
func walkPatterns(n *dirNode, path string, r *Request, m *match) {
	rest := strings.TrimPrefix(path, "/")
	for n != nil {
		for i := range n.patterns {
			if ok, _ := filepath.Match(n.patterns[i].pattern, path); ok {
				m.considerOne(n.patterns[i].rule, r)
			}
		}
		i := strings.IndexByte(rest, '/')
		if i < 0 || n.children == nil {
			return
		}
		n, rest = n.children[rest[:i]], rest[i+1:]
	}
}

// grantedByAllow reports whether any Allow rule, in any tier, grants r.
func grantedByAllow(t *pathTable, r *Request, process bool) bool {
	m := match{allowOnly: true}
	m.consider(t.exactSrc[srcKey{r.Path, r.Source}], r)
	m.consider(t.exact[r.Path], r)
	if process {
		base := r.Path[strings.LastIndexByte(r.Path, '/')+1:]
		m.consider(t.execNameSrc[srcKey{base, r.Source}], r)
		m.consider(t.execName[base], r)
	}
	if n := t.dirsSrc[r.Source]; n != nil {
		walkDirs(n, r.Path, r, &m)
	}
	if t.dirs != nil {
		walkDirs(t.dirs, r.Path, r, &m)
	}
	if t.patterns != nil {
		walkPatterns(t.patterns, r.Path, r, &m)
	}
	return m.best == allowed
}

// decideKey decides network (by protocol) and capability requests:
// fromSource rules first, then generic ones; "all" matches every protocol.
func (rs *ruleSet) decideKey(t *keyTable, key string, r *Request, posture Posture) Decision {
	var m match
	if r.Source != "" && len(t.src) > 0 {
		m.consider(t.src[srcKey{key, r.Source}], r)
		m.consider(t.src[srcKey{"all", r.Source}], r)
	}
	if m.best == none {
		m.consider(t.any[key], r)
		m.consider(t.any["all"], r)
	}
	return rs.conclude(&m, t.allowList, posture)
}

func normCapKey(c string) string {
	if len(c) > 4 && (c[:4] == "cap_" || c[:4] == "CAP_") {
		c = c[4:]
	}
	for i := 0; i < len(c); i++ {
		if c[i] >= 'A' && c[i] <= 'Z' {
			return strings.ToLower(c)
		}
	}
	return c
}

// conclude turns the strongest match into a Decision.
func (rs *ruleSet) conclude(m *match, allowList bool, posture Posture) Decision {
	switch m.best {
	case none:
		if allowList {
			return rs.posture(posture)
		}
		return noMatch
	case permitted:
		return noMatch
	case allowDenied:
		return rs.posture(posture)
	case allowed:
		ru := m.rule
		action := "Allow"
		if rs.opts.Audited {
			action = "Audit (Allow)"
		}
		return Decision{Verdict: Allow, Action: action, PolicyName: ru.policy, Severity: ru.severity,
			Tags: ru.tags, Message: ru.message, Silent: true}
	case audited:
		ru := m.rule
		return Decision{Verdict: Audit, Action: "Audit", PolicyName: ru.policy, Severity: ru.severity,
			Tags: ru.tags, Message: ru.message, Alert: true}
	default:
		ru := m.rule
		d := Decision{Verdict: Block, Action: "Block", PolicyName: ru.policy, Severity: ru.severity,
			Tags: ru.tags, Message: ru.message, Alert: true}
		if rs.opts.Audited {
			d.Verdict, d.Action = Audit, "Audit (Block)"
		}
		return d
	}
}

// posture is the Decision of a domain's default posture.
func (rs *ruleSet) posture(p Posture) Decision {
	switch p {
	case PostureBlock:
		if rs.opts.Audited {
			return Decision{Verdict: Audit, Action: "Audit (Block)", PolicyName: PolicyDefaultPosture, Alert: true}
		}
		return Decision{Verdict: Block, Action: "Block", PolicyName: PolicyDefaultPosture, Alert: true}
	case PostureAudit:
		return Decision{Verdict: Audit, Action: "Audit", PolicyName: PolicyDefaultPosture, Alert: true}
	}
	return noMatch
}

// decideSyscall matches spec.syscalls rules, which only ever audit.
func (rs *ruleSet) decideSyscall(r *Request) Decision {
	for _, sr := range rs.syscalls[r.Syscall] {
		if sr.path != "" && !pathCovered(sr.path, sr.recursive, r.Path) {
			continue
		}
		if len(sr.sources) > 0 && !sourceMatches(sr.sources, r.Source) {
			continue
		}
		ru := sr.rule
		return Decision{Verdict: Audit, Action: "Audit", PolicyName: ru.policy, Severity: ru.severity,
			Tags: ru.tags, Message: ru.message, Alert: true}
	}
	return noMatch
}

// pathCovered reports whether p is the file rulePath, or (when rulePath is a
// directory, ending in "/") the directory itself, a direct child, or with
// recursive any descendant.
func pathCovered(rulePath string, recursive bool, p string) bool {
	if !strings.HasSuffix(rulePath, "/") {
		return p == rulePath
	}
	if p+"/" == rulePath || p == rulePath {
		return true
	}
	if !strings.HasPrefix(p, rulePath) {
		return false
	}
	rest := p[len(rulePath):]
	return recursive || !strings.Contains(strings.TrimSuffix(rest, "/"), "/")
}

func sourceMatches(srcs []SyscallSource, source string) bool {
	for _, s := range srcs {
		if s.Path != "" && s.Path == source {
			return true
		}
		if s.Dir != "" && source != "" && pathCovered(s.Dir, s.Recursive, source) {
			return true
		}
	}
	return false
}
