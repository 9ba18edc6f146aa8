// Package bypass_test is the adversarial suite: real attack programs (testdata/
// attacks.c, built by the test) run under the real bluelock binary with Block
// policies on a secret file, a binary and a network protocol. Each attack first
// runs WITHOUT bluelock as a control, so a test that passes proves bluelock
// stopped an attack that works, not an attack that never could. docs/security.md
// holds the same table in prose; keep them in sync.
package bypass_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type outcome int

const (
	// mustStop: the attack must fail under bluelock.
	mustStop outcome = iota
	// limitation: a documented limitation (docs/security.md); the test asserts
	// the documented result, so fixing it (or regressing) changes the test.
	limitation
	// measured: a race; the test reports the measured rate against its target.
	measured
)

type policyKind string

const (
	blockList policyKind = "blocklist"
	allowList policyKind = "allowlist"
)

type attack struct {
	name    string
	policy  policyKind
	want    outcome
	control bool   // must succeed natively
	why     string // why it is stopped, or why it is a limitation
}

var attacks = []attack{
	{"path-direct", blockList, mustStop, true, "file rule on the resolved path"},
	{"path-relative", blockList, mustStop, true, "relative paths joined to the calling thread's cwd"},
	{"path-dirfd", blockList, mustStop, true, "dirfd resolved through /proc/<tid>/fd"},
	{"path-dotdot", blockList, mustStop, true, ".. resolved physically"},
	{"path-symlink", blockList, mustStop, true, "symlinks resolved in the tracee's root (its own after a chroot)"},
	{"path-dir-symlink", blockList, mustStop, true, "symlinked directories resolved"},
	{"path-chroot", blockList, limitation, true, "rules match the path as the process names it: after chroot(ROOT) the secret is /secret/token, another name"},
	{"path-proc-root", blockList, mustStop, true, "/proc/self/root magic link resolved"},
	{"path-proc-cwd", blockList, mustStop, true, "/proc/self/cwd magic link resolved"},
	{"path-opath-reopen", blockList, mustStop, true, "O_PATH opens are checked like any open"},
	{"path-openat2-inroot", blockList, mustStop, true, "openat2 RESOLVE_IN_ROOT resolved relative to dirfd"},
	{"path-openat2-beneath", blockList, mustStop, true, "openat2 RESOLVE_BENEATH resolved relative to dirfd"},
	{"path-hardlink-new", blockList, mustStop, true, "link() of a protected path is a write to it"},
	{"path-hardlink-pre", blockList, limitation, true, "rules match names, not inodes: a hard link made before start (e.g. in the image) is another name"},
	{"rename-out", blockList, mustStop, true, "rename() of a protected path is a write to it"},
	{"rename-over", blockList, mustStop, true, "rename() onto a protected path is a write to it"},
	{"unlink-secret", blockList, mustStop, true, "unlink() of a protected path is a write to it"},
	// Was measured (82 to 366 wins in 5,000); pinned opens (openat2 of the
	// checked path with RESOLVE_NO_SYMLINKS) brought it to 0, so any win fails.
	{"race-symlink-swap", blockList, mustStop, true, "pinned opens: the kernel opens the checked, symlink-free path and follows no link"},
	{"race-dir-swap", blockList, mustStop, true, "pinned opens: a directory swapped for a symlink after the check fails the kernel's lookup (ELOOP)"},
	{"race-link-swap", blockList, mustStop, true, "serialized path calls: no tracee can swap a directory between a link's check and its end"},
	{"race-loop-swap", blockList, mustStop, true, "a walk that fails (a loop) decides nothing: the call fails closed instead of being judged on its lexical name"},
	// Was measured (2,353 and 2,596 wins in 20,000); argument relocation
	// brought it to 0 in every run, so it is now asserted: any win fails.
	{"race-toctou", blockList, mustStop, true, "argument relocation: the kernel reads the checked copy in a region the app cannot write"},
	{"exec-direct", blockList, mustStop, true, "process rule on the resolved executable"},
	{"exec-ldso", blockList, mustStop, true, "the dynamic loader's program argument is checked as the executable"},
	{"exec-shebang", blockList, mustStop, true, "the loaded image is re-checked at PTRACE_EVENT_EXEC"},
	{"exec-thread", blockList, mustStop, true, "execve from a non-leader thread is trapped like any other"},
	{"exec-copy", blockList, limitation, true, "process rules match paths: a copy under another name is another path (use an allow-list)"},
	{"exec-copy", allowList, mustStop, true, "under an allow-list, an unknown path meets the block posture"},
	{"exec-memfd", blockList, limitation, true, "fileless exec of a copy: another path (use an allow-list)"},
	{"exec-memfd", allowList, mustStop, true, "under an allow-list, /memfd: meets the block posture"},
	{"sys-int80", blockList, mustStop, true, "non-native arch kills the process in the filter"},
	{"sys-x32", blockList, mustStop, false, "x32 syscall numbers kill the process in the filter"},
	{"sys-io-uring", blockList, mustStop, true, "io_uring_setup refused (ENOSYS)"},
	{"sys-open-by-handle", blockList, mustStop, true, "name_to_handle_at/open_by_handle_at refused"},
	{"sys-process-vm-writev", blockList, mustStop, true, "process_vm_writev refused"},
	{"sys-ptrace", blockList, mustStop, true, "ptrace refused in the filter"},
	{"sys-clone-untraced", blockList, mustStop, true, "clone(CLONE_UNTRACED) refused in the filter"},
	{"sys-new-listener", blockList, mustStop, true, "seccomp NEW_LISTENER refused in the filter"},
	{"sys-nondumpable", blockList, mustStop, true, "PR_SET_DUMPABLE 0 answered without effect; unreadable arguments fail closed"},
	{"bind-mount", blockList, mustStop, true, "mount refused in the filter"},
	{"userns-bind-mount", blockList, mustStop, true, "unshare(CLONE_NEWUSER|CLONE_NEWNS) refused in the filter"},
	{"net-udp", blockList, mustStop, true, "network protocol rule at socket()"},
	{"net-udp-proto", blockList, mustStop, true, "explicit IPPROTO_UDP"},
	{"net-udp6", blockList, mustStop, true, "AF_INET6 and SOCK_CLOEXEC|SOCK_NONBLOCK flags"},
	{"policy-api-lift", blockList, mustStop, false, "traced processes may not connect to the tracer's policy APIs on any local address (--protect-ports)"},
	{"tracer-environ", blockList, mustStop, false, "the tracer overwrites its secrets in its own environment block and hides them from the app's environment"},
	{"tracer-kill", blockList, mustStop, false, "PTRACE_O_EXITKILL: the app dies with the tracer (as PID 1 in a container the tracer cannot be killed from inside)"},
	{"tracer-stop", blockList, mustStop, false, "a stopped tracer stops trapped syscalls: fail closed"},
	{"fork-storm", blockList, mustStop, true, "every child is traced from its first instruction"},
	{"event-flood", blockList, mustStop, true, "enforcement never waits on delivery; a full queue drops logs, not decisions"},
}

// raceTarget is what the issue asks: zero wins in 20,000 attempts.
const raceTries = 20000

type env struct {
	bluelock string
	attacks  string
	marker   string
}

func setup(t *testing.T) env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("bypass suite needs root (ptrace, mounts, hard links to root-owned files); CI runs it as root")
	}
	bl := os.Getenv("BLUELOCK_BIN")
	if bl == "" {
		if p, err := filepath.Abs("../../bin/bluelock"); err == nil {
			bl = p
		}
	}
	if _, err := os.Stat(bl); err != nil {
		t.Skipf("bluelock binary not found (%v): run `make build` or set BLUELOCK_BIN", err)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc is needed to build the attack programs")
	}
	dir := t.TempDir()
	e := env{bluelock: bl, attacks: filepath.Join(dir, "attacks"), marker: filepath.Join(dir, "marker")}
	build := func(out, src string, args ...string) {
		cmd := exec.Command("gcc", append([]string{"-O2", "-w", "-o", out, src}, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", src, err, b)
		}
	}
	build(e.attacks, "testdata/attacks.c", "-lpthread")
	build(e.marker, "testdata/marker.c")
	return e
}

// victim is one fresh tree per attack run.
type victim struct {
	root, secret, policy, events string
}

func newVictim(t *testing.T, e env, kind policyKind) victim {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"secret", "bin", "work"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	secret := "s3cr3t-" + hex.EncodeToString(b[:])
	write := func(p, s string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "secret", "token"), secret+"\n", 0o644)
	write(filepath.Join(root, "allowed.txt"), "allowed\n", 0o644)
	marker, err := os.ReadFile(e.marker)
	if err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(root, "bin", "blocked"), string(marker), 0o755)
	if err := os.Link(filepath.Join(root, "secret", "token"), filepath.Join(root, "work", "prehard")); err != nil {
		t.Fatal(err)
	}
	v := victim{root: root, secret: secret, policy: filepath.Join(root, "policy.yaml"), events: filepath.Join(root, "events.jsonl")}
	write(v.policy, policyYAML(kind, root, e), 0o644)
	return v
}

func policyYAML(kind policyKind, root string, e env) string {
	block := fmt.Sprintf(`apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: bypass-block
spec:
  selector:
    matchLabels: {}
  severity: 9
  message: bypass suite
  file:
    matchDirectories:
    - dir: %[1]s/secret/
      recursive: true
  process:
    matchPaths:
    - path: %[1]s/bin/blocked
  network:
    matchProtocols:
    - protocol: udp
  action: Block
`, root)
	if kind == blockList {
		return block
	}
	// An allow-list for the process domain: only the system and the attack
	// program may run; with the file posture at block, anything else is denied.
	return block + fmt.Sprintf(`---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: bypass-allow-exec
spec:
  selector:
    matchLabels: {}
  process:
    matchDirectories:
    - dir: /usr/
      recursive: true
    - dir: /bin/
      recursive: true
    - dir: /lib/
      recursive: true
    - dir: /lib64/
      recursive: true
    - dir: %s/
      recursive: true
  action: Allow
`, filepath.Dir(e.attacks))
}

type result struct {
	stdout   string
	exitCode int
	signal   syscall.Signal
}

func (r result) bypassed(secret string) bool {
	return strings.Contains(r.stdout, "BYPASS") || strings.Contains(r.stdout, secret) || strings.Contains(r.stdout, "BLOCKED-BINARY-RAN")
}

func run(ctx context.Context, t *testing.T, argv []string, extraEnv []string, whileRunning func(pid int)) result {
	t.Helper()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	if whileRunning != nil {
		whileRunning(cmd.Process.Pid)
	}
	err := cmd.Wait()
	r := result{stdout: out.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.signal = ws.Signal()
			r.exitCode = -1
		} else {
			r.exitCode = ws.ExitStatus()
		}
	default:
		t.Fatalf("run %v: %v", argv, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%v did not finish in time; output:\n%s", argv, r.stdout)
	}
	return r
}

func TestAttacks(t *testing.T) {
	e := setup(t)
	for _, a := range attacks {
		t.Run(string(a.policy)+"/"+a.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			attackEnv := []string{"RACE_TRIES=" + strconv.Itoa(raceTries)}

			if a.control {
				// A race can lose natively too, on a busy machine (make test
				// runs packages side by side); a race that loses three
				// times running proves nothing.
				tries := 1
				if strings.HasPrefix(a.name, "race-") {
					tries = 3
				}
				var r result
				var works bool
				for range tries {
					v := newVictim(t, e, a.policy)
					r = run(ctx, t, []string{e.attacks, a.name, v.root}, attackEnv, nil)
					works = r.bypassed(v.secret)
					if a.want == measured {
						works = raceWins(r.stdout) > 0
					}
					if works {
						break
					}
				}
				if !works && a.name == "sys-int80" && r.signal == syscall.SIGSEGV {
					// Some hypervisors (this CI's PVM guests among them) do not deliver
					// int 0x80 even with CONFIG_IA32_EMULATION=y: the attack cannot run
					// here at all. tracer/filter's BPF VM tests cover arch=i386; below we
					// still check that nothing leaks under bluelock.
					t.Logf("control: int 0x80 faults natively on this kernel (SIGSEGV); the filter's VM test covers arch=i386")
				} else if !works {
					t.Fatalf("control: %s does not work even without bluelock, so it proves nothing:\n%s", a.name, r.stdout)
				}
				t.Logf("control without bluelock: %s", firstLine(r.stdout, "BYPASS", "toctou", "symlink swap"))
			}

			v := newVictim(t, e, a.policy)
			argv := []string{e.bluelock, "--policy", v.policy, "--emit", "file:" + v.events,
				"--posture-file", "block", "--visibility", "none", "--", e.attacks, a.name, v.root}
			var during func(pid int)
			if a.name == "tracer-stop" {
				during = func(pid int) { resumeWhenStopped(ctx, t, pid) }
			}
			tracerEnv := attackEnv
			if a.name == "tracer-environ" {
				// A token the attack must not find: the victim's secret itself.
				tracerEnv = append(append([]string(nil), attackEnv...), "BLUELOCK_POLICY_TOKEN="+v.secret)
			}
			r := run(ctx, t, argv, tracerEnv, during)
			t.Logf("under bluelock (exit %d, signal %v): %s", r.exitCode, r.signal, firstLine(r.stdout, "stopped", "BYPASS", "toctou", "symlink swap"))
			if !strings.Contains(r.stdout, "attack "+a.name+": started") {
				t.Fatalf("%s never ran under bluelock (the tracer did not start it), so nothing was tested:\n%s", a.name, r.stdout)
			}
			assertNoSurvivors(t, v.root)

			switch a.want {
			case mustStop:
				if r.bypassed(v.secret) {
					t.Fatalf("BYPASS of %s under bluelock (%s):\n%s", a.name, a.why, r.stdout)
				}
				if r.exitCode == 0 {
					t.Fatalf("%s exited 0 under bluelock without a bypass marker; output:\n%s", a.name, r.stdout)
				}
			case limitation:
				if !r.bypassed(v.secret) {
					t.Fatalf("%s is documented as a limitation (%s) but was stopped: update docs/security.md and this table\n%s", a.name, a.why, r.stdout)
				}
				t.Logf("documented limitation: %s", a.why)
			case measured:
				wins := raceWins(r.stdout)
				if wins < 0 {
					t.Fatalf("%s printed no race summary:\n%s", a.name, r.stdout)
				}
				t.Logf("RACE %s: %d wins in the run (target 0)", a.name, wins)
				if wins > 0 {
					t.Logf("documented limitation: %s — see docs/security.md", a.why)
				}
			}
		})
	}
}

// TestBlockedAccessAlert checks the alert a blocked access produces, so the
// suite also proves the user hears of an attack.
func TestBlockedAccessAlert(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := newVictim(t, e, blockList)
	r := run(ctx, t, []string{e.bluelock, "--policy", v.policy, "--emit", "file:" + v.events, "--posture-file", "block",
		"--", e.attacks, "path-symlink", v.root}, nil, nil)
	if r.bypassed(v.secret) || !strings.Contains(r.stdout, "Permission denied") {
		t.Fatalf("want Permission denied, got:\n%s", r.stdout)
	}
	alerts := readAlerts(t, v.events)
	for _, a := range alerts {
		if a["PolicyName"] == "bypass-block" && a["Action"] == "Block" && a["Result"] == "Permission denied" &&
			a["Operation"] == "File" && a["Resource"] == filepath.Join(v.root, "secret", "token") {
			if a["Severity"] != "9" || a["Type"] != "MatchedPolicy" {
				t.Fatalf("alert fields: %v", a)
			}
			return
		}
	}
	t.Fatalf("no Block alert for the symlinked secret among %d events: %v", len(alerts), alerts)
}

func readAlerts(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("events file: %v", err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("event is not JSON: %v: %s", err, sc.Text())
		}
		if m["Type"] == "MatchedPolicy" {
			out = append(out, m)
		}
	}
	return out
}

// resumeWhenStopped waits until the tracer is stopped by the attack, then
// continues it: the attack's trapped open must have waited, not run.
func resumeWhenStopped(ctx context.Context, t *testing.T, pid int) {
	t.Helper()
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				return
			}
			s := string(b)
			if i := strings.LastIndexByte(s, ')'); i > 0 && len(s) > i+2 && s[i+2] == 'T' {
				_ = syscall.Kill(pid, syscall.SIGCONT)
				return
			}
		}
	}()
}

// assertNoSurvivors fails if any process still runs with the victim's root on
// its command line: nothing may outlive the tracer.
func assertNoSurvivors(t *testing.T, root string) {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), root) {
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if strings.Contains(string(stat), ") Z ") {
				continue
			}
			t.Errorf("process %d survived: %q", pid, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

func raceWins(out string) int {
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "opened, "); i >= 0 && (strings.HasPrefix(l, "toctou:") || strings.HasPrefix(l, "symlink swap")) {
			var n int
			if _, err := fmt.Sscanf(l[i+len("opened, "):], "%d", &n); err == nil {
				return n
			}
		}
	}
	return -1
}

func firstLine(out string, prefixes ...string) string {
	for _, l := range strings.Split(out, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				return l
			}
		}
	}
	if len(out) > 200 {
		return out[:200]
	}
	return out
}
