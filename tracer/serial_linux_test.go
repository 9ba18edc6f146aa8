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

// TestSerialized runs the serializer's tracees under a policy that could
// block a file. Each must finish: a serializer that waits wrongly hangs it
// until the run's 60 s context ends.
func TestSerialized(t *testing.T) {
	for _, c := range []struct {
		name, action string
		// mustWait: some call must have waited. Only the storm can promise
		// it: in the other two, the tracee sees its rename stopped before
		// the tracer has decided that stop, and cannot tell the two apart.
		mustWait bool
	}{
		// 4 threads renaming at once all finish, and some wait for another.
		{"rename-storm", "rename-storm", true},
		// An open that cannot be pinned (a FIFO reopened through
		// /proc/self/fd) is in flight and blocks in the kernel; a rename of
		// another thread waits for it, and a pinned open, which must not
		// wait, unblocks it.
		{"pinned-opens-do-not-wait", "serial-fifo", false},
		// The call in flight is a child's, blocked in the kernel, and the
		// child is killed. Its death must end its time in flight, or the
		// rename, whether it trapped before or after, would wait for ever.
		{"inflight-dies", "serial-kill", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			stats := NewStats()
			args, env := helper(t, c.action, t.TempDir())
			if res := traceRunStats(t, fileRules, stats, env, args...); res.code != 0 {
				t.Fatalf("exit %d:\n%s", res.code, res.stdout)
			}
			if c.mustWait && stats.ParkedCalls.Load() == 0 {
				t.Error("no call waited: 4 threads x 500 renames never overlapped")
			}
		})
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

// fifoAndFile makes dir/fifo with a non-blocking reader (the descriptor the
// tests reopen through /proc/self/fd) and an ordinary dir/x to rename.
func fifoAndFile(dir string) (fifo string, reader *os.File, err error) {
	fifo = filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return "", nil, err
	}
	if reader, err = os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0); err != nil {
		return "", nil, err
	}
	return fifo, reader, os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
}

// holdPreemption blocks SIGURG on this (locked) thread: the Go runtime's
// preemption signal would interrupt a blocked open, which then ends its time
// in flight at its exit stop and traps again, and a rename could slip in
// between without waiting, which the tests count on.
func holdPreemption() {
	var set unix.Sigset_t
	set.Val[0] = 1 << (uint(unix.SIGURG) - 1)
	_ = unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil)
}

// renameOnThread renames dir/x to dir/y on a thread of its own, once it has
// said which: its tid, then the result.
func renameOnThread(dir string) (tid int, done <-chan error) {
	tids, errs := make(chan int, 1), make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		tids <- unix.Gettid()
		errs <- os.Rename(filepath.Join(dir, "x"), filepath.Join(dir, "y"))
	}()
	return <-tids, errs
}

// serialFifo is TestSerialized/pinned-opens-do-not-wait's tracee.
func serialFifo(dir string) error {
	fifo, r, err := fifoAndFile(dir)
	if err != nil {
		return err
	}
	tids := make(chan int, 1)
	reopened := make(chan error, 1)
	go func() { // T1: reopen the FIFO for reading; blocks until a writer comes
		runtime.LockOSThread()
		holdPreemption()
		tids <- unix.Gettid()
		fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(int(r.Fd())), unix.O_RDONLY, 0)
		if err == nil {
			unix.Close(fd)
		}
		reopened <- err
	}()
	waitFor(<-tids, 'S', unix.SYS_OPENAT) // T1 blocked in the kernel, in flight
	t2, renamed := renameOnThread(dir)    // T2: a rename, which waits for T1
	waitFor(t2, 't', unix.SYS_RENAMEAT)   // T2 stopped at its seccomp stop (decided or not)
	// A pinned open for writing, which must not wait; it frees T1.
	fd, err := unix.Open(fifo, unix.O_WRONLY, 0)
	if err != nil {
		return err
	}
	unix.Close(fd)
	if err := <-reopened; err != nil {
		return err
	}
	return <-renamed
}

// serialKill is TestSerialized/inflight-dies's tracee: a child blocks in an
// unpinned open (in flight), a thread's rename waits for it, then the child
// is killed.
func serialKill(dir string) error {
	_, r, err := fifoAndFile(dir)
	if err != nil {
		return err
	}
	ready, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	self, _ := os.Executable()
	child := exec.Command(self, "reopen-fd", "3", "4")
	child.Env = os.Environ()
	child.ExtraFiles = []*os.File{r, readyW}
	if err := child.Start(); err != nil {
		return err
	}
	readyW.Close()
	// The child says when its start-up is over, so the only openat it can
	// then be blocked in is the reopen.
	if _, err := ready.Read(make([]byte, 1)); err != nil {
		return fmt.Errorf("child not ready: %w", err)
	}
	pid := child.Process.Pid
	waitForTask(pid, 0, 'S', unix.SYS_OPENAT) // the child blocked, in flight
	t2, renamed := renameOnThread(dir)
	waitFor(t2, 't', unix.SYS_RENAMEAT) // stopped at its seccomp stop (decided or not)
	if err := child.Process.Kill(); err != nil {
		return err
	}
	_ = child.Wait()
	return <-renamed
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
