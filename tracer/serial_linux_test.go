//go:build amd64

package tracer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/policy"
)

// A policy that could block a file: serialization is on.
var fileRules = fakePolicy{mayBlock: true, rules: []fakeRule{{op: policy.OpFile, match: "/nonexistent/blocked", d: block("x")}}}

// TestSerializedRenameStorm: threads renaming at once all finish, and some
// waited for another (the serializer was exercised, and does not deadlock).
func TestSerializedRenameStorm(t *testing.T) {
	dir := t.TempDir()
	stats := NewStats()
	args, env := helper(t, "rename-storm", dir)
	res := traceRunStats(t, fileRules, stats, env, args...)
	if res.code != 0 {
		t.Fatalf("exit %d:\n%s", res.code, res.stdout)
	}
	if n := stats.ParkedCalls.Load(); n == 0 {
		t.Error("no rename ever waited for another: 4 threads x 500 renames never overlapped?")
	}
	t.Logf("%d calls waited", stats.ParkedCalls.Load())
}

// TestSerializedBlockedCallYields: an open that cannot be pinned (a FIFO
// reopened through /proc/self/fd) is in flight and blocks in the kernel. A
// rename of another thread waits for it only until the interrupt restarts
// it: the rename completes while the open still has no writer, and the open
// completes later. A serializer that waited for the blocked open would hang
// here (the run's 60 s context ends it).
func TestSerializedBlockedCallYields(t *testing.T) {
	dir := t.TempDir()
	stats := NewStats()
	args, env := helper(t, "serial-fifo", dir)
	res := traceRunStats(t, fileRules, stats, env, args...)
	if res.code != 0 {
		t.Fatalf("exit %d:\n%s", res.code, res.stdout)
	}
	if n := stats.ParkedCalls.Load(); n == 0 {
		t.Error("the rename never waited for the open in flight")
	}
}

// TestSerializedInflightDies: the call in flight is a child's, blocked in
// the kernel, and the child is killed. Its death must end its time in
// flight, or the next rename would wait for ever.
func TestSerializedInflightDies(t *testing.T) {
	dir := t.TempDir()
	args, env := helper(t, "serial-kill", dir)
	if res := traceRunStats(t, fileRules, NewStats(), env, args...); res.code != 0 {
		t.Fatalf("exit %d:\n%s", res.code, res.stdout)
	}
}

// renameStorm renames files in dir from 4 threads at once.
func renameStorm(dir string) error {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			a, b := filepath.Join(dir, fmt.Sprintf("a%d", w)), filepath.Join(dir, fmt.Sprintf("b%d", w))
			if err := os.WriteFile(a, nil, 0o644); err != nil {
				errs <- err
				return
			}
			for range 250 {
				if err := os.Rename(a, b); err != nil {
					errs <- err
					return
				}
				if err := os.Rename(b, a); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// serialFifo is TestSerializedBlockedCallYields's tracee.
func serialFifo(dir string) error {
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return err
	}
	rfd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		return err
	}
	tid := make(chan int, 1)
	done := make(chan error, 1)
	go func() { // reopen the FIFO for reading: blocks until a writer comes
		runtime.LockOSThread()
		tid <- unix.Gettid()
		fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(rfd), unix.O_RDONLY, 0)
		if err == nil {
			unix.Close(fd)
		}
		done <- err
	}()
	waitFor(<-tid, 'S', unix.SYS_OPENAT) // blocked in the kernel, in flight
	if err := os.Rename(filepath.Join(dir, "x"), filepath.Join(dir, "y")); err != nil {
		return err
	}
	fd, err := unix.Open(fifo, unix.O_WRONLY, 0) // a pinned open: frees the reader
	if err != nil {
		return err
	}
	unix.Close(fd)
	return <-done
}

// serialKill is TestSerializedInflightDies's tracee: a child blocks in an
// unpinned open (in flight) and is killed; renames must go on.
func serialKill(dir string) error {
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return err
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	x, y := filepath.Join(dir, "x"), filepath.Join(dir, "y")
	if err := os.WriteFile(x, nil, 0o644); err != nil {
		return err
	}
	self, _ := os.Executable()
	child := exec.Command(self, "reopen-fd", "3")
	child.Env = os.Environ()
	child.ExtraFiles = []*os.File{r}
	if err := child.Start(); err != nil {
		return err
	}
	pid := child.Process.Pid
	waitForTask(pid, pid, 'S', unix.SYS_OPENAT) // blocked, in flight
	if err := os.Rename(x, y); err != nil {     // interrupts it; it traps again
		return err
	}
	waitForTask(pid, pid, 'S', unix.SYS_OPENAT) // in flight again
	if err := child.Process.Kill(); err != nil {
		return err
	}
	_ = child.Wait()
	return os.Rename(y, x)
}

// waitFor polls until thread tid of this process is in state st inside
// syscall nr (from /proc: no clock involved).
func waitFor(tid int, st byte, nr int) { waitForTask(os.Getpid(), tid, st, nr) }

// waitForTask is waitFor for thread tid of process pid.
func waitForTask(pid, tid int, st byte, nr int) {
	for {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
		sc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid))
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == st &&
			strings.HasPrefix(string(sc), strconv.Itoa(nr)+" ") {
			return
		}
		runtime.Gosched()
	}
}
