package tracer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/tracer/reloc"
	"github.com/bluelock/bluelock/tracer/sys"
)

// TestRegionFdKeepsTableSmall: the region's descriptor fits the 64-entry
// descriptor table a process starts with, so a traced process needs no
// bigger one (at 1023 every fork copied a table of 1,024, and every exit
// scanned it). The shell first closes what the test inherited (a fork
// sizes the child's table by the highest descriptor open; its close of the
// region's is faked), then forks cat ("; true": bash would exec a last
// command in place, keeping its own table).
func TestRegionFdKeepsTableSmall(t *testing.T) {
	script := `for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done; cat /proc/self/status; true`
	res := traceRun(t, fakePolicy{}, 0, nil, "/bin/bash", "-c", script)
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	var size string
	for _, l := range strings.Split(res.stdout, "\n") {
		if v, ok := strings.CutPrefix(l, "FDSize:"); ok {
			size = strings.TrimSpace(v)
		}
	}
	if size != "64" {
		t.Errorf("a traced process has a descriptor table of %q entries, want 64:\n%s", size, res.stdout)
	}
}

// TestHighDescriptorsAroundRegionFd: programs that pick a free high
// descriptor step around the region's: bash's process substitution takes
// 63 when it is free, another under bluelock (region.c checks that a dup2
// onto it is faked).
func TestHighDescriptorsAroundRegionFd(t *testing.T) {
	res := traceRun(t, fakePolicy{}, 0, nil, "/bin/bash", "-c", "echo <(true); cat <(echo substituted)")
	taken := "/dev/fd/" + strconv.Itoa(reloc.Fd) + "\n"
	if res.code != 0 || !strings.HasSuffix(res.stdout, "\nsubstituted\n") || strings.HasPrefix(res.stdout, taken) {
		t.Errorf("process substitution: exit %d, stdout %q (want it around %s)", res.code, res.stdout, strings.TrimSpace(taken))
	}
}

// TestInheritedRegionFdRefused: a descriptor the app inherits at the
// region's number is the app's; stage 2 refuses to start rather than
// replace it.
func TestInheritedRegionFdRefused(t *testing.T) {
	if res := traceRun(t, fakePolicy{}, 0, nil, "/bin/true"); res.code != 0 {
		t.Fatalf("without the descriptor: exit %d", res.code)
	}
	if _, err := unix.FcntlInt(uintptr(reloc.Fd), unix.F_GETFD, 0); err == nil {
		t.Fatalf("descriptor %d is already open in the test process: the test would replace it", reloc.Fd)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if err := unix.Dup3(int(null.Fd()), reloc.Fd, 0); err != nil { // inheritable
		t.Fatal(err)
	}
	defer unix.Close(reloc.Fd)
	if res := traceRun(t, fakePolicy{}, 0, nil, "/bin/true"); res.code != 1 {
		t.Errorf("with descriptor %d inherited: exit %d, want stage 2's 1", reloc.Fd, res.code)
	}
}

// TestArgumentRegion runs testdata/region.c under the real tracer: the region
// is injected at the first relocated call and after an exec, its descriptor
// survives close/dup2/FD_CLOEXEC, memory calls that would touch its block are
// refused while others run, and relocated opens (absolute, relative, dirfd,
// O_CREAT|O_EXCL) still mean what the app asked.
func TestArgumentRegion(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc is needed to build the test program")
	}
	bin := filepath.Join(t.TempDir(), "region")
	if b, err := exec.Command("gcc", "-O2", "-Wall", "-DREGION_FD="+strconv.Itoa(reloc.Fd), "-o", bin, "testdata/region.c").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stats := NewStats()
	res := traceRunStats(t, fakePolicy{}, stats, nil, bin, "0x"+strconv.FormatUint(reloc.Addr, 16), dir)
	t.Logf("program output:\n%s", res.stdout)
	if res.code != 0 || strings.Contains(res.stdout, "FAIL") {
		t.Fatalf("exit %d, failed checks above", res.code)
	}
	if n := stats.RegionInjected.Load(); n < 2 {
		t.Errorf("region injected %d times, want at least 2 (the program and its exec'd child)", n)
	}
	if n := stats.RegionRefusals.Load(); n < 4 {
		t.Errorf("%d memory calls refused, want at least 4", n)
	}
	if stats.Relocated.Load() == 0 || stats.RelocFailedClosed.Load() != 0 {
		t.Errorf("relocated %d, failed closed %d", stats.Relocated.Load(), stats.RelocFailedClosed.Load())
	}
}

// TestRegionMappedByVforkChild: a process whose first relocated call is
// made by its vfork child (a static program that spawns before it opens
// anything): the child's execve maps the region into the shared address
// space, before the exec replaces the child's own. The parent's injection
// then meets the region already there, which serves it; failing its calls
// closed instead (as before) broke the program's first open.
func TestRegionMappedByVforkChild(t *testing.T) {
	bin := buildStatic(t, "testdata/vforkfirst.c")
	out := filepath.Join(t.TempDir(), "created")
	stats := NewStats()
	res := traceRunStats(t, fakePolicy{mayBlock: true}, stats, nil, bin, out)
	if res.code != 0 {
		t.Fatalf("exit %d (13: the parent's open failed closed)", res.code)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("the open did not create its file: %v", err)
	}
	if n := stats.RelocFailedClosed.Load(); n != 0 {
		t.Errorf("%d calls failed closed for want of the region", n)
	}
}

// TestRestartedOnlyOwnSlot: an argument is left where it is only when every
// argument read lies in the caller's own slot. A pointer into another
// thread's slot (every slot is readable in every tracee) must be copied: that
// slot is rewritten at the other thread's next stop, while this call may
// still be reading it.
func TestRestartedOnlyOwnSlot(t *testing.T) {
	own, other := 5, 6
	at := func(slot int, off uint64) uint64 { return reloc.Addr + uint64(slot)*reloc.SlotSize + off }
	cases := []struct {
		name string
		sys  string
		ptrs []uint64 // argument registers holding pointers, in relocTable order
		want bool
	}{
		{"own-slot", "openat", []uint64{at(own, 0)}, true},
		{"other-thread-slot", "openat", []uint64{at(other, 0)}, false},
		{"app-memory", "openat", []uint64{0x7000_0000}, false},
		{"string-runs-into-next-slot", "openat", []uint64{at(own, reloc.SlotSize-4)}, false},
		{"both-in-own-slot", "rename", []uint64{at(own, 0), at(own, 64)}, true},
		{"one-in-own-slot-one-not", "rename", []uint64{at(own, 0), 0x7000_0000}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var regs sys.Regs
			var cp capture
			for i, ra := range relocTable[c.sys] {
				regs.SetArg(ra.arg, c.ptrs[i])
				cp.str(c.ptrs[i], "/some/checked/path")
			}
			if got := restarted(relocTable[c.sys], &regs, &cp, own); got != c.want {
				t.Fatalf("restarted = %v, want %v", got, c.want)
			}
		})
	}
}

// TestInheritRegion: a forked child takes its parent's region state only
// where the fork settles it. A mapping made after the forking thread's last
// stop (by a sibling thread) may postdate the fork's copy of the address
// space, so the child's maps must say.
func TestInheritRegion(t *testing.T) {
	cases := []struct {
		name          string
		parent        process
		forkerStopped uint64
		want          regionState
	}{
		{"mapped before the forker's last stop", process{region: regionMapped, mappedAt: 3}, 7, regionMapped},
		{"mapped at the forker's last stop (its own injection)", process{region: regionMapped, mappedAt: 7}, 7, regionMapped},
		{"mapped since, by a sibling thread", process{region: regionMapped, mappedAt: 8}, 7, regionUnknown},
		{"forker never seen stopped", process{region: regionMapped, mappedAt: 1}, 0, regionUnknown},
		{"needed", process{region: regionNeeded}, 7, regionNeeded},
		{"failed", process{region: regionFailed}, 7, regionUnknown},
		{"unknown", process{region: regionUnknown}, 7, regionUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := inheritRegion(&c.parent, c.forkerStopped); got != c.want {
				t.Errorf("inheritRegion = %v, want %v", got, c.want)
			}
		})
	}
}

// TestRegionAtExec: every image a tracee execs gets the region from the
// exec-time stub, with no stop of its own; only stage 2, whose execve of the
// app is its first relocatable call, has it injected at a seccomp stop. The
// opens of the shell and of cat (relocated, so they need the region) work.
func TestRegionAtExec(t *testing.T) {
	stats := NewStats()
	res := traceRunStats(t, fakePolicy{}, stats, nil, "/bin/sh", "-c", "/bin/cat /etc/hostname; /bin/true")
	want, _ := os.ReadFile("/etc/hostname")
	if res.code != 0 || res.stdout != string(want) {
		t.Fatalf("exit %d, output %q; want 0, %q", res.code, res.stdout, want)
	}
	if n := stats.RegionAtExec.Load(); n != 3 {
		t.Errorf("region mapped at exec %d times, want 3 (sh, cat, true)", n)
	}
	if at, all := stats.RegionAtExec.Load(), stats.RegionInjected.Load(); all != at+1 {
		t.Errorf("region injected %d times, %d of them at exec; want one more (stage 2)", all, at)
	}
	if stats.Relocated.Load() == 0 || stats.RelocFailedClosed.Load() != 0 {
		t.Errorf("relocated %d, failed closed %d", stats.Relocated.Load(), stats.RelocFailedClosed.Load())
	}
}

// TestRegionTakenAtExec: a static program with a segment of its own where
// the region goes (testdata/taken.c). The stub's mmap fails, it stops at its
// int3 and the registers exec left are put back: the program runs as if the
// stub had never been there. Injection at its first relocatable call fails
// as well, so that open fails closed.
func TestRegionTakenAtExec(t *testing.T) {
	bin := buildStatic(t, "testdata/taken.c", "-Wl,--section-start=.taken=0x"+strconv.FormatUint(reloc.Addr, 16))
	stats := NewStats()
	res := traceRunStats(t, fakePolicy{}, stats, nil, bin, "/etc/hostname")
	if res.code != 0 || res.stdout != "open /etc/hostname: Permission denied\n" {
		t.Fatalf("exit %d, output %q; want the program to run and its open to fail closed", res.code, res.stdout)
	}
	if n := stats.RegionAtExec.Load(); n != 0 {
		t.Errorf("region mapped at exec %d times, want 0", n)
	}
	if n := stats.RelocFailedClosed.Load(); n != 1 {
		t.Errorf("%d calls failed closed for want of the region, want 1", n)
	}
}

// buildStatic compiles a static test program from src. Without gcc the test
// is skipped; a failed build fails it (libc6-dev ships libc.a), so a
// security test never passes by not running.
func buildStatic(t *testing.T, src string, flags ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc is needed to build the test program")
	}
	bin := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	args := append([]string{"-O2", "-Wall", "-static", "-o", bin, src}, flags...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("build static %s: %v\n%s", src, err, b)
	}
	return bin
}
