package reloc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/tracer/internal/tracetest"
	"github.com/bluelock/bluelock/tracer/procfs"
	"github.com/bluelock/bluelock/tracer/sys"
)

func TestElfEnd(t *testing.T) {
	le := func(b []byte, off int, v uint64, n int) {
		for i := 0; i < n; i++ {
			b[off+i] = byte(v >> (8 * i))
		}
	}
	img := func(shoff, shnum, loadEnd uint64) []byte {
		b := make([]byte, 4096)
		copy(b, "\x7fELF\x02\x01")
		le(b, 0x20, 64, 8)       // e_phoff
		le(b, 0x28, shoff, 8)    // e_shoff
		le(b, 0x36, 56, 2)       // e_phentsize
		le(b, 0x38, 1, 2)        // e_phnum
		le(b, 0x3a, 64, 2)       // e_shentsize
		le(b, 0x3c, shnum, 2)    // e_shnum
		le(b, 64, 1, 4)          // PT_LOAD
		le(b, 64+32, loadEnd, 8) // p_filesz (p_offset 0)
		return b
	}
	cases := []struct {
		name string
		hdr  []byte
		want uint64
		err  bool
	}{
		{"section headers last", img(0x1620, 17, 0x1562), 0x1620 + 17*64, false},
		{"segment past the section headers", img(0x100, 2, 0x3000), 0x3000, false},
		{"no sections", img(0, 0, 0x800), 0x800, false},
		{"not ELF", make([]byte, 4096), 0, true},
		{"short", []byte("\x7fELF"), 0, true},
	}
	for _, c := range cases {
		got, err := elfEnd(c.hdr)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("%s: got %#x, %v; want %#x (error %v)", c.name, got, err, c.want, c.err)
		}
	}
}

// TestExecStub runs bash, traced, that moves the region's memfd to Fd and
// execs testdata/catmaps, static. At each post-exec stop the stub is
// started: in the shell, which has no descriptor Fd yet, the mmap fails
// (EBADF) and the stub stops at its int3, is restored and the shell runs
// on; catmaps then gets the region with no stop of its own, shows it, and
// exits cleanly only if the stub left rdx zero.
func TestExecStub(t *testing.T) {
	requireRoot(t)
	lockThread(t)
	stub, err := FindStub(procfs.Proc{Mount: "/proc"})
	if err != nil {
		t.Skipf("no room for the stub in this kernel's vDSO: %v", err)
	}
	catmaps := filepath.Join(t.TempDir(), "catmaps")
	if b, err := exec.Command("gcc", "-static", "-O2", "-o", catmaps, "testdata/catmaps.c").CombinedOutput(); err != nil {
		t.Fatalf("build catmaps (static; libc6-dev has libc.a): %v\n%s", err, b)
	}
	r := newRegion(t)
	var out bytes.Buffer
	cmd := exec.Command("/bin/bash", "-c", fmt.Sprintf("exec %d<&3; exec %s", Fd, catmaps))
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.ExtraFiles = []*os.File{r.File()} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	var started *Started
	var failures []error
	execs := 0
	for {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			t.Fatalf("wait4: %v", err)
		}
		if ws.Exited() || ws.Signaled() {
			if !ws.Exited() || ws.ExitStatus() != 0 {
				t.Fatalf("traced shell ended with %v:\n%s", ws, out.String())
			}
			break
		}
		sig := ws.StopSignal()
		if sig == unix.SIGTRAP {
			trapped, why := false, error(nil)
			if started != nil {
				if trapped, why, err = started.Trapped(pid); err != nil {
					t.Fatal(err)
				}
			}
			switch {
			case trapped:
				failures = append(failures, why)
				started = nil
			default: // the stop after an exec (PTRACE_TRACEME without TRACEEXEC)
				execs++
				if started, err = stub.Start(pid, procfs.Proc{Mount: "/proc"}); err != nil {
					t.Fatalf("start the stub: %v", err)
				}
			}
			sig = 0
		}
		if err := unix.PtraceCont(pid, int(sig)); err != nil {
			t.Fatal(err)
		}
	}
	_ = cmd.Wait()
	if execs != 2 {
		t.Errorf("saw %d execs, want 2 (bash, catmaps)", execs)
	}
	if len(failures) != 1 || !errors.Is(failures[0], unix.EBADF) {
		t.Errorf("stub failures %v, want one EBADF (the shell's, before it had descriptor %d)", failures, Fd)
	}
	want := fmt.Sprintf("%x-%x r--s 00000000 ", Addr, Addr+Size)
	if !strings.Contains(out.String(), want) {
		t.Fatalf("catmaps' maps have no line starting %q:\n%s", want, out.String())
	}
}

// TestVdsoFromStack reads the vDSO's address off a new image's stack at its
// exec stop, as /proc/<pid>/auxv has it, and gives up (for Start to ask
// /proc) when argv and the environment push the vector past stackScan.
func TestVdsoFromStack(t *testing.T) {
	requireRoot(t)
	lockThread(t)
	huge := make([]string, 0, 9000)
	for i := range cap(huge) {
		huge = append(huge, fmt.Sprintf("V%d=x", i))
	}
	cases := []struct {
		name     string
		env      []string
		fallback bool
	}{
		{"small environment", []string{"A=1"}, false},
		{"no environment", []string{}, false},
		{"vector past the scan", huge, true},
	}
	for _, c := range cases {
		cmd := exec.Command("/bin/true")
		cmd.Env = c.env
		cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil || !ws.Stopped() {
			t.Fatalf("%s: wait for the exec stop: %v %v", c.name, ws, err)
		}
		var regs unix.PtraceRegs
		if err := unix.PtraceGetRegs(pid, &regs); err != nil {
			t.Fatal(err)
		}
		got, err := vdsoFromStack(pid, regs.Rsp)
		want, perr := (procfs.Proc{Mount: "/proc"}).VDSO(pid)
		_ = unix.PtraceCont(pid, 0)
		_ = cmd.Wait()
		switch {
		case perr != nil:
			t.Fatalf("%s: /proc auxv: %v", c.name, perr)
		case c.fallback && err == nil:
			t.Errorf("%s: read %#x off the stack, want it to give up", c.name, got)
		case !c.fallback && (err != nil || got != want):
			t.Errorf("%s: off the stack %#x (%v), /proc says %#x", c.name, got, err, want)
		}
	}
}

// TestForcedWrite: PTRACE_POKEDATA, as the stub is written, writes into a
// read-only mapping of a stopped tracee (its code at the entry point of
// /bin/true, stopped at its exec).
func TestForcedWrite(t *testing.T) {
	pid := tracetest.AtExec(t, "/bin/true")
	var r unix.PtraceRegs
	if err := unix.PtraceGetRegs(pid, &r); err != nil {
		t.Fatal(err)
	}
	at := r.Rip &^ 7
	want := []byte("forced write, 24 bytes.\n")[:24]
	if err := sys.WriteMem(pid, uintptr(at), want); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if err := sys.ReadMem(pid, uintptr(at), got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %q, %v; want %q", got, err, want)
	}
}
