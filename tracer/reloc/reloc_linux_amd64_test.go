package reloc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/tracer/sys"
)

// buildTracee compiles testdata/tracee.c (the traced side of these tests).
func buildTracee(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc is needed to build the tracee")
	}
	out := filepath.Join(t.TempDir(), "tracee")
	if b, err := exec.Command("gcc", "-O2", "-Wall", "-DREGION_FD="+strconv.Itoa(Fd), "-o", out, "testdata/tracee.c", "-lpthread").CombinedOutput(); err != nil {
		t.Fatalf("build tracee: %v\n%s", err, b)
	}
	return out
}

// mini is a minimal tracer over this package: it injects the region at a
// process's first seccomp stop, then for every traced openat reads the path,
// refuses paths containing "SECRET" (EACCES) and, when relocate is set,
// moves the checked path into the thread's slot.
type mini struct {
	t         testing.TB
	region    *Region
	relocate  bool
	slots     Slots
	mapped    map[int]bool // by pid (tgid == tid of the leader in these tests)
	injected  int
	denied    int
	injectErr error
	failed    bool // injection failed: every call fails closed
	// once, if set, runs at the first decided stop (for benchmarks).
	once func(tid int, regs *sys.Regs)
}

// run starts the tracee with args under the mini tracer and returns its
// output. Precondition: the calling goroutine is locked to its OS thread.
func (m *mini) run(tracee string, args ...string) (string, unix.WaitStatus) {
	t := m.t
	t.Helper()
	syncR, syncW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer syncR.Close()
	defer syncW.Close()
	var out bytes.Buffer
	cmd := exec.Command(tracee, append([]string{"0x" + strconv.FormatUint(Addr, 16), strconv.Itoa(Size)}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.ExtraFiles = []*os.File{syncR, m.region.File()} // fd 3, fd 4
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	opts := unix.PTRACE_O_EXITKILL | unix.PTRACE_O_TRACESECCOMP | unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACESYSGOOD
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, uintptr(opts), 0, 0); e != 0 {
		_ = cmd.Process.Kill()
		t.Fatalf("seize: %v", e)
	}
	if _, err := syncW.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	m.mapped = map[int]bool{}
	var final unix.WaitStatus
	for {
		var ws unix.WaitStatus
		tid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("wait4: %v", err)
		}
		if tid == pid && (ws.Exited() || ws.Signaled()) {
			final = ws
			break
		}
		m.handle(tid, pid, ws)
	}
	_ = cmd.Wait() // reaped already; collects the output copiers
	return out.String(), final
}

func (m *mini) handle(tid, pid int, ws unix.WaitStatus) {
	t := m.t
	switch {
	case !ws.Stopped():
		m.slots.Release(tid)
		return
	case ws.StopSignal() == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_SECCOMP:
	case ws.TrapCause() > 0 || ws.StopSignal() == unix.SIGTRAP|0x80:
		_ = unix.PtraceCont(tid, 0)
		return
	default:
		_ = unix.PtraceCont(tid, int(ws.StopSignal()))
		return
	}
	if !m.mapped[pid] {
		m.mapped[pid] = true
		resumed, other, err := Inject(tid)
		m.injectErr = err
		if resumed && err != nil {
			m.failed = true // the syscall re-traps and is failed closed below
			return
		}
		if err != nil || !resumed {
			t.Errorf("inject: %v (other status %v)", err, other)
			_ = unix.Kill(pid, unix.SIGKILL)
			return
		}
		m.injected++
		ok, err := m.region.Mapped("/proc", pid)
		if err != nil || !ok {
			t.Errorf("after injection the region is not mapped as it must be (%v)", err)
		}
		return // the original openat traps again
	}
	var regs sys.Regs
	if err := sys.GetRegs(tid, &regs); err != nil {
		t.Errorf("getregs: %v", err)
		return
	}
	if regs.Nr() != unix.SYS_OPENAT {
		t.Errorf("unexpected traced syscall %d", regs.Nr())
	}
	if m.once != nil {
		m.once(tid, &regs)
		m.once = nil
	}
	path, err := sys.ReadString(tid, uintptr(regs.Arg(1)), sys.PathMax)
	switch {
	case m.failed || err != nil || strings.Contains(path, "SECRET"):
		m.denied++
		regs.SkipWithErrno(unix.EACCES)
	case m.relocate:
		slot, ok := m.slots.Get(tid)
		if !ok {
			regs.SkipWithErrno(unix.EACCES)
			break
		}
		addrs, err := m.region.Put(nil, slot, append([]byte(path), 0))
		if err != nil {
			regs.SkipWithErrno(unix.EACCES)
			break
		}
		regs.SetArg(1, addrs[0])
	default:
		_ = sys.Cont(tid, 0)
		return
	}
	if err := sys.SetSyscallRegs(tid, &regs); err != nil {
		t.Errorf("setregs: %v", err)
		_ = unix.Kill(tid, unix.SIGKILL)
	}
	_ = sys.Cont(tid, 0)
}

func newRegion(t testing.TB) *Region {
	t.Helper()
	r, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRegionSealed(t *testing.T) {
	r := newRegion(t)
	seals, err := unix.FcntlInt(uintptr(r.Fd()), unix.F_GET_SEALS, 0)
	if err != nil || seals&Seals != Seals {
		t.Fatalf("seals %#x (%v), want %#x", seals, err, Seals)
	}
	if _, err := unix.Write(r.Fd(), []byte("x")); err != unix.EPERM {
		t.Errorf("write to the sealed memfd: %v, want EPERM", err)
	}
	if _, err := unix.Mmap(r.Fd(), 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != unix.EPERM {
		t.Errorf("new writable shared mapping: %v, want EPERM", err)
	}
	ro, err := unix.Mmap(r.Fd(), 0, 4096, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("read-only mapping: %v", err)
	}
	defer unix.Munmap(ro)
	if err := unix.Mprotect(ro, unix.PROT_READ|unix.PROT_WRITE); err != unix.EACCES {
		t.Errorf("mprotect(PROT_WRITE) of a read-only mapping made after sealing: %v, want EACCES", err)
	}
	// The tracer's own mapping still writes, and others see it. Put appends
	// the tracee addresses to what dst holds, and leaves that alone.
	addrs, err := r.Put([]uint64{7}, 3, []byte("hello\x00"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{7, Addr + 3*SlotSize}; !slices.Equal(addrs, want) {
		t.Errorf("Put addresses %#x, want %#x", addrs, want)
	}
	got := make([]byte, 6)
	if _, err := unix.Pread(r.Fd(), got, 3*SlotSize); err != nil || string(got) != "hello\x00" {
		t.Errorf("pread %q %v", got, err)
	}
}

func lockThread(t testing.TB) {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("ptrace tests need root (or ptrace_scope 0 with the same uid); CI runs them as root")
	}
}

// TestInjectAndWriteProtection injects the region into a real tracee and has
// the tracee try every way to write it.
func TestInjectAndWriteProtection(t *testing.T) {
	requireRoot(t)
	tracee := buildTracee(t)
	lockThread(t)
	r := newRegion(t)
	if _, err := r.Put(nil, 0, []byte("bluelock-marker\x00")); err != nil {
		t.Fatal(err)
	}
	m := &mini{t: t, region: r}
	out, ws := m.run(tracee, "check", "/dev/null")
	t.Logf("tracee:\n%s", out)
	if m.injected != 1 {
		t.Errorf("injected %d times, want 1", m.injected)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 || strings.Contains(out, "FAIL") {
		t.Fatalf("tracee status %v; some write got through:\n%s", ws, out)
	}
	want := fmt.Sprintf("maps %x-%x r--s 00000000 ", Addr, Addr+Size)
	if !strings.Contains(out, want) || !strings.Contains(out, "content bluelock-marker") {
		t.Fatalf("want a line starting %q and the marker:\n%s", want, out)
	}
}

// TestInjectTaken: when the region's address is taken the injection reports
// ErrTaken, the original syscall still re-traps, and is failed closed.
func TestInjectTaken(t *testing.T) {
	requireRoot(t)
	tracee := buildTracee(t)
	lockThread(t)
	m := &mini{t: t, region: newRegion(t)}
	out, ws := m.run(tracee, "taken")
	if !errors.Is(m.injectErr, ErrTaken) {
		t.Fatalf("inject error %v, want ErrTaken", m.injectErr)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 || !strings.Contains(out, "taken -1 Permission denied") {
		t.Fatalf("tracee %v, want the openat failed closed with EACCES:\n%s", ws, out)
	}
}

// TestRelocatedOpenatRace is issue 9's attack at package level: a second
// thread flips the path buffer between an allowed file and a SECRET one. The
// tracer checks the path at the seccomp stop; without relocation the kernel
// re-reads the app's buffer and sometimes opens the secret; with it the kernel
// reads the checked copy in the region.
func TestRelocatedOpenatRace(t *testing.T) {
	requireRoot(t)
	tracee := buildTracee(t)
	dir := t.TempDir()
	allowed, secret := filepath.Join(dir, "public"), filepath.Join(dir, "SECRET")
	if err := os.WriteFile(allowed, []byte("public\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("SECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tries := 20000
	if testing.Short() {
		tries = 2000
	}
	for _, relocate := range []bool{false, true} {
		name := map[bool]string{false: "checked-only", true: "relocated"}[relocate]
		t.Run(name, func(t *testing.T) {
			lockThread(t) // a subtest runs on its own goroutine: ptrace must come from one thread
			m := &mini{t: t, region: newRegion(t), relocate: relocate}
			out, ws := m.run(tracee, "race", strconv.Itoa(tries), allowed, secret)
			var n, opened, wins int
			if _, err := fmt.Sscanf(out, "race %d %d %d", &n, &opened, &wins); err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
				t.Fatalf("tracee status %v output:\n%s", ws, out)
			}
			t.Logf("%s: %d tries, %d opened, %d denied at the check, %d won the race", name, n, opened, m.denied, wins)
			if opened == 0 {
				t.Fatalf("no open succeeded: the test proves nothing")
			}
			if relocate && wins != 0 {
				t.Fatalf("relocated: the secret was opened %d times in %d tries", wins, n)
			}
		})
	}
}

// BenchmarkTrappedOpenat measures one traced openat+close under the mini
// tracer, with and without relocation: the difference is relocation's cost
// per trapped syscall (a slot write and one PTRACE_SETREGS).
func BenchmarkTrappedOpenat(b *testing.B) {
	requireRoot(b)
	tracee := buildTracee(b)
	r := newRegion(b)
	for _, relocate := range []bool{false, true} {
		b.Run(map[bool]string{false: "checked-only", true: "relocated"}[relocate], func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			m := &mini{t: b, region: r, relocate: relocate}
			b.ResetTimer()
			out, ws := m.run(tracee, "loop", strconv.Itoa(b.N))
			var n, ns int
			if _, err := fmt.Sscanf(out, "loop %d %d", &n, &ns); err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
				b.Fatalf("tracee status %v output:\n%s", ws, out)
			}
			b.ReportMetric(float64(ns), "tracee-ns/op")
		})
	}
}

// TestRelocationCost runs the loop interleaved with and without relocation
// and logs the medians (the machine may be loaded: compare within one run).
func TestRelocationCost(t *testing.T) {
	requireRoot(t)
	if testing.Short() {
		t.Skip("timing")
	}
	tracee := buildTracee(t)
	lockThread(t)
	r := newRegion(t)
	const n, runs = 20000, 5
	res := map[bool][]int{}
	for range runs {
		for _, relocate := range []bool{false, true} {
			m := &mini{t: t, region: r, relocate: relocate}
			out, ws := m.run(tracee, "loop", strconv.Itoa(n))
			var got, ns int
			if _, err := fmt.Sscanf(out, "loop %d %d", &got, &ns); err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
				t.Fatalf("tracee status %v output:\n%s", ws, out)
			}
			res[relocate] = append(res[relocate], ns)
		}
	}
	med := func(v []int) int { sort.Ints(v); return v[len(v)/2] }
	t.Logf("openat+close, ns per iteration, median of %d interleaved runs of %d: checked-only %d %v, relocated %d %v, difference %d",
		runs, n, med(res[false]), res[false], med(res[true]), res[true], med(res[true])-med(res[false]))
}

// BenchmarkRelocateStep is the tracer-side work relocation adds to one
// allowed trapped syscall, on a really stopped tracee: copy the checked path
// into the slot, point the argument at it, PTRACE_SETREGS. (Without
// relocation an allowed call needs no SETREGS at all.)
func BenchmarkRelocateStep(b *testing.B) {
	requireRoot(b)
	tracee := buildTracee(b)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := newRegion(b)
	path := append([]byte("/usr/lib/x86_64-linux-gnu/libc.so.6"), 0)
	m := &mini{t: b, region: r, relocate: true}
	m.once = func(tid int, regs *sys.Regs) {
		var s Slots
		slot, _ := s.Get(tid)
		saved := regs.Arg(1)
		b.ResetTimer()
		for range b.N {
			addrs, err := r.Put(nil, slot, path)
			if err != nil {
				b.Fatal(err)
			}
			regs.SetArg(1, addrs[0])
			if err := sys.SetSyscallRegs(tid, regs); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		regs.SetArg(1, saved)
	}
	if out, ws := m.run(tracee, "check", "/dev/null"); !ws.Exited() || ws.ExitStatus() != 0 {
		b.Fatalf("tracee %v:\n%s", ws, out)
	}
}
