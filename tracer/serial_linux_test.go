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

// TestSerializedCallsWaitButOpensDoNot: an open that cannot be pinned (a
// FIFO reopened through /proc/self/fd) is in flight and blocks in the
// kernel; a rename of another thread waits for it, and a pinned open, which
// never waits, unblocks it. A serializer that made pinned opens wait would
// hang here (the run's 60 s context ends it).
func TestSerializedCallsWaitButOpensDoNot(t *testing.T) {
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
// the kernel; a rename waits for it; the child is killed. Its death must end
// its time in flight, or the rename would wait for ever.
func TestSerializedInflightDies(t *testing.T) {
	dir := t.TempDir()
	stats := NewStats()
	args, env := helper(t, "serial-kill", dir)
	res := traceRunStats(t, fileRules, stats, env, args...)
	if res.code != 0 {
		t.Fatalf("exit %d:\n%s", res.code, res.stdout)
	}
	if n := stats.ParkedCalls.Load(); n == 0 {
		t.Error("the rename never waited for the child's open in flight")
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

// serialFifo is TestSerializedCallsWaitButOpensDoNot's tracee.
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
	tids := make(chan int, 2)
	done := make(chan error, 3)
	go func() { // T1: reopen the FIFO for reading; blocks until a writer comes
		runtime.LockOSThread()
		tids <- unix.Gettid()
		fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(rfd), unix.O_RDONLY, 0)
		if err == nil {
			unix.Close(fd)
		}
		done <- err
	}()
	waitFor(<-tids, 'S', unix.SYS_OPENAT) // T1 blocked in the kernel, in flight
	go func() {                           // T2: a rename, which waits for T1
		runtime.LockOSThread()
		tids <- unix.Gettid()
		done <- os.Rename(filepath.Join(dir, "x"), filepath.Join(dir, "y"))
	}()
	waitFor(<-tids, 't', unix.SYS_RENAMEAT) // T2 held in its seccomp stop
	go func() {                             // T3: a pinned open for writing, which must not wait; it frees T1
		fd, err := unix.Open(fifo, unix.O_WRONLY, 0)
		if err == nil {
			unix.Close(fd)
		}
		done <- err
	}()
	for range 3 {
		if err := <-done; err != nil {
			return err
		}
	}
	return nil
}

// serialKill is TestSerializedInflightDies's tracee: a child blocks in an
// unpinned open (in flight), a thread's rename waits for it, then the child
// is killed.
func serialKill(dir string) error {
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return err
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
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
	waitForTask(pid, 0, 'S', unix.SYS_OPENAT) // the child blocked, in flight
	tids := make(chan int, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		tids <- unix.Gettid()
		done <- os.Rename(filepath.Join(dir, "x"), filepath.Join(dir, "y"))
	}()
	waitFor(<-tids, 't', unix.SYS_RENAMEAT) // held behind the child
	if err := child.Process.Kill(); err != nil {
		return err
	}
	_ = child.Wait()
	return <-done
}

// waitFor polls until thread tid of this process is in state st inside
// syscall nr (from /proc: no clock involved).
func waitFor(tid int, st byte, nr int) { waitForTask(os.Getpid(), tid, st, nr) }

// waitForTask is waitFor for thread tid of process pid, or any of its
// threads for tid 0 (Go may run a child's main goroutine on any of them).
func waitForTask(pid, tid int, st byte, nr int) {
	for {
		tids := []int{tid}
		if tid == 0 {
			tids = tids[:0]
			ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
			for _, e := range ents {
				if n, err := strconv.Atoi(e.Name()); err == nil {
					tids = append(tids, n)
				}
			}
		}
		for _, id := range tids {
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, id))
			sc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, id))
			if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == st &&
				strings.HasPrefix(string(sc), strconv.Itoa(nr)+" ") {
				return
			}
		}
		runtime.Gosched()
	}
}
