package policy

import (
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse, and whatever parses through
// Apply (compile) and Decide: none of them may panic, and a policy Parse
// accepts must also pass Apply's validation. The seed corpus is in
// testdata/fuzz/FuzzParse (the KubeArmor fixtures and broken variants).
func FuzzParse(f *testing.F) {
	f.Add([]byte(doc("seed", "  file:\n    matchPaths:\n      - path: /a\n")))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte(`[{"kind":"KubeArmorPolicy"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := Parse(data, "fuzz")
		if err != nil {
			if ps != nil {
				t.Fatalf("policies returned with error %v", err)
			}
			return
		}
		s := NewStore(Options{FilePosture: PostureBlock, NetworkPosture: PostureBlock})
		if err := s.Apply("fuzz", ps); err != nil {
			t.Fatalf("Parse accepted what Apply rejects: %v", err)
		}
		for _, r := range []Request{
			{Op: OpProcess, Path: "/bin/sh", Source: "/bin/bash"},
			{Op: OpFile, Path: "/etc/passwd", Source: "/bin/cat", Write: true},
			{Op: OpFile, Path: "/", Source: ""},
			{Op: OpFile, Path: "relative//x/", Source: "/bin/cat"},
			{Op: OpNetwork, Protocol: "tcp", Source: "/usr/bin/curl"},
			{Op: OpCapabilities, Capability: "net_raw"},
			{Op: OpSyscall, Syscall: "unlink", Path: "/tmp/x", Source: "/usr/bin/rm"},
		} {
			s.Decide(r)
		}
		for _, op := range []Operation{OpProcess, OpFile, OpNetwork, OpCapabilities, OpSyscall} {
			s.MayBlock(op)
		}
	})
}
