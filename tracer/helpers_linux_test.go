package tracer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/tracer/container"
)

// helperEnv makes the test binary a scripted tracee: TestMain runs
// helperMain(os.Args[1:]) instead of the tests (runc's init_test.go idea).
const helperEnv = "BLUELOCK_TEST_HELPER"

func TestMain(m *testing.M) {
	MaybeStage2()
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helperMain performs one scripted action and reports through its exit
// code: 0 success, 13 EACCES, 1 anything else (printed).
func helperMain(args []string) int {
	errnoExit := func(err error) int {
		switch {
		case err == nil:
			return 0
		case errors.Is(err, unix.EACCES):
			return 13
		case errors.Is(err, unix.EPERM):
			return 1
		case errors.Is(err, unix.ENOSYS):
			return 38
		}
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	switch args[0] {
	case "open": // open PATH [FLAGS]
		fd, err := unix.Open(args[1], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return errnoExit(err)
	case "open-n", "open-n-late": // open-n PATH N: open and close PATH N times
		n, _ := strconv.Atoi(args[2])
		if args[0] == "open-n-late" {
			// After the stop loop's rest that follows the exec (spin.go),
			// so that it polls for these opens.
			time.Sleep(spawnRest + 10*time.Millisecond)
		}
		for i := 0; i < n; i++ {
			fd, err := unix.Open(args[1], unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return errnoExit(err)
			}
			unix.Close(fd)
		}
		return 0
	case "write": // write PATH: O_WRONLY|O_CREAT|O_TRUNC
		fd, err := unix.Openat(unix.AT_FDCWD, args[1], unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
		if err == nil {
			unix.Close(fd)
		}
		return errnoExit(err)
	case "cwd-moves": // cwd-moves DIR: relative opens while the cwd moves (see TestEventCwdFollowsMoves)
		runtime.LockOSThread()
		dir := args[1]
		open := func(p string) func() error {
			return func() error {
				fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err == nil {
					unix.Close(fd)
				}
				return err
			}
		}
		steps := []func() error{
			open("a"),
			func() error { return unix.Chdir("sub") },
			open("b"),
			func() error {
				fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				return unix.Fchdir(fd)
			},
			open("a"),
			func() error {
				// Another thread moves the working directory all threads share.
				errc := make(chan error)
				go func() {
					runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
					errc <- unix.Chdir("sub")
				}()
				return <-errc
			},
			open("b"),
			func() error { return unix.Rename(dir+"/sub", dir+"/moved") },
			open("b"),
		}
		for i, step := range steps {
			if err := step(); err != nil {
				fmt.Fprintf(os.Stderr, "helper: cwd-moves step %d: %v\n", i, err)
				return 2
			}
		}
		return 0
	case "chroot-open": // chroot DIR, then open PATH (in DIR's view)
		if err := unix.Chroot(args[1]); err != nil {
			return errnoExit(err)
		}
		fd, err := unix.Open(args[2], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return errnoExit(err)
	case "thread-open": // open PATH from a second OS thread
		errc := make(chan error)
		go func() {
			runtime.LockOSThread() // a fresh thread: never unlocked, so it dies with the goroutine
			fd, err := unix.Open(args[1], unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			errc <- err
		}()
		return errnoExit(<-errc)
	case "thread-exec": // exec PATH ARGS... from a non-leader thread
		errc := make(chan error)
		go func() {
			runtime.LockOSThread()
			errc <- unix.Exec(args[1], args[1:], os.Environ())
		}()
		return errnoExit(<-errc)
	case "exec": // exec PATH ARGS...
		return errnoExit(unix.Exec(args[1], args[1:], os.Environ()))
	case "fork-exec": // run PATH ARGS... as a child, exit with its code
		cmd := exec.Command(args[1], args[2:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			return errnoExit(err)
		}
		return 0
	case "vfork-exec": // posix_spawn-style: clone(CLONE_VM|CLONE_VFORK) then exec
		pid, err := syscall.ForkExec(args[1], args[1:], &syscall.ProcAttr{Files: []uintptr{0, 1, 2}})
		if err != nil {
			return errnoExit(err)
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			return errnoExit(err)
		}
		return ws.ExitStatus()
	case "connect": // connect HOST:PORT (tcp)
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return errnoExit(err)
		}
		defer unix.Close(fd)
		fmt.Println(fd)
		return errnoExit(unix.Connect(fd, &unix.SockaddrInet4{Port: 9, Addr: [4]byte{127, 0, 0, 1}}))
	case "listen": // bind 127.0.0.1:0, listen, print the port
		fd, at, err := listenLoopback()
		if err != nil {
			return errnoExit(err)
		}
		defer unix.Close(fd)
		fmt.Println(at.Port)
		return 0
	case "accept": // listen on 127.0.0.1:0, connect to it, accept; print the client's port
		ln, at, err := listenLoopback()
		if err != nil {
			return errnoExit(err)
		}
		defer unix.Close(ln)
		cl, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return errnoExit(err)
		}
		defer unix.Close(cl)
		// Loopback completes the handshake into the backlog: no second thread.
		if err := unix.Connect(cl, at); err != nil {
			return errnoExit(err)
		}
		conn, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC)
		if err != nil {
			return errnoExit(err)
		}
		unix.Close(conn)
		me, err := unix.Getsockname(cl)
		if err != nil {
			return errnoExit(err)
		}
		fmt.Println(me.(*unix.SockaddrInet4).Port)
		return 0
	case "connect-hang": // connect, say so on stdout, then wait to be killed
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return errnoExit(err)
		}
		_ = unix.Connect(fd, &unix.SockaddrInet4{Port: 9, Addr: [4]byte{127, 0, 0, 1}})
		fmt.Println("connected")
		select {}
	case "sigterm": // wait for SIGTERM in a handler, then exit 42
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		fmt.Println("ready")
		<-ch
		return 42
	case "kill-self": // die by SIGTERM (Go's default action for it: exit by the signal)
		unix.Kill(os.Getpid(), unix.SIGTERM)
		select {}
	case "stopcont": // stop and continue a child; report what waitpid saw
		cmd := exec.Command("/bin/sleep", "30")
		if err := cmd.Start(); err != nil {
			return errnoExit(err)
		}
		pid := cmd.Process.Pid
		defer cmd.Process.Kill()
		var ws unix.WaitStatus
		unix.Kill(pid, unix.SIGSTOP)
		if _, err := unix.Wait4(pid, &ws, unix.WUNTRACED, nil); err != nil || !ws.Stopped() {
			fmt.Fprintln(os.Stderr, "helper: not stopped", ws, err)
			return 3
		}
		fmt.Println("stopped")
		unix.Kill(pid, unix.SIGCONT)
		if _, err := unix.Wait4(pid, &ws, unix.WCONTINUED, nil); err != nil || !ws.Continued() {
			fmt.Fprintln(os.Stderr, "helper: not continued", ws, err)
			return 4
		}
		fmt.Println("continued")
		return 0
	case "orphan-open": // orphan-open PATH: a grandchild opens PATH after its parent exited; wait for it
		// The middle process is a shell (another exe than the tracer's):
		// it starts the late opener in the background and exits at once.
		self, _ := os.Executable()
		pid, err := orphanOf(`"$0" orphan-late-open "$1" $$`, self, args[1])
		if err != nil {
			return errnoExit(err)
		}
		awaitExit(pid)
		return 0
	case "orphan-late-open": // orphan-late-open PATH PPID: once PPID is reaped, open PATH
		// Reaped, not only exited: its parent can reap it only after the
		// tracer has taken its exit report, so the tracer knows by now.
		old, _ := strconv.Atoi(args[2])
		for {
			if _, err := os.Stat("/proc/" + args[2]); os.Getppid() != old && errors.Is(err, fs.ErrNotExist) {
				break
			}
			runtime.Gosched() // no sleep: the parent's end is what we wait for
		}
		fd, err := unix.Open(args[1], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return errnoExit(err)
	case "orphan": // make an orphan, wait (pidfd) until it has exited, check it is reaped
		// The middle process starts /bin/true in the background and exits
		// at once, so true's parent becomes the subreaper (the tracer).
		pid, err := orphanOf("/bin/sleep 0.05")
		if err != nil {
			return errnoExit(err)
		}
		if !awaitExit(pid) {
			return 0 // already exited and reaped
		}
		// Exited; the reaper must collect it: waitid on the pidfd from here
		// fails (not our child), so watch /proc until the zombie is gone.
		// (Yielding, not sleeping: the reaper runs in another process.)
		for start := time.Now(); time.Since(start) < 20*time.Second; {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				return 0 // reaped
			}
			runtime.Gosched()
		}
		fmt.Fprintln(os.Stderr, "helper: orphan never reaped")
		return 5
	case "open-badptr": // openat with a path pointer into unmapped memory
		cwd := unix.AT_FDCWD
		_, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(cwd), 0x10, unix.O_RDONLY, 0, 0, 0)
		return errnoExit(errnoOrNil(e))
	case "openat2": // openat2 PATH RESOLVE-BITS (hex)
		var resolve uint64
		fmt.Sscanf(args[2], "%x", &resolve)
		fd, err := unix.Openat2(unix.AT_FDCWD, args[1], &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: resolve})
		if err == nil {
			unix.Close(fd)
		}
		return errnoExit(err)
	case "open-page-end": // open PATH from a string that ends at an unmapped page
		return errnoExit(openAtPageEnd(args[1]))
	case "open-semantics": // the opens of TestPinnedOpensKeepSemantics, one line each
		return openSemantics()
	case "rename-storm": // 4 threads renaming in DIR at once
		return errnoExit(renameStorm(args[1]))
	case "serial-fifo": // see TestSerialized/pinned-opens-do-not-wait
		return errnoExit(serialFifo(args[1]))
	case "serial-kill": // see TestSerialized/inflight-dies
		return errnoExit(serialKill(args[1]))
	case "reopen-fd": // reopen-fd N [READY]: write a byte to fd READY, then open /proc/self/fd/N for reading (blocks on a FIFO without writers)
		runtime.LockOSThread()
		holdPreemption()
		if len(args) > 2 {
			if r, err := strconv.Atoi(args[2]); err == nil {
				_, _ = unix.Write(r, []byte{1})
			}
		}
		fd, err := unix.Open("/proc/self/fd/"+args[1], unix.O_RDONLY, 0)
		if err == nil {
			unix.Close(fd)
		}
		return errnoExit(err)
	case "own-filter-open": // stack a filter refusing openat2, then open PATH
		return errnoExit(ownFilterOpen(args[1]))
	case "exit": // exit with code N
		var n int
		fmt.Sscan(args[1], &n)
		return n
	case "ptrace":
		_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0, 0, 0, 0)
		return errnoExit(errnoOrNil(e))
	case "io_uring":
		_, _, e := unix.RawSyscall(unix.SYS_IO_URING_SETUP, 8, 0, 0)
		return errnoExit(errnoOrNil(e))
	case "clone-untraced":
		_, _, e := unix.RawSyscall6(unix.SYS_CLONE, unix.CLONE_UNTRACED|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
		return errnoExit(errnoOrNil(e)) // on success the child returns here too and exits 0: fine
	case "new-listener":
		_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, 0)
		return errnoExit(errnoOrNil(e))
	case "clone3":
		_, _, e := unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
		return errnoExit(errnoOrNil(e))
	case "dumpable": // PR_SET_DUMPABLE 0 must "succeed" and change nothing
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
			return errnoExit(err)
		}
		d, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		return d // 1 when the filter faked it
	case "caps": // print CapEff/CapPrm/CapBnd/CapAmb/CapInh and NoNewPrivs
		b, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Cap") || strings.HasPrefix(l, "NoNewPrivs") {
				fmt.Println(l)
			}
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "helper: unknown action", args)
	return 2
}

// orphanOf runs cmd (sh syntax, with args as $0, $1, ...) in the
// background of a shell that exits at once, and returns its pid: the
// process is orphaned and reparented to the subreaper (the tracer).
func orphanOf(cmd string, args ...string) (int, error) {
	out, err := exec.Command("/bin/sh", append([]string{"-c", cmd + " & echo $!"}, args...)...).Output()
	if err != nil {
		return 0, err
	}
	var pid int
	_, err = fmt.Sscan(string(out), &pid)
	return pid, err
}

// awaitExit blocks until pid has exited (its pidfd polls readable). It
// reports false if pid was already gone.
func awaitExit(pid int) bool {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false
	}
	defer unix.Close(pidfd)
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); !errors.Is(err, unix.EINTR) {
			return true
		}
	}
}

func errnoOrNil(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// requirePtrace skips when this process may not trace (not root, or ptrace
// disabled by Yama/seccomp): the tracer tests need real ptrace.
func requirePtrace(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("tracer tests need root (CAP_SYS_PTRACE and seccomp); CI runs them as root")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil && strings.TrimSpace(string(b)) == "3" {
		t.Skip("ptrace disabled by kernel.yama.ptrace_scope=3")
	}
}

// recorder is a channel-backed Emitter. The stop loop emits synchronously,
// so every event is in the channel when Run returns.
type recorder struct{ ch chan schema.Event }

func newRecorder() *recorder             { return &recorder{ch: make(chan schema.Event, 4096)} }
func (r *recorder) Emit(ev schema.Event) { r.ch <- ev }

func (r *recorder) all() []schema.Event {
	var out []schema.Event
	for {
		select {
		case ev := <-r.ch:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// fakePolicy decides from a table: the first rule whose op matches and
// whose path (or protocol, capability, syscall) equals the request's.
type fakePolicy struct {
	rules    []fakeRule
	mayBlock bool
}

type fakeRule struct {
	op    policy.Operation
	match string
	d     policy.Decision
}

func (f fakePolicy) Decide(r policy.Request) policy.Decision {
	for _, rule := range f.rules {
		if rule.op != r.Op {
			continue
		}
		var key string
		switch r.Op {
		case policy.OpProcess, policy.OpFile:
			key = r.Path
		case policy.OpNetwork:
			key = r.Protocol
		case policy.OpCapabilities:
			key = r.Capability
		case policy.OpSyscall:
			key = r.Syscall
		}
		if key == rule.match {
			return rule.d
		}
	}
	return policy.Decision{Verdict: policy.Allow, Action: "Allow"}
}

func (f fakePolicy) MayBlock(policy.Operation) bool { return f.mayBlock }

func block(name string) policy.Decision {
	return policy.Decision{Verdict: policy.Block, Action: "Block", PolicyName: name, Severity: 5,
		Tags: []string{"T1", "T2"}, Message: "blocked by test", Alert: true}
}

func audit(name string) policy.Decision {
	return policy.Decision{Verdict: policy.Audit, Action: "Audit", PolicyName: name, Severity: 3, Alert: true}
}

func allowSilent(name string) policy.Decision {
	return policy.Decision{Verdict: policy.Allow, Action: "Allow", PolicyName: name, Silent: true}
}

// testSelf is the test binary, re-executed as stage 2 and as the helper.
func testSelf(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type runResult struct {
	code   int
	events []schema.Event
	stdout string
}

var fixedTime = time.Date(2026, 11, 22, 20, 0, 0, 123456000, time.UTC)

// traceRun runs args under the tracer with pol, capturing stdout and events.
func traceRun(t *testing.T, pol Policy, vis Visibility, env []string, args ...string) runResult {
	t.Helper()
	return traceRunWith(t, pol, vis, NewStats(), env, args...)
}

// traceRunStats is traceRun with visibility off and the caller's counters.
func traceRunStats(t *testing.T, pol Policy, stats *Stats, env []string, args ...string) runResult {
	t.Helper()
	return traceRunWith(t, pol, 0, stats, env, args...)
}

func traceRunWith(t *testing.T, pol Policy, vis Visibility, stats *Stats, env []string, args ...string) runResult {
	t.Helper()
	return traceRunTuned(t, pol, vis, stats, env, nil, args...)
}

// traceRunTuned is traceRunWith where tune (if not nil) adjusts the Config
// before Run.
func traceRunTuned(t *testing.T, pol Policy, vis Visibility, stats *Stats, env []string, tune func(*Config), args ...string) runResult {
	t.Helper()
	requirePtrace(t)
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	rec := newRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := Config{
		Args:       args,
		Env:        append(os.Environ(), env...),
		Self:       testSelf(t),
		Policy:     pol,
		Emitter:    rec,
		Visibility: vis,
		Stats:      stats,
		Container:  container.Info{HostName: "testhost", ContainerName: "app"},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Stdout:     out,
		Now:        func() time.Time { return fixedTime },
	}
	if tune != nil {
		tune(&cfg)
	}
	code, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run(%q): %v", args, err)
	}
	b, _ := os.ReadFile(out.Name())
	return runResult{code: code, events: rec.all(), stdout: string(b)}
}

// helper returns argv running the helper action, and the env that selects it.
func helper(t *testing.T, action ...string) ([]string, []string) {
	return append([]string{testSelf(t)}, action...), []string{helperEnv + "=1"}
}

// find returns events whose Operation is op and whose Resource starts with res.
func find(evs []schema.Event, op, res string) []schema.Event {
	var out []schema.Event
	for _, ev := range evs {
		var o, r string
		if ev.Alert != nil {
			o, r = ev.Alert.Operation, ev.Alert.Resource
		} else {
			o, r = ev.Log.Operation, ev.Log.Resource
		}
		if o == op && strings.HasPrefix(r, res) {
			out = append(out, ev)
		}
	}
	return out
}

func dump(evs []schema.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		j, _ := json.Marshal(ev)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func fmtSscanHex(s string, v *uint64) (int, error) { return fmt.Sscanf(s, "%x", v) }

// traceRunInStats is traceRunIn with visibility off and the caller's
// counters.
func traceRunInStats(t *testing.T, dir string, pol Policy, stats *Stats, env []string, args ...string) runResult {
	t.Helper()
	defer chdirFor(t, dir)()
	return traceRunStats(t, pol, stats, env, args...)
}

// traceRunIn is traceRun with the app's working directory set to dir.
func traceRunIn(t *testing.T, dir string, pol Policy, vis Visibility, env []string, args ...string) runResult {
	t.Helper()
	defer chdirFor(t, dir)()
	return traceRun(t, pol, vis, env, args...)
}

// chdirFor moves this process to dir, which Run's app inherits, and returns
// the move back (tests here are not parallel).
func chdirFor(t *testing.T, dir string) func() {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	return func() { _ = os.Chdir(wd) }
}

// listenLoopback is a TCP socket bound to 127.0.0.1:0 and listening, and
// the address it got (socket, bind, listen, getsockname: each traced).
func listenLoopback() (int, *unix.SockaddrInet4, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, err
	}
	sa, err := func() (unix.Sockaddr, error) {
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return nil, err
		}
		if err := unix.Listen(fd, 1); err != nil {
			return nil, err
		}
		return unix.Getsockname(fd)
	}()
	if err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, sa.(*unix.SockaddrInet4), nil
}
