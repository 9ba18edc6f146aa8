package policy

import (
	"strings"
	"sync"
	"testing"
)

func mustParse(t *testing.T, yaml string) []KubeArmorPolicy {
	t.Helper()
	ps, err := Parse([]byte(yaml), "inline")
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestPrecedence pins bluelock's resolution when several rules match one
// request: fromSource-exact > fromSource-dir > exact > dir > pattern, and at
// equal specificity Block > Audit > Allow.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	const policies = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: from-source-exact}
spec:
  severity: 1
  file:
    matchPaths:
      - path: /data/a/file
        fromSource: [{path: /bin/tool}]
  action: Allow
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: from-source-dir}
spec:
  severity: 2
  file:
    matchDirectories:
      - dir: /data/
        recursive: true
        fromSource: [{path: /bin/tool}]
  action: Audit
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: exact}
spec:
  severity: 3
  file:
    matchPaths:
      - path: /data/a/file
      - path: /data/b/file
  action: Allow
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: dir}
spec:
  severity: 4
  file:
    matchDirectories:
      - dir: /data/
        recursive: true
  action: Block
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: dir-allow}
spec:
  severity: 6
  file:
    matchDirectories:
      - dir: /data/c/
  action: Allow
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: pattern}
spec:
  severity: 5
  file:
    matchPatterns:
      - pattern: /other/*.log
  action: Audit
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: pattern-block}
spec:
  severity: 7
  file:
    matchPatterns:
      - pattern: /other/x.*
  action: Block
`
	s := NewStore(Options{FilePosture: PostureAudit})
	if err := s.Apply("t", mustParse(t, policies)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, source string
		policy             string
		verdict            Verdict
	}{
		{"fromSource exact beats everything", "/data/a/file", "/bin/tool", "from-source-exact", Allow},
		{"fromSource dir beats exact", "/data/b/file", "/bin/tool", "from-source-dir", Audit},
		{"exact beats dir", "/data/a/file", "/bin/other", "exact", Allow},
		{"dir when no exact", "/data/z", "/bin/other", "dir", Block},
		{"block beats allow among dirs", "/data/c/f", "/bin/other", "dir", Block},
		{"pattern last", "/other/x.log", "/bin/other", "pattern-block", Block},
		{"pattern audit", "/other/y.log", "/bin/other", "pattern", Audit},
		{"unmatched is the posture (allow-list)", "/elsewhere", "/bin/other", "DefaultPosture", Audit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := s.Decide(Request{Op: OpFile, Path: tc.path, Source: tc.source})
			if d.PolicyName != tc.policy || d.Verdict != tc.verdict {
				t.Errorf("got %s/%v, want %s/%v", d.PolicyName, d.Verdict, tc.policy, tc.verdict)
			}
		})
	}
}

func TestAuditDoesNotOpenAllowList(t *testing.T) {
	t.Parallel()
	ps := mustParse(t, doc("p", `  file:
    matchDirectories:
      - dir: /app/
        recursive: true
        action: Allow
      - dir: /tmp/
        recursive: true
        action: Audit
      - dir: /app/logs/
        recursive: true
        action: Audit
`))
	s := NewStore(Options{FilePosture: PostureBlock})
	if err := s.Apply("t", ps); err != nil {
		t.Fatal(err)
	}
	// /tmp is audited but not allowed: the block posture still applies.
	check(t, s.Decide(Request{Op: OpFile, Path: "/tmp/x"}), want{verdict: Block, action: "Block", policy: "DefaultPosture", alert: true})
	// Under /app/logs/ the Audit rule and the /app/ Allow both match the
	// directory tier; Audit wins and the Allow grants, so it runs, reported.
	check(t, s.Decide(Request{Op: OpFile, Path: "/app/logs/x"}), want{verdict: Audit, action: "Audit", policy: "p", alert: true})
	if err := s.SetOptions(Options{FilePosture: PostureAudit}); err != nil {
		t.Fatal(err)
	}
	check(t, s.Decide(Request{Op: OpFile, Path: "/tmp/x"}), want{verdict: Audit, action: "Audit", policy: "p", alert: true})
}

func TestAllowConditions(t *testing.T) {
	t.Parallel()
	ps := mustParse(t, doc("p", `  severity: 2
  file:
    matchPaths:
      - path: /etc/app.conf
        readOnly: true
      - path: /home/u/key
        ownerOnly: true
  action: Allow
`))
	s := NewStore(Options{FilePosture: PostureBlock})
	if err := s.Apply("t", ps); err != nil {
		t.Fatal(err)
	}
	silentP := want{verdict: Allow, action: "Allow", policy: "p", severity: 2, silent: true}
	posture := want{verdict: Block, action: "Block", policy: "DefaultPosture", alert: true}
	check(t, s.Decide(Request{Op: OpFile, Path: "/etc/app.conf"}), silentP)
	check(t, s.Decide(Request{Op: OpFile, Path: "/etc/app.conf", Write: true}), posture)
	check(t, s.Decide(Request{Op: OpFile, Path: "/home/u/key", UID: 7, Owner: owner(7)}), silentP)
	check(t, s.Decide(Request{Op: OpFile, Path: "/home/u/key", UID: 0, Owner: owner(7)}), posture)
}

func TestAudited(t *testing.T) {
	t.Parallel()
	s := loadStore(t, "block-proc-path.yaml", Options{Labels: map[string]string{"group": "group-1"}, Audited: true, FilePosture: PostureBlock})
	check(t, s.Decide(Request{Op: OpProcess, Path: "/bin/sleep"}),
		want{verdict: Audit, action: "Audit (Block)", policy: "ksp-group-1-block-proc-path", severity: 5, alert: true})
	if s.MayBlock(OpProcess) {
		t.Error("MayBlock under audited")
	}
}

func TestExecNameAndSelectors(t *testing.T) {
	t.Parallel()
	ps := mustParse(t, doc("nc", `  selector:
    matchLabels:
      kubearmor.io/container.name: "[web, worker]"
    matchExpressions:
      - key: label
        operator: In
        values: [tier=front, tier=back]
      - key: label
        operator: NotIn
        values: [env=dev]
  process:
    matchPaths:
      - execname: nc
      - execname: curl
        fromSource: [{path: /bin/sh}]
`))
	cases := []struct {
		name string
		opts Options
		req  Request
		want string
	}{
		{"selected", Options{ContainerName: "worker", Labels: map[string]string{"tier": "back"}}, Request{Op: OpProcess, Path: "/usr/bin/nc"}, "nc"},
		{"execname is a suffix /name", Options{ContainerName: "worker", Labels: map[string]string{"tier": "back"}}, Request{Op: OpProcess, Path: "/usr/bin/ncat"}, ""},
		{"execname fromSource", Options{ContainerName: "web", Labels: map[string]string{"tier": "front"}}, Request{Op: OpProcess, Path: "/opt/curl", Source: "/bin/sh"}, "nc"},
		{"execname other source", Options{ContainerName: "web", Labels: map[string]string{"tier": "front"}}, Request{Op: OpProcess, Path: "/opt/curl", Source: "/bin/bash"}, ""},
		{"container not listed", Options{ContainerName: "db", Labels: map[string]string{"tier": "back"}}, Request{Op: OpProcess, Path: "/usr/bin/nc"}, ""},
		{"In not met", Options{ContainerName: "web", Labels: map[string]string{"tier": "mid"}}, Request{Op: OpProcess, Path: "/usr/bin/nc"}, ""},
		{"NotIn hit", Options{ContainerName: "web", Labels: map[string]string{"tier": "front", "env": "dev"}}, Request{Op: OpProcess, Path: "/usr/bin/nc"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewStore(tc.opts)
			if err := s.Apply("t", ps); err != nil {
				t.Fatal(err)
			}
			if d := s.Decide(tc.req); d.PolicyName != tc.want {
				t.Errorf("policy %q, want %q", d.PolicyName, tc.want)
			}
			selected := !strings.HasPrefix(tc.name, "container") && !strings.HasPrefix(tc.name, "In") && !strings.HasPrefix(tc.name, "NotIn")
			if names := strings.Join(s.Names(), ","); (names == "nc") != selected {
				t.Errorf("Names %q, selected %v", names, selected)
			}
		})
	}
}

func TestStoreApplySources(t *testing.T) {
	t.Parallel()
	blockA := mustParse(t, doc("a", "  file:\n    matchPaths:\n      - path: /a\n"))
	auditA := mustParse(t, doc("a", "  file:\n    matchPaths:\n      - path: /a\n  action: Audit\n"))
	blockB := mustParse(t, doc("b", "  network:\n    matchProtocols:\n      - protocol: raw\n"))
	s := NewStore(Options{})
	if s.MayBlock(OpFile) || len(s.Names()) != 0 {
		t.Fatal("empty store blocks")
	}
	if err := s.Apply("file", append(blockA, blockB...)); err != nil {
		t.Fatal(err)
	}
	if got := s.Decide(Request{Op: OpFile, Path: "/a"}); got.Verdict != Block {
		t.Fatalf("got %+v", got)
	}
	if !s.MayBlock(OpFile) || !s.MayBlock(OpNetwork) || s.MayBlock(OpProcess) || s.MayBlock(OpCapabilities) {
		t.Error("MayBlock wrong after apply")
	}
	// A second source delivers "a" too: the later delivery wins and the
	// clash is reported.
	rep, err := s.ApplyReport("grpc", auditA)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Shadowed) != 1 || rep.Shadowed[0] != (Shadow{Name: "a", Winner: "grpc", Loser: "file"}) {
		t.Errorf("shadowed %+v", rep.Shadowed)
	}
	if strings.Join(rep.Names, ",") != "a,b" || rep.Policies != 2 || len(rep.Unselected) != 0 {
		t.Errorf("report %+v", rep)
	}
	if got := s.Decide(Request{Op: OpFile, Path: "/a"}); got.Verdict != Audit {
		t.Errorf("later source did not win: %+v", got)
	}
	// An invalid set fails with source, policy and field, and changes nothing.
	bad := auditA[0]
	bad.Spec.File = &FileSection{MatchPaths: []FilePath{{Path: "relative"}}}
	err = s.Apply("grpc", []KubeArmorPolicy{bad})
	const wantErr = `source "grpc": inline: document 1 (line 1): policy "a": spec.file.matchPaths[0].path: invalid path "relative": must be absolute and not end in "/"`
	if err == nil || err.Error() != wantErr {
		t.Errorf("error %v\nwant  %s", err, wantErr)
	}
	if got := s.Decide(Request{Op: OpFile, Path: "/a"}); got.Verdict != Audit {
		t.Errorf("invalid apply changed the set: %+v", got)
	}
	// Lifting grpc brings file's "a" back.
	if err := s.Apply("grpc", nil); err != nil {
		t.Fatal(err)
	}
	if got := s.Decide(Request{Op: OpFile, Path: "/a"}); got.Verdict != Block {
		t.Errorf("lifting grpc: %+v", got)
	}
	if err := s.Apply("file", nil); err != nil {
		t.Fatal(err)
	}
	if len(s.Names()) != 0 || s.MayBlock(OpFile) {
		t.Errorf("after lifting all: %v", s.Names())
	}
}

func TestSetOptions(t *testing.T) {
	t.Parallel()
	s := loadStore(t, "allow-net-tcp-from-source.yaml", Options{ContainerName: "ubuntu-1", Labels: map[string]string{"container": "ubuntu-1"}})
	req := Request{Op: OpNetwork, Protocol: "udp", Source: "/usr/bin/curl"}
	if d := s.Decide(req); d.Verdict != Audit || d.PolicyName != "DefaultPosture" {
		t.Errorf("default posture is audit: %+v", d)
	}
	if s.MayBlock(OpNetwork) {
		t.Error("MayBlock under audit posture")
	}
	if err := s.SetOptions(Options{ContainerName: "ubuntu-1", Labels: map[string]string{"container": "ubuntu-1"}, NetworkPosture: "Block"}); err != nil {
		t.Fatal(err)
	}
	if d := s.Decide(req); d.Verdict != Block {
		t.Errorf("posture block: %+v", d)
	}
	if !s.MayBlock(OpNetwork) {
		t.Error("MayBlock under block posture")
	}
	err := s.SetOptions(Options{ContainerName: "other", FilePosture: "deny"})
	if err == nil || err.Error() != `file posture: invalid posture "deny": must be block, audit or allow` {
		t.Errorf("got %v", err)
	}
	if len(s.Names()) != 0 {
		t.Errorf("identity change not applied: %v", s.Names())
	}
}

// TestConcurrentDecide runs Decide against Apply swaps; go test -race checks it.
func TestConcurrentDecide(t *testing.T) {
	t.Parallel()
	a := mustParse(t, doc("a", "  file:\n    matchPaths:\n      - path: /a\n"))
	s := NewStore(Options{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d := s.Decide(Request{Op: OpFile, Path: "/a"})
				if d.Verdict != Allow && d.Verdict != Block {
					t.Errorf("torn decision %+v", d)
					return
				}
			}
		}()
	}
	for i := range 200 {
		set := a
		if i%2 == 1 {
			set = nil
		}
		if err := s.Apply("f", set); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestDuplicateInOneSourceIsReported(t *testing.T) {
	t.Parallel()
	ps := mustParse(t, doc("dup", "  file:\n    matchPaths:\n      - path: /a\n")+"---\n"+doc("dup", "  file:\n    matchPaths:\n      - path: /b\n"))
	s := NewStore(Options{})
	rep, err := s.ApplyReport("file", ps)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Shadowed) != 1 || rep.Shadowed[0] != (Shadow{Name: "dup", Winner: "file", Loser: "file"}) {
		t.Errorf("shadowed %+v", rep.Shadowed)
	}
	if s.Decide(Request{Op: OpFile, Path: "/a"}).Verdict != Allow || s.Decide(Request{Op: OpFile, Path: "/b"}).Verdict != Block {
		t.Error("the later definition must win")
	}
}

func TestReportUnselected(t *testing.T) {
	t.Parallel()
	ps := mustParse(t, doc("here", "  file:\n    matchPaths:\n      - path: /a\n")+"---\n"+
		strings.Replace(doc("elsewhere", "  file:\n    matchPaths:\n      - path: /b\n"), "name: elsewhere", "name: elsewhere\n  namespace: other", 1))
	s := NewStore(Options{Namespace: "mine"})
	rep, err := s.ApplyReport("file", ps)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Names, ",") != "here" || strings.Join(rep.Unselected, ",") != "elsewhere" {
		t.Errorf("report %+v", rep)
	}
}

func TestSyscallsAndPostureAllow(t *testing.T) {
	t.Parallel()
	s := loadStore(t, "audit-unlink.yaml", Options{Namespace: "multiubuntu", Labels: map[string]string{"container": "ubuntu-1"}})
	if got := strings.Join(s.Syscalls(), ","); got != "unlink,unlinkat" {
		t.Errorf("Syscalls %q", got)
	}
	if s.MayBlock(OpSyscall) {
		t.Error("syscall rules never block")
	}
	a := loadStore(t, "allow-proc-dir.yaml", Options{Labels: map[string]string{"container": "ubuntu-3"}, FilePosture: PostureAllow})
	if d := a.Decide(Request{Op: OpFile, Path: "/etc/hostname"}); d.Verdict != Allow || d.PolicyName != "" || d.Alert {
		t.Errorf("posture allow: %+v", d)
	}
	if got := a.Options().NetworkPosture; got != DefaultPosture {
		t.Errorf("empty posture normalised to %q", got)
	}
}

func TestSyscallRuleMetadata(t *testing.T) {
	t.Parallel()
	ps := mustParse(t, doc("sys", `  severity: 2
  syscalls:
    severity: 3
    matchSyscalls:
      - syscall: [unlink]
        severity: 9
        tags: [rule]
        message: unlink seen
      - syscall: [rmdir]
`))
	s := NewStore(Options{})
	if err := s.Apply("t", ps); err != nil {
		t.Fatal(err)
	}
	d := s.Decide(Request{Op: OpSyscall, Syscall: "unlink", Path: "/x"})
	if d.Severity != 9 || d.Message != "unlink seen" || strings.Join(d.Tags, ",") != "rule" || d.Verdict != Audit {
		t.Errorf("rule-level metadata: %+v", d)
	}
	if d := s.Decide(Request{Op: OpSyscall, Syscall: "rmdir", Path: "/x"}); d.Severity != 3 || d.Verdict != Audit {
		t.Errorf("section severity: %+v", d)
	}
}
