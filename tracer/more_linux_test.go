package tracer

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluelock/bluelock/policy"
)

// TestListenLocalAddress: a listen's event names the socket's own address
// (getsockname), where a connect's and a bind's come from their argument.
func TestListenLocalAddress(t *testing.T) {
	args, env := helper(t, "listen")
	res := traceRun(t, fakePolicy{}, VisNetwork, env, args...)
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	port := strings.TrimSpace(res.stdout)
	var seen []string
	for _, ev := range find(res.events, "Network", "") {
		seen = append(seen, ev.Log.Data+": "+ev.Log.Resource)
	}
	want := []string{
		"syscall=SYS_BIND fd=FD: sa_family=AF_INET sin_port=0 sin_addr=127.0.0.1",
		"syscall=SYS_LISTEN fd=FD: sa_family=AF_INET sin_port=" + port + " sin_addr=127.0.0.1",
	}
	var got []string
	for _, s := range seen {
		if strings.Contains(s, "SYS_BIND") || strings.Contains(s, "SYS_LISTEN") {
			got = append(got, regexp.MustCompile(`fd=\d+`).ReplaceAllString(s, "fd=FD"))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("bind and listen events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAcceptPeerAddress: an accept's event names the peer it accepted,
// read from its output sockaddr at the exit stop. Needs root (ptrace).
func TestAcceptPeerAddress(t *testing.T) {
	args, env := helper(t, "accept")
	res := traceRun(t, fakePolicy{}, VisNetwork, env, args...)
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	want := "sa_family=AF_INET sin_port=" + strings.TrimSpace(res.stdout) + " sin_addr=127.0.0.1"
	var seen []string
	for _, ev := range find(res.events, "Network", "") {
		if strings.Contains(ev.Log.Data, "SYS_ACCEPT") {
			if ev.Log.Resource == want && ev.Log.Result == "Passed" {
				return
			}
			seen = append(seen, ev.Log.Data+": "+ev.Log.Resource+" ("+ev.Log.Result+")")
		}
	}
	t.Fatalf("no accept event names the peer %q; accept events:\n%s", want, strings.Join(seen, "\n"))
}

func TestNetwork(t *testing.T) {
	self := testSelf(t)
	cases := []struct {
		name     string
		rules    []fakeRule
		wantCode int
		want     []view
	}{
		{name: "logs", wantCode: 2, want: []view{
			{Type: "ContainerLog", Operation: "Network", Resource: "domain=AF_INET type=SOCK_STREAM|SOCK_CLOEXEC protocol=TCP",
				Data: "syscall=SYS_SOCKET", Result: "Passed", ProcessName: self, Source: self},
			{Type: "ContainerLog", Operation: "Network", Resource: "sa_family=AF_INET sin_port=9 sin_addr=127.0.0.1",
				Data: "syscall=SYS_CONNECT fd=FD", Result: "Connection refused", ProcessName: self, Source: self},
		}},
		{name: "block-tcp", wantCode: 13, rules: []fakeRule{{op: policy.OpNetwork, match: "tcp", d: block("ksp-net")}},
			want: []view{{Type: "MatchedPolicy", PolicyName: "ksp-net", Severity: "5", Tags: "T1,T2", ATags: []string{"T1", "T2"},
				Message: "blocked by test", Operation: "Network", Resource: "domain=AF_INET type=SOCK_STREAM|SOCK_CLOEXEC protocol=TCP",
				Data: "syscall=SYS_SOCKET", Enforcer: "bluelock", Action: "Block", Result: "Permission denied", ProcessName: self, Source: self}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args, env := helper(t, "connect")
			res := traceRun(t, fakePolicy{rules: c.rules}, VisNetwork, env, args...)
			if res.code != c.wantCode {
				t.Errorf("exit %d, want %d", res.code, c.wantCode)
			}
			fd := strings.TrimSpace(res.stdout) // the helper prints its socket's number
			for i := range c.want {
				c.want[i].Data = strings.ReplaceAll(c.want[i].Data, "FD", fd)
			}
			var got []view
			for _, v := range views(find(res.events, "Network", "")) {
				if strings.Contains(v.Resource, "AF_INET") {
					got = append(got, v)
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestSignalForwarded: a SIGTERM for PID 1 reaches the app's handler, and
// the app's exit code comes back.
func TestSignalForwarded(t *testing.T) {
	requirePtrace(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	args, env := helper(t, "sigterm")
	sigs := make(chan os.Signal, 1)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	self := testSelf(t)
	go func() {
		code, err := Run(ctx, Config{Args: args, Env: append(os.Environ(), env...), Self: self,
			Policy: fakePolicy{}, Stdout: pw, Signals: sigs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		pw.Close()
		done <- result{code, err}
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	sigs <- syscall.SIGTERM
	r := <-done
	if r.err != nil || r.code != 42 {
		t.Fatalf("Run = %d, %v; want 42 (the handler's exit code)", r.code, r.err)
	}
}

// TestStopContinue: job control works under the tracer: the app stops its
// child, its waitpid sees the stop (WUNTRACED), it continues the child and
// sees that too (WCONTINUED).
func TestStopContinue(t *testing.T) {
	args, env := helper(t, "stopcont")
	res := traceRun(t, fakePolicy{}, 0, env, args...)
	if res.code != 0 || res.stdout != "stopped\ncontinued\n" {
		t.Fatalf("exit %d, stdout %q", res.code, res.stdout)
	}
}

// TestOrphanReaped: a grandchild orphaned by its parent is reparented to the
// tracer and reaped: the app sees it vanish, not linger as a zombie.
func TestOrphanReaped(t *testing.T) {
	args, env := helper(t, "orphan")
	res := traceRun(t, fakePolicy{}, 0, env, args...)
	if res.code != 0 {
		t.Fatalf("exit %d, stdout %q", res.code, res.stdout)
	}
}

const abiProbe = `
#include <string.h>
/* Makes one syscall through a foreign ABI from a 64-bit process. Without
   our filter it returns; with it the process must die (SIGSYS). */
int main(int argc, char **argv) {
	long r = 0;
	static const char path[] = "/etc/hostname";
	if (argc > 1 && strcmp(argv[1], "i386") == 0) {
		/* i386 getpid (20) through int 0x80. */
		__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
	} else if (argc > 1 && strcmp(argv[1], "i386-open") == 0) {
		/* i386 open (5): the filter must kill before the kernel looks at it. */
		__asm__ volatile("int $0x80" : "=a"(r) : "a"(5L), "b"(path), "c"(0L) : "memory");
	} else if (argc > 1 && strcmp(argv[1], "x32") == 0) {
		/* x32 getpid: 0x40000000 | 39 through the 64-bit syscall instruction. */
		__asm__ volatile("syscall" : "=a"(r) : "a"(0x40000000L | 39L) : "rcx", "r11", "memory");
	}
	return 0;
}
`

func TestForeignABIKilled(t *testing.T) {
	requirePtrace(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed: cannot build the i386/x32 probe")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "probe.c")
	bin := filepath.Join(dir, "probe")
	os.WriteFile(src, []byte(abiProbe), 0o644)
	if out, err := exec.Command(gcc, "-m64", "-static", "-O0", "-o", bin, src).CombinedOutput(); err != nil {
		t.Skipf("cannot build probe: %v\n%s", err, out)
	}
	abis := []string{"i386", "i386-open", "x32"}
	// Without the tracer the probe runs to the end where the platform has
	// the ABI (some VMs fault on int 0x80 with SIGSEGV instead).
	native := map[string]bool{}
	for _, abi := range abis {
		native[abi] = exec.Command(bin, abi).Run() == nil
	}
	for _, abi := range abis {
		t.Run("abi="+abi, func(t *testing.T) {
			res := traceRun(t, fakePolicy{}, 0, nil, bin, abi)
			switch {
			case res.code == 128+int(syscall.SIGSYS):
			case !native[abi] && res.code != 0:
				t.Logf("platform cannot run %s syscalls (it fails without the tracer too); under the tracer it still never succeeded (exit %d)", abi, res.code)
			default:
				t.Errorf("exit %d, want %d (killed by SIGSYS)", res.code, 128+int(syscall.SIGSYS))
			}
		})
	}
}

// TestOrphanEventParent: a process whose parent has exited reports its new
// parent (the tracer, as subreaper) in its events, not the dead one.
func TestOrphanEventParent(t *testing.T) {
	f := filepath.Join(t.TempDir(), "late")
	os.WriteFile(f, nil, 0o644)
	args, env := helper(t, "orphan-open", f)
	res := traceRun(t, fakePolicy{}, VisFile, env, args...)
	if res.code != 0 {
		t.Fatalf("exit %d, stdout %q", res.code, res.stdout)
	}
	opens := find(res.events, "File", f)
	if len(opens) != 1 {
		t.Fatalf("want one open of %s:\n%s", f, dump(res.events))
	}
	self, _ := os.Executable()
	if l := opens[0].Log; l.PPID != int32(os.Getpid()) || l.ParentProcessName != self {
		t.Errorf("orphan's open reports parent %d %q, want the subreaper %d %q", l.PPID, l.ParentProcessName, os.Getpid(), self)
	}
}

// TestPidfdsClosed: the pidfd a process gets at its first socket question
// is closed when it is gone, and those of processes still alive when Run
// ends with it: the tracer's fd table is as it was.
func TestPidfdsClosed(t *testing.T) {
	openFds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	self := testSelf(t)
	_, env := helper(t, "connect")
	// A first run makes whatever the runtime opens once (its poller).
	traceRun(t, fakePolicy{}, 0, nil, "/bin/true")
	before := openFds()
	res := traceRun(t, fakePolicy{}, VisNetwork, env, "/bin/sh", "-c", `"$0" connect; "$0" connect; exec "$0" connect`, self)
	if res.code != 2 { // connection refused, as in TestNetwork
		t.Fatalf("exit %d, stdout %q", res.code, res.stdout)
	}
	if n := len(find(res.events, "Network", "sa_family=AF_INET")); n != 3 {
		t.Fatalf("%d connects seen, want 3:\n%s", n, dump(res.events))
	}
	if after := openFds(); after != before {
		t.Errorf("%d descriptors open after Run, %d before", after, before)
	}

	// A process still alive when the app exits is killed by Run, which
	// closes its pidfd too. The shell waits (no sleep) until it connected.
	said := filepath.Join(t.TempDir(), "said")
	res = traceRun(t, fakePolicy{}, VisNetwork, env, "/bin/sh", "-c", `"$0" connect-hang > "$1" & while ! [ -s "$1" ]; do :; done`, self, said)
	if res.code != 0 {
		t.Fatalf("exit %d, stdout %q", res.code, res.stdout)
	}
	if n := len(find(res.events, "Network", "sa_family=AF_INET")); n != 1 {
		t.Fatalf("%d connects seen, want 1:\n%s", n, dump(res.events))
	}
	if after := openFds(); after != before {
		t.Errorf("%d descriptors open after a Run that killed a connected process, %d before", after, before)
	}
}
