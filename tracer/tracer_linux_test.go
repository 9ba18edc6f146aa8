package tracer

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/schema"
)

// view is the part of an event a test pins down exactly (PIDs and paths of
// the test binary vary per run and are checked separately).
type view struct {
	Type, PolicyName, Severity, Tags, Message string
	ATags                                     []string
	Operation, Resource, Data                 string
	Enforcer, Action, Result                  string
	ProcessName, Source                       string
}

func viewOf(ev schema.Event) view {
	if a := ev.Alert; a != nil {
		return view{Type: a.Type, PolicyName: a.PolicyName, Severity: a.Severity, Tags: a.Tags, Message: a.Message,
			ATags: a.ATags, Operation: a.Operation, Resource: a.Resource, Data: a.Data, Enforcer: a.Enforcer,
			Action: a.Action, Result: a.Result, ProcessName: a.ProcessName, Source: a.Source}
	}
	l := ev.Log
	return view{Type: l.Type, Operation: l.Operation, Resource: l.Resource, Data: l.Data, Result: l.Result,
		ProcessName: l.ProcessName, Source: l.Source}
}

func views(evs []schema.Event) []view {
	out := []view{}
	for _, ev := range evs {
		out = append(out, viewOf(ev))
	}
	return out
}

func checkCommon(t *testing.T, evs []schema.Event) {
	t.Helper()
	for _, ev := range evs {
		var pid, ppid int32
		var host, updated string
		if ev.Alert != nil {
			pid, ppid, host, updated = ev.Alert.PID, ev.Alert.PPID, ev.Alert.HostName, ev.Alert.UpdatedTime
		} else {
			pid, ppid, host, updated = ev.Log.PID, ev.Log.PPID, ev.Log.HostName, ev.Log.UpdatedTime
		}
		if pid <= 0 || ppid <= 0 || host != "testhost" || updated != "2026-11-22T20:00:00.123456Z" {
			t.Errorf("bad identity/container fields: %s", dump([]schema.Event{ev}))
		}
	}
}

func TestOpenDecisions(t *testing.T) {
	self := testSelf(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	const data = "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY|O_CLOEXEC"
	cases := []struct {
		name     string
		path     string
		rules    []fakeRule
		vis      Visibility
		wantCode int
		want     []view
	}{
		{name: "visible-log", path: secret, vis: VisFile, want: []view{{Type: "ContainerLog", Operation: "File",
			Resource: secret, Data: data, Result: "Passed", ProcessName: self, Source: self}}},
		{name: "missing-file-log", path: missing, vis: VisFile, want: []view{{Type: "ContainerLog", Operation: "File",
			Resource: missing, Data: data, Result: "No such file or directory", ProcessName: self, Source: self}}, wantCode: 2},
		{name: "no-visibility", path: secret, vis: 0, want: []view{}},
		{name: "process-visibility-only", path: secret, vis: VisProcess, want: []view{}},
		{name: "block", path: secret, vis: VisFile, wantCode: 13,
			rules: []fakeRule{{op: policy.OpFile, match: secret, d: block("ksp-block")}},
			want: []view{{Type: "MatchedPolicy", PolicyName: "ksp-block", Severity: "5", Tags: "T1,T2", ATags: []string{"T1", "T2"},
				Message: "blocked by test", Operation: "File", Resource: secret, Data: data, Enforcer: schema.EnforcerPtrace,
				Action: "Block", Result: "Permission denied", ProcessName: self, Source: self}}},
		{name: "block-without-visibility-still-alerts", path: secret, vis: 0, wantCode: 13,
			rules: []fakeRule{{op: policy.OpFile, match: secret, d: block("ksp-block")}},
			want: []view{{Type: "MatchedPolicy", PolicyName: "ksp-block", Severity: "5", Tags: "T1,T2", ATags: []string{"T1", "T2"},
				Message: "blocked by test", Operation: "File", Resource: secret, Data: data, Enforcer: schema.EnforcerPtrace,
				Action: "Block", Result: "Permission denied", ProcessName: self, Source: self}}},
		{name: "audit", path: secret, vis: 0,
			rules: []fakeRule{{op: policy.OpFile, match: secret, d: audit("ksp-audit")}},
			want: []view{{Type: "MatchedPolicy", PolicyName: "ksp-audit", Severity: "3", Operation: "File", Resource: secret,
				Data: data, Enforcer: schema.EnforcerMonitor, Action: "Audit", Result: "Passed", ProcessName: self, Source: self}}},
		{name: "audit-real-result", path: missing, vis: 0, wantCode: 2,
			rules: []fakeRule{{op: policy.OpFile, match: missing, d: audit("ksp-audit")}},
			want: []view{{Type: "MatchedPolicy", PolicyName: "ksp-audit", Severity: "3", Operation: "File", Resource: missing,
				Data: data, Enforcer: schema.EnforcerMonitor, Action: "Audit", Result: "No such file or directory", ProcessName: self, Source: self}}},
		{name: "default-posture-block", path: secret, vis: VisFile, wantCode: 13,
			rules: []fakeRule{{op: policy.OpFile, match: secret, d: policy.Decision{Verdict: policy.Block, Action: "Block",
				PolicyName: "DefaultPosture", Severity: 9, Tags: []string{"dropped"}, Message: "dropped", Alert: true}}},
			want: []view{{Type: "MatchedPolicy", PolicyName: "DefaultPosture", Operation: "File", Resource: secret, Data: data,
				Enforcer: schema.EnforcerPtrace, Action: "Block", Result: "Permission denied", ProcessName: self, Source: self}}},
		{name: "matched-allow-is-silent", path: secret, vis: VisFile,
			rules: []fakeRule{{op: policy.OpFile, match: secret, d: allowSilent("ksp-allow")}}, want: []view{}},
		{name: "syscall-domain-audit", path: secret, vis: 0,
			rules: []fakeRule{{op: policy.OpSyscall, match: "openat", d: audit("ksp-sys")}},
			want: []view{{Type: "MatchedPolicy", PolicyName: "ksp-sys", Severity: "3", Operation: "Syscall", Resource: secret,
				Data: data, Enforcer: schema.EnforcerMonitor, Action: "Audit", Result: "Passed", ProcessName: self, Source: self}}},
		{name: "block-beats-audit", path: secret, vis: 0, wantCode: 13,
			rules: []fakeRule{{op: policy.OpSyscall, match: "openat", d: audit("ksp-sys")}, {op: policy.OpFile, match: secret, d: block("ksp-block")}},
			want: []view{{Type: "MatchedPolicy", PolicyName: "ksp-block", Severity: "5", Tags: "T1,T2", ATags: []string{"T1", "T2"},
				Message: "blocked by test", Operation: "File", Resource: secret, Data: data, Enforcer: schema.EnforcerPtrace,
				Action: "Block", Result: "Permission denied", ProcessName: self, Source: self}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args, env := helper(t, "open", c.path)
			res := traceRun(t, fakePolicy{rules: c.rules}, c.vis, env, args...)
			if res.code != c.wantCode {
				t.Errorf("exit code %d, want %d", res.code, c.wantCode)
			}
			got := find(res.events, "", "")
			got = append(find(res.events, "File", dir), find(res.events, "Syscall", dir)...)
			checkCommon(t, got)
			if !reflect.DeepEqual(views(got), c.want) {
				t.Errorf("events:\n%s\ngot  %+v\nwant %+v", dump(got), views(got), c.want)
			}
		})
	}
}

func TestExec(t *testing.T) {
	self := testSelf(t)
	echo, _ := filepath.EvalSymlinks("/bin/echo")
	cases := []struct {
		name       string
		action     []string
		rules      []fakeRule
		wantCode   int
		wantStdout string
		want       []view
	}{
		{name: "exec-log", action: []string{"exec", "/bin/echo", "a", "b"}, wantStdout: "a b\n",
			want: []view{{Type: "ContainerLog", Operation: "Process", Resource: echo + " a b", Data: "syscall=SYS_EXECVE",
				Result: "Passed", ProcessName: echo, Source: self}}},
		{name: "exec-block", action: []string{"exec", "/bin/echo", "a"}, wantCode: 13,
			rules: []fakeRule{{op: policy.OpProcess, match: echo, d: block("ksp-proc")}},
			want: []view{{Type: "MatchedPolicy", PolicyName: "ksp-proc", Severity: "5", Tags: "T1,T2", ATags: []string{"T1", "T2"},
				Message: "blocked by test", Operation: "Process", Resource: echo + " a", Data: "syscall=SYS_EXECVE",
				Enforcer: schema.EnforcerPtrace, Action: "Block", Result: "Permission denied", ProcessName: echo, Source: self}}},
		{name: "exec-audit", action: []string{"exec", "/bin/echo"}, wantStdout: "\n",
			rules: []fakeRule{{op: policy.OpProcess, match: echo, d: audit("ksp-proc")}},
			want: []view{{Type: "MatchedPolicy", PolicyName: "ksp-proc", Severity: "3", Operation: "Process", Resource: echo,
				Data: "syscall=SYS_EXECVE", Enforcer: schema.EnforcerMonitor, Action: "Audit", Result: "Passed", ProcessName: echo, Source: self}}},
		{name: "exec-from-thread", action: []string{"thread-exec", "/bin/echo", "t"}, wantStdout: "t\n",
			want: []view{{Type: "ContainerLog", Operation: "Process", Resource: echo + " t", Data: "syscall=SYS_EXECVE",
				Result: "Passed", ProcessName: echo, Source: self}}},
		{name: "exec-from-thread-block", action: []string{"thread-exec", "/bin/echo", "t"}, wantCode: 13,
			rules: []fakeRule{{op: policy.OpProcess, match: echo, d: block("ksp-proc")}},
			want: []view{{Type: "MatchedPolicy", PolicyName: "ksp-proc", Severity: "5", Tags: "T1,T2", ATags: []string{"T1", "T2"},
				Message: "blocked by test", Operation: "Process", Resource: echo + " t", Data: "syscall=SYS_EXECVE",
				Enforcer: schema.EnforcerPtrace, Action: "Block", Result: "Permission denied", ProcessName: echo, Source: self}}},
		{name: "fork-exec", action: []string{"fork-exec", "/bin/echo", "f"}, wantStdout: "f\n",
			want: []view{{Type: "ContainerLog", Operation: "Process", Resource: echo + " f", Data: "syscall=SYS_EXECVE",
				Result: "Passed", ProcessName: echo, Source: self}}},
		{name: "vfork-exec", action: []string{"vfork-exec", "/bin/echo", "v"}, wantStdout: "v\n",
			want: []view{{Type: "ContainerLog", Operation: "Process", Resource: echo + " v", Data: "syscall=SYS_EXECVE",
				Result: "Passed", ProcessName: echo, Source: self}}},
		{name: "vfork-exec-block", action: []string{"vfork-exec", "/bin/echo", "v"}, wantCode: 13,
			rules: []fakeRule{{op: policy.OpProcess, match: echo, d: block("ksp-proc")}},
			want: []view{{Type: "MatchedPolicy", PolicyName: "ksp-proc", Severity: "5", Tags: "T1,T2", ATags: []string{"T1", "T2"},
				Message: "blocked by test", Operation: "Process", Resource: echo + " v", Data: "syscall=SYS_EXECVE",
				Enforcer: schema.EnforcerPtrace, Action: "Block", Result: "Permission denied", ProcessName: echo, Source: self}}},
		{name: "exec-missing", action: []string{"exec", "/nonexistent/prog"}, wantCode: 2,
			want: []view{{Type: "ContainerLog", Operation: "Process", Resource: "/nonexistent/prog", Data: "syscall=SYS_EXECVE",
				Result: "No such file or directory", ProcessName: "/nonexistent/prog", Source: self}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args, env := helper(t, c.action...)
			res := traceRun(t, fakePolicy{rules: c.rules}, VisProcess, env, args...)
			if res.code != c.wantCode || res.stdout != c.wantStdout {
				t.Errorf("exit %d stdout %q, want %d %q", res.code, res.stdout, c.wantCode, c.wantStdout)
			}
			// The first Process event is stage 2 starting the helper.
			got := find(res.events, "Process", "")
			if len(got) == 0 || viewOf(got[0]).ProcessName != self {
				t.Fatalf("first process event is not the helper's start:\n%s", dump(got))
			}
			got = got[1:]
			checkCommon(t, got)
			if !reflect.DeepEqual(views(got), c.want) {
				t.Errorf("events:\n%s\ngot  %+v\nwant %+v", dump(got), views(got), c.want)
			}
		})
	}
}

// TestFirstExecChecked: the app's own image is decided like any exec, and
// stage 2 reports the refusal with the shell's 126.
func TestFirstExecChecked(t *testing.T) {
	cat, _ := filepath.EvalSymlinks("/bin/cat")
	res := traceRun(t, fakePolicy{rules: []fakeRule{{op: policy.OpProcess, match: cat, d: block("ksp-cat")}}}, 0, nil, "cat", "/dev/null")
	if res.code != 126 {
		t.Errorf("exit %d, want 126", res.code)
	}
	got := find(res.events, "Process", "")
	if len(got) != 1 || got[0].Alert == nil || got[0].Alert.Action != "Block" || got[0].Alert.Resource != cat+" /dev/null" {
		t.Errorf("want one block alert for %s:\n%s", cat, dump(got))
	}
}

func TestShellChain(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "data")
	os.WriteFile(f, []byte("chain\n"), 0o644)
	sh, _ := filepath.EvalSymlinks("/bin/sh")
	cat, _ := filepath.EvalSymlinks("/bin/cat")
	// "cat; true" stops dash from exec'ing cat in place: it forks.
	res := traceRunIn(t, dir, fakePolicy{}, VisProcess|VisFile, nil, "/bin/sh", "-c", "cat data; true")
	if res.code != 0 || res.stdout != "chain\n" {
		t.Fatalf("exit %d stdout %q", res.code, res.stdout)
	}
	procs := find(res.events, "Process", cat)
	if len(procs) != 1 || procs[0].Log.Source != sh || procs[0].Log.ParentProcessName != sh || procs[0].Log.Resource != cat+" data" {
		t.Fatalf("exec of cat by sh (Resource %q, with its argument):\n%s", cat+" data", dump(procs))
	}
	files := find(res.events, "File", f)
	if len(files) != 1 {
		t.Fatalf("want one open of %s (relative path resolved against cwd):\n%s", f, dump(res.events))
	}
	l := files[0].Log
	// The exec keeps the forked shell's pid; its parent is the first shell.
	if l.ProcessName != cat || l.ParentProcessName != sh || l.PID != procs[0].Log.PID || l.PPID != procs[0].Log.PPID || l.Cwd != dir {
		t.Errorf("cat's identity wrong (want ParentProcessName %s, PID %d, PPID %d, Cwd %s):\n%s", sh, procs[0].Log.PID, procs[0].Log.PPID, dir, dump(files))
	}
}

func TestThreadOpenBlocked(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	os.WriteFile(f, nil, 0o644)
	args, env := helper(t, "thread-open", f)
	res := traceRun(t, fakePolicy{rules: []fakeRule{{op: policy.OpFile, match: f, d: block("ksp")}}}, 0, env, args...)
	if res.code != 13 {
		t.Errorf("exit %d, want 13 (EACCES in the thread)", res.code)
	}
	got := find(res.events, "File", f)
	if len(got) != 1 || got[0].Alert == nil {
		t.Fatalf("want one alert:\n%s", dump(res.events))
	}
}

// TestCloneIdentity: every kind of child (fork, vfork, a CLONE_PARENT
// grandchild, threads from clone and fork events, a fork after another
// thread changed its own uid) is named in its events as it sees itself.
// The tracer builds a child from its parent when the parent's event comes
// first and from /proc when the child's first stop does (which comes first
// varies, so each kind runs several times); both must agree with the child.
func TestCloneIdentity(t *testing.T) {
	const times = 30
	bin := buildStatic(t, "testdata/cloneid.c")
	base := filepath.Join(t.TempDir(), "f")
	kinds := []string{"fork", "vfork", "parent", "thread", "tsigchld"}
	if os.Getuid() == 0 {
		kinds = append(kinds, "creds")
	}
	pol := fakePolicy{}
	for _, k := range kinds {
		pol.rules = append(pol.rules, fakeRule{op: policy.OpFile, match: base + "." + k, d: audit("ksp-" + k)})
	}
	res := traceRun(t, pol, 0, nil, bin, base, strconv.Itoa(times))
	if res.code != 0 {
		t.Fatalf("exit %d, stdout:\n%s", res.code, res.stdout)
	}
	// What each kind's children said of themselves, by pid (a thread's is
	// its process's).
	seen := map[string]map[int32][2]int32{}
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		var kind string
		var pid, ppid, uid int32
		if _, err := fmt.Sscanf(line, "%s %d %d %d", &kind, &pid, &ppid, &uid); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if seen[kind] == nil {
			seen[kind] = map[int32][2]int32{}
		}
		seen[kind][pid] = [2]int32{ppid, uid}
	}
	for _, k := range kinds {
		t.Run(k, func(t *testing.T) {
			got := find(res.events, "File", base+"."+k)
			if len(got) != times {
				t.Fatalf("want %d alerts for %s.%s, got %d:\n%s", times, base, k, len(got), dump(res.events))
			}
			for _, ev := range got {
				a := ev.Alert
				want, ok := seen[k][a.PID]
				if !ok || [2]int32{a.PPID, a.UID} != want || a.ProcessName != bin {
					t.Errorf("event names PID %d PPID %d UID %d %s; the %s children said (pid: ppid, uid) %v, exe %s:\n%s",
						a.PID, a.PPID, a.UID, a.ProcessName, k, seen[k], bin, dump([]schema.Event{ev}))
				}
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		helper bool
		want   int
	}{
		{"exit-0", []string{"exit", "0"}, true, 0},
		{"exit-7", []string{"exit", "7"}, true, 7},
		{"go-killed-by-SIGTERM", []string{"kill-self"}, true, 128 + int(syscall.SIGTERM)},
		{"shell-killed-by-SIGUSR1", []string{"/bin/sh", "-c", "kill -USR1 $$"}, false, 128 + int(syscall.SIGUSR1)},
		{"not-found-path", []string{"/nonexistent/cmd"}, false, 127},
		{"not-found-PATH", []string{"bluelock-no-such-command"}, false, 127},
		{"not-executable", []string{os.Args[0] + ".notexec"}, false, 126},
		{"directory", []string{"/tmp"}, false, 126},
		{"shell-exit", []string{"/bin/sh", "-c", "exit 3"}, false, 3},
	}
	notExec := os.Args[0] + ".notexec"
	os.WriteFile(notExec, []byte("x"), 0o644)
	defer os.Remove(notExec)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args, env := c.args, []string(nil)
			if c.helper {
				args, env = helper(t, c.args...)
			}
			res := traceRun(t, fakePolicy{}, 0, env, args...)
			if res.code != c.want {
				t.Errorf("exit %d, want %d", res.code, c.want)
			}
		})
	}
}

// TestRefusals: what the filter refuses, seen from a real tracee.
func TestRefusals(t *testing.T) {
	cases := []struct {
		action string
		want   int // helper exit: 1 EPERM, 38 ENOSYS; dumpable prints PR_GET_DUMPABLE
	}{
		{"ptrace", 1},
		{"io_uring", 38},
		{"clone-untraced", 1},
		{"new-listener", 1},
		{"clone3", 38},
		{"dumpable", 1},
	}
	for _, c := range cases {
		t.Run(c.action, func(t *testing.T) {
			args, env := helper(t, c.action)
			res := traceRun(t, fakePolicy{}, 0, env, args...)
			if res.code != c.want {
				t.Errorf("exit %d, want %d", res.code, c.want)
			}
		})
	}
}

func TestCapabilitiesDropped(t *testing.T) {
	args, env := helper(t, "caps")
	res := traceRun(t, fakePolicy{}, 0, env, args...)
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	const capSysPtrace = 19
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		if k == "NoNewPrivs" {
			if v != "1" {
				t.Errorf("NoNewPrivs %s, want 1", v)
			}
			continue
		}
		var mask uint64
		if _, err := fmtSscanHex(v, &mask); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if mask&(1<<capSysPtrace) != 0 {
			t.Errorf("%s still holds CAP_SYS_PTRACE", line)
		}
	}
	if !strings.Contains(res.stdout, "CapBnd") || !strings.Contains(res.stdout, "NoNewPrivs") {
		t.Errorf("caps output incomplete: %q", res.stdout)
	}
}

// TestTrappedCountsOnce: a call trapped again after the argument region was
// mapped into its process is counted once in syscalls_trapped_total. Stage
// 2's execve of the app is the first call of its image that needs the
// region, and the only one mapped at a seccomp stop (images get it at exec,
// TestRegionAtExec), so it traps twice; the static busybox then makes
// exactly one openat. Needs root and busybox-static.
func TestTrappedCountsOnce(t *testing.T) {
	const bb = "/usr/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		t.Skipf("%s: %v (make deps-test installs busybox-static)", bb, err)
	}
	stats := NewStats()
	r := traceRunStats(t, fakePolicy{}, stats, nil, bb, "cat", "/etc/hostname")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	if n := stats.RegionInjected.Load() - stats.RegionAtExec.Load(); n != 1 {
		t.Fatalf("the region was injected at %d seccomp stops, want 1: this test no longer covers a re-trapped call", n)
	}
	for name, want := range map[string]uint64{"execve": 1, "openat": 1} {
		if n := stats.Syscalls()[name]; n != want {
			t.Errorf("%s counted %d times, want %d", name, n, want)
		}
	}
}

// TestEventCwdFollowsMoves: events report the working directory of the
// moment, though the tracer keeps it between events: a chdir, an fchdir,
// another thread's chdir and a rename of the directory each show in the
// next event.
func TestEventCwdFollowsMoves(t *testing.T) {
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	for _, p := range []string{"a", "sub/b"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), nil, 0o644)
	}
	argv, env := helper(t, "cwd-moves", dir)
	res := traceRunIn(t, dir, fakePolicy{}, VisFile, env, argv...)
	if res.code != 0 {
		t.Fatalf("helper exit %d", res.code)
	}
	type open struct{ resource, cwd string }
	var got []open
	for _, ev := range find(res.events, "File", dir+"/") {
		if strings.Contains(ev.Log.Data, "SYS_OPEN") {
			got = append(got, open{ev.Log.Resource, ev.Log.Cwd})
		}
	}
	want := []open{
		{dir + "/a", dir},
		{dir + "/sub/b", dir + "/sub"}, // after chdir
		{dir + "/a", dir},              // after fchdir
		{dir + "/sub/b", dir + "/sub"}, // after another thread's chdir
		{dir + "/moved/b", dir + "/moved"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("opens and their Cwd:\n got %v\nwant %v\n%s", got, want, dump(res.events))
	}
}
