package policy

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The CRD's path patterns, verbatim, so bluelock accepts exactly what the
// KubeArmor admission accepts.
var (
	pathRE     = regexp.MustCompile(`^\/+.*[^\/]$`)
	dirRE      = regexp.MustCompile(`^\/$|^\/.*\/$`)
	execNameRE = regexp.MustCompile(`^[^\/]+$`)
)

// Validate checks a policy against the CRD's rules (the checks Parse runs
// after decoding). Use it for policies built in code; its errors name
// p.Origin, the policy and the field.
func (p *KubeArmorPolicy) Validate() error {
	var ps problems
	checkType(p, &ps)
	validateSpec(p, &ps)
	return ps.join(p.Origin, p.Metadata.Name)
}

// validateForApply is Validate minus the apiVersion/kind check, which delivery
// channels (PolicyService objects) may legitimately omit.
func (p *KubeArmorPolicy) validateForApply() error {
	var ps problems
	if p.APIVersion != "" || p.Kind != "" {
		checkType(p, &ps)
	}
	validateSpec(p, &ps)
	return ps.join(p.Origin, p.Metadata.Name)
}

func checkType(p *KubeArmorPolicy, ps *problems) {
	if p.APIVersion != APIVersion {
		ps.add("apiVersion", fmt.Sprintf("must be %q, got %q", APIVersion, p.APIVersion))
	}
	if p.Kind != Kind {
		ps.add("kind", fmt.Sprintf("must be %q, got %q", Kind, p.Kind))
	}
}

func validateSpec(p *KubeArmorPolicy, ps *problems) {
	if strings.TrimSpace(p.Metadata.Name) == "" {
		ps.add("metadata.name", "required")
	}
	s := &p.Spec
	validateSelector(&s.Selector, ps)
	validateMeta("spec", Meta{Severity: s.Severity, Action: s.Action}, ps)
	switch s.Status {
	case "", "Active", "Inactive", "active", "inactive":
	default:
		ps.add("spec.status", fmt.Sprintf("must be Active or Inactive, got %q", s.Status))
	}
	if s.Process == nil && s.File == nil && s.Network == nil && s.Capabilities == nil &&
		s.Syscalls == nil && len(s.Presets) == 0 && s.AppArmor == "" {
		ps.add("spec", "no rules: one of process, file, network, capabilities or syscalls is required")
	}
	if s.Process != nil {
		validateProcess(s.Process, ps)
	}
	if s.File != nil {
		validateFile(s.File, ps)
	}
	if s.Network != nil {
		validateNetwork(s.Network, ps)
	}
	if s.Capabilities != nil {
		validateCapabilities(s.Capabilities, ps)
	}
	if s.Syscalls != nil {
		validateSyscalls(s.Syscalls, ps)
	}
	for i, pr := range s.Presets {
		f := fmt.Sprintf("spec.presets[%d]", i)
		if pr.Name == "" {
			ps.add(f+".name", "required")
		}
		validateAction(f+".action", pr.Action, ps)
	}
}

func validateSelector(sel *Selector, ps *problems) {
	for _, k := range slices.Sorted(maps.Keys(sel.MatchLabels)) {
		v := sel.MatchLabels[k]
		f := "spec.selector.matchLabels." + k
		if k == "" {
			ps.add("spec.selector.matchLabels", "empty label key")
			continue
		}
		if k == ContainerNameLabel {
			if names := containerNames(v); len(names) == 0 {
				ps.add(f, fmt.Sprintf("invalid container name list %q: want \"name\" or \"[name1, name2]\"", v))
			}
		}
	}
	for i, e := range sel.MatchExpressions {
		f := fmt.Sprintf("spec.selector.matchExpressions[%d]", i)
		if e.Key != "label" {
			ps.add(f+".key", fmt.Sprintf("must be \"label\", got %q", e.Key))
		}
		if e.Operator != "In" && e.Operator != "NotIn" {
			ps.add(f+".operator", fmt.Sprintf("must be In or NotIn, got %q", e.Operator))
		}
		if len(e.Values) == 0 {
			ps.add(f+".values", "required")
		}
		for j, v := range e.Values {
			if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
				ps.add(fmt.Sprintf("%s.values[%d]", f, j), fmt.Sprintf("must be key=value, got %q", v))
			}
		}
	}
}

// containerNames parses KubeArmor's container.name label value: "name" or
// "[name1, name2]" (KubeArmor strips the first and last character and splits
// on commas). Empty names are dropped.
func containerNames(v string) []string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
	}
	var out []string
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func validateMeta(f string, m Meta, ps *problems) {
	if m.Severity != 0 && (m.Severity < 1 || m.Severity > 10) {
		ps.add(join(f, "severity"), fmt.Sprintf("must be between 1 and 10, got %d", m.Severity))
	}
	validateAction(join(f, "action"), m.Action, ps)
}

func validateAction(f, a string, ps *problems) {
	if a != "" && normAction(a) == "" {
		ps.add(f, fmt.Sprintf("must be Allow, Audit or Block, got %q", a))
	}
}

func validatePath(f, p string, ps *problems) {
	if p == "" {
		ps.add(f, "required")
	} else if !pathRE.MatchString(p) {
		ps.add(f, fmt.Sprintf("invalid path %q: must be absolute and not end in \"/\"", p))
	}
}

func validateDir(f, d string, ps *problems) {
	if d == "" {
		ps.add(f, "required")
	} else if !dirRE.MatchString(d) {
		ps.add(f, fmt.Sprintf("invalid directory %q: must be absolute and end in \"/\"", d))
	}
}

func validatePattern(f, p string, ps *problems) {
	if p == "" {
		ps.add(f, "required")
		return
	}
	if _, err := filepath.Match(p, ""); err != nil {
		ps.add(f, fmt.Sprintf("invalid pattern %q: %v", p, err))
	}
}

func validateSources(f string, srcs []FromSource, ps *problems) {
	for i, s := range srcs {
		validatePath(fmt.Sprintf("%s.fromSource[%d].path", f, i), s.Path, ps)
	}
}

func validateProcess(s *ProcessSection, ps *problems) {
	validateMeta("spec.process", s.Meta, ps)
	for i, r := range s.MatchPaths {
		f := fmt.Sprintf("spec.process.matchPaths[%d]", i)
		switch {
		case r.Path != "" && r.ExecName != "":
			ps.add(f, "path and execname are mutually exclusive")
		case r.Path == "" && r.ExecName == "":
			ps.add(f, "one of path or execname is required")
		case r.Path != "":
			validatePath(f+".path", r.Path, ps)
		default:
			if !execNameRE.MatchString(r.ExecName) {
				ps.add(f+".execname", fmt.Sprintf("invalid execname %q: must be a file name without \"/\"", r.ExecName))
			}
		}
		if len(r.AllowedArgs) > 20 {
			ps.add(f+".allowedArgs", fmt.Sprintf("at most 20 entries, got %d", len(r.AllowedArgs)))
		}
		validateSources(f, r.FromSource, ps)
		validateMeta(f, r.Meta, ps)
	}
	for i, r := range s.MatchDirectories {
		f := fmt.Sprintf("spec.process.matchDirectories[%d]", i)
		validateDir(f+".dir", r.Dir, ps)
		validateSources(f, r.FromSource, ps)
		validateMeta(f, r.Meta, ps)
	}
	for i, r := range s.MatchPatterns {
		f := fmt.Sprintf("spec.process.matchPatterns[%d]", i)
		validatePattern(f+".pattern", r.Pattern, ps)
		validateMeta(f, r.Meta, ps)
	}
}

func validateFile(s *FileSection, ps *problems) {
	validateMeta("spec.file", s.Meta, ps)
	for i, r := range s.MatchPaths {
		f := fmt.Sprintf("spec.file.matchPaths[%d]", i)
		validatePath(f+".path", r.Path, ps)
		validateSources(f, r.FromSource, ps)
		validateMeta(f, r.Meta, ps)
	}
	for i, r := range s.MatchDirectories {
		f := fmt.Sprintf("spec.file.matchDirectories[%d]", i)
		validateDir(f+".dir", r.Dir, ps)
		validateSources(f, r.FromSource, ps)
		validateMeta(f, r.Meta, ps)
	}
	for i, r := range s.MatchPatterns {
		f := fmt.Sprintf("spec.file.matchPatterns[%d]", i)
		validatePattern(f+".pattern", r.Pattern, ps)
		validateMeta(f, r.Meta, ps)
	}
}

func validateNetwork(s *NetworkSection, ps *problems) {
	validateMeta("spec.network", s.Meta, ps)
	for i, r := range s.MatchProtocols {
		f := fmt.Sprintf("spec.network.matchProtocols[%d]", i)
		if strings.TrimSpace(r.Protocol) == "" {
			ps.add(f+".protocol", "required")
		}
		for _, p := range strings.Split(r.Protocol, ",") {
			if strings.TrimSpace(r.Protocol) != "" && normProtocol(p) == "" {
				ps.add(f+".protocol", fmt.Sprintf("invalid protocol %q: must be one of tcp, udp, icmp, icmpv6, raw, sctp, stream, dgram, rdm, seqpacket, dccp, packet, all", strings.TrimSpace(p)))
			}
		}
		validateSources(f, r.FromSource, ps)
		validateMeta(f, r.Meta, ps)
	}
	for i, r := range s.MatchDNSQueries {
		f := fmt.Sprintf("spec.network.matchDNSQueries[%d]", i)
		if r.Domain == "" {
			ps.add(f+".domain", "required")
		}
		validateSources(f, r.FromSource, ps)
		validateMeta(f, r.Meta, ps)
	}
}

func validateCapabilities(s *CapabilitiesSection, ps *problems) {
	validateMeta("spec.capabilities", s.Meta, ps)
	for i, r := range s.MatchCapabilities {
		f := fmt.Sprintf("spec.capabilities.matchCapabilities[%d]", i)
		if r.Capability == "" {
			ps.add(f+".capability", "required")
		} else if normCapability(r.Capability) == "" {
			ps.add(f+".capability", fmt.Sprintf("unknown capability %q", r.Capability))
		}
		validateSources(f, r.FromSource, ps)
		validateMeta(f, r.Meta, ps)
	}
}

func validateSyscalls(s *SyscallsSection, ps *problems) {
	validateMeta("spec.syscalls", Meta{Severity: s.Severity}, ps)
	for i, r := range s.MatchSyscalls {
		f := fmt.Sprintf("spec.syscalls.matchSyscalls[%d]", i)
		validateSyscallNames(f, r.Syscalls, ps)
		validateSyscallSources(f, r.FromSource, ps)
		validateMeta(f, Meta{Severity: r.Severity}, ps)
	}
	for i, r := range s.MatchPaths {
		f := fmt.Sprintf("spec.syscalls.matchPaths[%d]", i)
		switch {
		case r.Path == "":
			ps.add(f+".path", "required")
		case !pathRE.MatchString(r.Path) && !dirRE.MatchString(r.Path):
			ps.add(f+".path", fmt.Sprintf("invalid path %q: must be an absolute file path or a directory ending in \"/\"", r.Path))
		}
		validateSyscallNames(f, r.Syscalls, ps)
		validateSyscallSources(f, r.FromSource, ps)
		validateMeta(f, Meta{Severity: r.Severity}, ps)
	}
}

func validateSyscallNames(f string, names []string, ps *problems) {
	if len(names) == 0 {
		ps.add(f+".syscall", "required")
	}
	for j, n := range names {
		if _, ok := syscallNames[n]; !ok {
			ps.add(f+".syscall["+strconv.Itoa(j)+"]", fmt.Sprintf("unknown syscall %q", n))
		}
	}
}

func validateSyscallSources(f string, srcs []SyscallSource, ps *problems) {
	for i, s := range srcs {
		sf := fmt.Sprintf("%s.fromSource[%d]", f, i)
		switch {
		case s.Path != "" && s.Dir != "":
			ps.add(sf, "path and dir are mutually exclusive")
		case s.Path != "":
			validatePath(sf+".path", s.Path, ps)
		case s.Dir != "":
			validateDir(sf+".dir", s.Dir, ps)
		default:
			ps.add(sf, "one of path or dir is required")
		}
	}
}
