package policy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// ubuntu is the identity of KubeArmor's multiubuntu test pods; each case
// names the container it plays.
func ubuntu(container, group string, file Posture) Options {
	return Options{
		ContainerName: container,
		Namespace:     "multiubuntu",
		Labels:        map[string]string{"container": container, "group": group},
		FilePosture:   file,
	}
}

func loadStore(t *testing.T, fixture string, opts Options) *Store {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "kubearmor", fixture))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := Parse(data, fixture)
	if err != nil {
		t.Fatalf("parse %s: %v", fixture, err)
	}
	s := NewStore(opts)
	if err := s.Apply("test", ps); err != nil {
		t.Fatalf("apply %s: %v", fixture, err)
	}
	return s
}

func owner(uid int) func(string) (int, bool) { return func(string) (int, bool) { return uid, true } }

// want is the part of a Decision a case pins.
type want struct {
	verdict  Verdict
	action   string
	policy   string
	severity int
	alert    bool
	silent   bool
}

func check(t *testing.T, got Decision, w want) {
	t.Helper()
	if got.Verdict != w.verdict || got.Action != w.action || got.PolicyName != w.policy ||
		got.Severity != w.severity || got.Alert != w.alert || got.Silent != w.silent {
		t.Errorf("got {%v %q %q sev=%d alert=%v silent=%v}, want {%v %q %q sev=%d alert=%v silent=%v}",
			got.Verdict, got.Action, got.PolicyName, got.Severity, got.Alert, got.Silent,
			w.verdict, w.action, w.policy, w.severity, w.alert, w.silent)
	}
}

var pass = want{verdict: Allow, action: "Allow"}

func TestDecideKubeArmorCases(t *testing.T) {
	t.Parallel()
	u1 := ubuntu("ubuntu-1", "group-1", PostureAudit)
	u2 := ubuntu("ubuntu-2", "group-2", PostureAudit)
	u3 := ubuntu("ubuntu-3", "group-1", PostureAudit)
	u3block := ubuntu("ubuntu-3", "group-1", PostureBlock)
	u4 := ubuntu("ubuntu-4", "group-2", PostureAudit)
	wordpress := Options{ContainerName: "wordpress", Namespace: "wordpress-mysql",
		Labels: map[string]string{"app": "wordpress"}, FilePosture: PostureBlock}
	netBlock := u1
	netBlock.NetworkPosture = PostureBlock

	block := func(policy string, sev int) want {
		return want{verdict: Block, action: "Block", policy: policy, severity: sev, alert: true}
	}
	audit := func(policy string, sev int) want {
		return want{verdict: Audit, action: "Audit", policy: policy, severity: sev, alert: true}
	}
	silent := func(policy string, sev int) want {
		return want{verdict: Allow, action: "Allow", policy: policy, severity: sev, silent: true}
	}
	postureBlock := want{verdict: Block, action: "Block", policy: "DefaultPosture", alert: true}
	postureAudit := want{verdict: Audit, action: "Audit", policy: "DefaultPosture", alert: true}

	cases := []struct {
		name    string
		fixture string
		opts    Options
		req     Request
		want    want
	}{
		// 1, 2: block and audit a process path.
		{"block-proc-path/sleep", "block-proc-path.yaml", u1,
			Request{Op: OpProcess, Path: "/bin/sleep", Source: "/bin/bash"}, block("ksp-group-1-block-proc-path", 5)},
		{"block-proc-path/other-binary", "block-proc-path.yaml", u1,
			Request{Op: OpProcess, Path: "/bin/sleepy", Source: "/bin/bash"}, pass},
		{"block-proc-path/not-selected", "block-proc-path.yaml", u2,
			Request{Op: OpProcess, Path: "/bin/sleep", Source: "/bin/bash"}, pass},
		{"block-proc-path/file-op-unaffected", "block-proc-path.yaml", u1,
			Request{Op: OpFile, Path: "/bin/sleep", Source: "/bin/bash"}, pass},
		{"audit-proc-path/sleep", "audit-proc-path.yaml", u2,
			Request{Op: OpProcess, Path: "/bin/sleep", Source: "/bin/bash"}, audit("ksp-group-2-audit-proc-path", 4)},
		// 3: non-recursive directory: direct children only.
		{"block-proc-dir/route", "block-proc-dir.yaml", u1,
			Request{Op: OpProcess, Path: "/sbin/route"}, block("ksp-ubuntu-1-block-proc-dir", 6)},
		{"block-proc-dir/grandchild", "block-proc-dir.yaml", u1,
			Request{Op: OpProcess, Path: "/sbin/sub/tool"}, pass},
		{"block-proc-dir/sibling-prefix", "block-proc-dir.yaml", u1,
			Request{Op: OpProcess, Path: "/sbinx/route"}, pass},
		// 4: recursive directory: any depth.
		{"block-proc-dir-recursive/whoami", "block-proc-dir-recursive.yaml", u1,
			Request{Op: OpProcess, Path: "/usr/bin/whoami"}, block("ksp-ubuntu-1-block-proc-dir-recursive", 2)},
		{"block-proc-dir-recursive/deep", "block-proc-dir-recursive.yaml", u1,
			Request{Op: OpProcess, Path: "/usr/lib/x/y/z"}, block("ksp-ubuntu-1-block-proc-dir-recursive", 2)},
		{"block-proc-dir-recursive/outside", "block-proc-dir-recursive.yaml", u1,
			Request{Op: OpProcess, Path: "/bin/whoami"}, pass},
		// 5: fromSource: only when dash starts ls.
		{"from-source/dash-ls", "block-proc-path-from-source.yaml", u1,
			Request{Op: OpProcess, Path: "/bin/ls", Source: "/bin/dash"}, block("ksp-group-1-block-proc-path-from-source", 5)},
		{"from-source/bash-ls", "block-proc-path-from-source.yaml", u1,
			Request{Op: OpProcess, Path: "/bin/ls", Source: "/bin/bash"}, pass},
		{"from-source/dash-uname", "block-proc-path-from-source.yaml", u1,
			Request{Op: OpProcess, Path: "/bin/uname", Source: "/bin/dash"}, pass},
		// 6: ownerOnly.
		{"owner-only/root", "block-proc-path-owner.yaml", u3,
			Request{Op: OpProcess, Path: "/home/user1/hello", UID: 0, Owner: owner(1000)}, block("ksp-ubuntu-3-block-proc-path-owner", 7)},
		{"owner-only/user1", "block-proc-path-owner.yaml", u3,
			Request{Op: OpProcess, Path: "/home/user1/hello", UID: 1000, Owner: owner(1000)}, pass},
		{"owner-only/unknown-owner-fails-closed", "block-proc-path-owner.yaml", u3,
			Request{Op: OpProcess, Path: "/home/user1/hello", UID: 1000}, block("ksp-ubuntu-3-block-proc-path-owner", 7)},
		// 7: file directory, recursive, container.name list selector.
		{"block-file-dir-recursive/password", "block-file-dir-recursive.yaml", u4,
			Request{Op: OpFile, Path: "/credentials/password", Source: "/bin/cat"}, block("ksp-ubuntu-4-block-file-dir-recursive", 9)},
		{"block-file-dir-recursive/key", "block-file-dir-recursive.yaml", u4,
			Request{Op: OpFile, Path: "/credentials/keys/priv.key"}, block("ksp-ubuntu-4-block-file-dir-recursive", 9)},
		{"block-file-dir-recursive/dir-itself", "block-file-dir-recursive.yaml", u4,
			Request{Op: OpFile, Path: "/credentials"}, block("ksp-ubuntu-4-block-file-dir-recursive", 9)},
		{"block-file-dir-recursive/other-container", "block-file-dir-recursive.yaml", u1,
			Request{Op: OpFile, Path: "/credentials/password"}, pass},
		// 8: file path fromSource.
		{"file-from-source/cat", "block-file-path-from-source.yaml", u2,
			Request{Op: OpFile, Path: "/secret.txt", Source: "/bin/cat"}, block("ksp-group-2-block-file-path-from-source-path", 5)},
		{"file-from-source/head", "block-file-path-from-source.yaml", u2,
			Request{Op: OpFile, Path: "/secret.txt", Source: "/bin/head"}, pass},
		// 9: audit a directory.
		{"audit-file-dir/password", "audit-file-dir.yaml", u1,
			Request{Op: OpFile, Path: "/credentials/password"}, audit("ksp-ubuntu-1-audit-file-dir", 5)},
		{"audit-file-dir/key", "audit-file-dir.yaml", u1,
			Request{Op: OpFile, Path: "/credentials/keys/priv.key"}, audit("ksp-ubuntu-1-audit-file-dir", 5)},
		// 10: readOnly: reading passes, appending is the violation.
		{"readonly/read", "file-path-readonly-block.yaml", u4,
			Request{Op: OpFile, Path: "/credentials/password"}, pass},
		{"readonly/append", "file-path-readonly-block.yaml", u4,
			Request{Op: OpFile, Path: "/credentials/password", Write: true}, block("ksp-ubuntu-4-file-path-readonly-block", 10)},
		// 11: glob pattern.
		{"pattern/shadow", "file-pattern-block.yaml", u1,
			Request{Op: OpFile, Path: "/etc/shadow"}, block("ksp-ubuntu-1-file-pattern-block", 8)},
		{"pattern/gshadow", "file-pattern-block.yaml", u1,
			Request{Op: OpFile, Path: "/etc/gshadow"}, block("ksp-ubuntu-1-file-pattern-block", 8)},
		{"pattern/hostname", "file-pattern-block.yaml", u1,
			Request{Op: OpFile, Path: "/etc/hostname"}, pass},
		{"pattern/star-does-not-cross-slash", "file-pattern-block.yaml", u1,
			Request{Op: OpFile, Path: "/etc/x/shadow"}, pass},
		// 12: allow-list with default posture block, then audit.
		{"allow-list/hostname-block", "allow-proc-dir.yaml", u3block,
			Request{Op: OpFile, Path: "/etc/hostname", Source: "/bin/cat"}, postureBlock},
		{"allow-list/password-allowed", "allow-proc-dir.yaml", u3block,
			Request{Op: OpFile, Path: "/credentials/password", Source: "/bin/cat"}, silent("ksp-ubuntu-3-allow-proc-dir", 8)},
		{"allow-list/exec-listed", "allow-proc-dir.yaml", u3block,
			Request{Op: OpProcess, Path: "/bin/cat", Source: "/bin/bash"}, silent("ksp-ubuntu-3-allow-proc-dir", 8)},
		{"allow-list/exec-unlisted", "allow-proc-dir.yaml", u3block,
			Request{Op: OpProcess, Path: "/usr/bin/id", Source: "/bin/bash"}, postureBlock},
		{"allow-list/from-source-root", "allow-proc-dir.yaml", u3block,
			Request{Op: OpFile, Path: "/etc/hostname", Source: "/kubearmor/bluelock"}, silent("ksp-ubuntu-3-allow-proc-dir", 8)},
		{"allow-list/hostname-audit", "allow-proc-dir.yaml", u3,
			Request{Op: OpFile, Path: "/etc/hostname", Source: "/bin/cat"}, postureAudit},
		// 13: lenient service-account whitelist.
		{"lenient-sa/head-token", "lenient-allow-sa.yaml", wordpress,
			Request{Op: OpFile, Path: "/run/secrets/kubernetes.io/serviceaccount/token", Source: "/usr/bin/head"}, block("ksp-wordpress-lenient-allow-sa", 7)},
		{"lenient-sa/cat-token", "lenient-allow-sa.yaml", wordpress,
			Request{Op: OpFile, Path: "/run/secrets/kubernetes.io/serviceaccount/token", Source: "/usr/bin/cat"}, silent("ksp-wordpress-lenient-allow-sa", 7)},
		{"lenient-sa/cat-passwd", "lenient-allow-sa.yaml", wordpress,
			Request{Op: OpFile, Path: "/etc/passwd", Source: "/usr/bin/cat"}, silent("ksp-wordpress-lenient-allow-sa", 7)},
		{"lenient-sa/head-passwd", "lenient-allow-sa.yaml", wordpress,
			Request{Op: OpFile, Path: "/etc/passwd", Source: "/usr/bin/head"}, silent("ksp-wordpress-lenient-allow-sa", 7)},
		{"lenient-sa/exec-outside-usr-bin", "lenient-allow-sa.yaml", wordpress,
			Request{Op: OpProcess, Path: "/opt/tool", Source: "/usr/bin/bash"}, postureBlock},
		// 14, 15, 16: network.
		{"net-raw/arping", "block-net-raw.yaml", u1,
			Request{Op: OpNetwork, Protocol: "raw", Source: "/usr/bin/arping"}, block("ksp-ubuntu-1-block-net-raw", 8)},
		{"net-raw/curl-tcp", "block-net-raw.yaml", u1,
			Request{Op: OpNetwork, Protocol: "tcp", Source: "/usr/bin/curl"}, pass},
		{"net-icmp/ping", "audit-net-icmp.yaml", u1,
			Request{Op: OpNetwork, Protocol: "icmp", Source: "/usr/bin/ping"}, audit("ksp-ubuntu-1-audit-net-icmp", 8)},
		{"net-tcp-from-source/curl-tcp", "allow-net-tcp-from-source.yaml", netBlock,
			Request{Op: OpNetwork, Protocol: "tcp", Source: "/usr/bin/curl"}, silent("ksp-ubuntu-1-allow-net-tcp-from-source", 8)},
		{"net-tcp-from-source/curl-dns", "allow-net-tcp-from-source.yaml", netBlock,
			Request{Op: OpNetwork, Protocol: "udp", Source: "/usr/bin/curl"}, postureBlock},
		{"net-tcp-from-source/wget-tcp", "allow-net-tcp-from-source.yaml", netBlock,
			Request{Op: OpNetwork, Protocol: "tcp", Source: "/usr/bin/wget"}, postureBlock},
		{"net-tcp-from-source/file-posture-untouched", "allow-net-tcp-from-source.yaml", netBlock,
			Request{Op: OpFile, Path: "/etc/passwd", Source: "/usr/bin/wget"}, pass},
		// 17: syscalls are audited.
		{"syscall/unlink", "audit-unlink.yaml", u1,
			Request{Op: OpSyscall, Syscall: "unlink", Path: "/dummy", Source: "/usr/bin/unlink"}, audit("audit-all-unlink", 3)},
		{"syscall/unlinkat-path", "audit-unlink.yaml", u1,
			Request{Op: OpSyscall, Syscall: "unlinkat", Path: "/dummy", Source: "/usr/bin/rm"}, audit("audit-unlink-file-path", 4)},
		{"syscall/unlinkat-other-path", "audit-unlink.yaml", u1,
			Request{Op: OpSyscall, Syscall: "unlinkat", Path: "/other", Source: "/usr/bin/rm"}, pass},
		{"syscall/unlinkat-other-source", "audit-unlink.yaml", u1,
			Request{Op: OpSyscall, Syscall: "unlinkat", Path: "/dummy", Source: "/bin/rm"}, pass},
		// 18: capabilities.
		{"cap/net-raw", "block-net-raw-cap.yaml", u1,
			Request{Op: OpCapabilities, Capability: "net_raw", Source: "/usr/bin/arping"}, block("ksp-ubuntu-1-block-net-raw-cap", 1)},
		{"cap/CAP_NET_RAW", "block-net-raw-cap.yaml", u1,
			Request{Op: OpCapabilities, Capability: "CAP_NET_RAW"}, block("ksp-ubuntu-1-block-net-raw-cap", 1)},
		{"cap/other", "block-net-raw-cap.yaml", u1,
			Request{Op: OpCapabilities, Capability: "net_admin"}, pass},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := loadStore(t, tc.fixture, tc.opts)
			check(t, s.Decide(tc.req), tc.want)
		})
	}
}

func TestDecideInheritsMetadata(t *testing.T) {
	t.Parallel()
	s := loadStore(t, "lenient-allow-sa.yaml", Options{ContainerName: "wordpress", Labels: map[string]string{"app": "wordpress"}, FilePosture: PostureBlock})
	d := s.Decide(Request{Op: OpFile, Path: "/run/secrets/kubernetes.io/serviceaccount/token", Source: "/usr/bin/head"})
	if d.Message != "sa token accessed" || !slices.Equal(d.Tags, []string{"NIST"}) {
		t.Errorf("message %q tags %v, want the spec's", d.Message, d.Tags)
	}
	d = s.Decide(Request{Op: OpFile, Path: "/etc/hostname", Source: "/opt/app"})
	if d.PolicyName != "ksp-wordpress-lenient-allow-sa" || !d.Silent || d.Alert {
		// /etc/hostname is under "/" recursive Allow: matched, silent.
		t.Errorf("got %+v", d)
	}
	d = s.Decide(Request{Op: OpProcess, Path: "/opt/app", Source: "/usr/bin/bash"})
	if d.PolicyName != PolicyDefaultPosture || d.Severity != 0 || d.Tags != nil || d.Message != "" {
		t.Errorf("DefaultPosture must carry no severity/tags/message, got %+v", d)
	}
}
