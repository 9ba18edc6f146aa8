//go:build amd64

package tracer

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/tracer/sys"
)

// Serialized path calls. Pinned opens make the kernel's second walk of a
// path reach what was checked, but link, rename, unlink, mkdir, truncate,
// chown and their kin have no RESOLVE_* flags: the kernel follows whatever a
// directory of the path has become since the check. A thread that swaps a
// directory for a symlink meanwhile (race-link-swap in the bypass suite)
// gives a protected file a second, unprotected name, or writes it.
//
// Every way to change what a path names is itself one of these calls, all
// traced (mounts are refused). So, when a rule could block a file, they run
// one at a time: an allowed one is "in flight" from its decision to its exit
// stop (or its thread's death), and any other that traps meanwhile waits,
// undecided, in its seccomp stop until then. Whatever a call checked, no
// tracee can change before the kernel has used it. Processes outside the
// traced tree (another container on a shared volume) are not held back.
//
// Cost: one exit stop per allowed call of the set, and waiting, which only
// these calls do. An exit stop, not PTRACE_INTERRUPT of the thread in flight
// when another has to wait: the interrupt made blocking calls of that thread
// restart or fail with EINTR (epoll_wait), and a FIFO open that restarted
// could miss a writer that came and went meanwhile. A call that blocks in
// the kernel (a hung NFS server, a FIFO opened through /proc/self/fd)
// holds back the others of the set until it returns.

// serialized reports whether name is a path call the kernel walks again
// without RESOLVE_* flags, and that is not checked otherwise: opens are
// pinned, exec images are checked again at PTRACE_EVENT_EXEC.
func serialized(name string) bool {
	switch name {
	case "unlink", "unlinkat", "rmdir", "mkdir", "mkdirat", "mknod", "mknodat",
		"rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
		"truncate", "chown", "lchown", "fchownat", "chroot":
		return true
	}
	return false
}

// mustSerialize reports whether an allowed call must be in flight alone
// while a rule could block a file: one of the set, or an open that will not
// be pinned although pinning is on (pin is its plan: a path through
// /proc/<pid>/fd, a process with its own seccomp filter, ...). With pinning
// off (--pin-opens=false, or no openat2) opens are not serialized: every
// open would take an exit stop.
func (t *tracer) mustSerialize(name string, pin pinPlan) bool {
	if !t.cfg.Policy.MayBlock(policy.OpFile) {
		return false
	}
	return serialized(name) || isOpen(name) && t.pin.enabled && pin.res == pinSkipped
}

// endInflight ends tid's call's time in flight, if it has one.
func (t *tracer) endInflight(tid int) {
	if t.inflight == tid {
		t.inflight = 0
	}
}

// park leaves tid in its seccomp stop, to be decided once nothing is in
// flight (drainParked, after every report).
//
// Precondition: runs on the tracer's locked OS thread; tid is in a seccomp
// stop; t.inflight is another thread.
func (t *tracer) park(tid int) {
	t.parked = append(t.parked, tid)
	t.stats.ParkedCalls.Add(1)
}

// unpark forgets tid if it waits (it died).
func (t *tracer) unpark(tid int) {
	for i, p := range t.parked {
		if p == tid {
			t.parked = append(t.parked[:i], t.parked[i+1:]...)
			return
		}
	}
}

// drainParked decides waiting calls, oldest first, until one is in flight
// or none waits.
//
// Precondition: runs on the tracer's locked OS thread; every parked tid is
// in the seccomp stop it was parked at (a tracee leaves that stop only when
// we resume it, or by dying, which unpark handles).
func (t *tracer) drainParked() {
	for t.inflight == 0 && len(t.parked) > 0 {
		tid := t.parked[0]
		t.parked = t.parked[1:]
		th, ok := t.thr[tid]
		if !ok {
			continue
		}
		if err := t.seccompStop(th); err != nil && !errors.Is(err, sys.ErrGone) {
			t.log.Error("cannot decide a waiting call; killing its thread", "tid", tid, "err", err)
			_ = unix.Kill(tid, unix.SIGKILL)
		}
	}
}
