//go:build amd64

package tracer

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/tracer/filter"
	"github.com/bluelock/bluelock/tracer/procfs"
	"github.com/bluelock/bluelock/tracer/sys"
)

// The notification fast path (Config.FastOpens; docs/unotify.md).
//
// A ptrace stop costs two wake-ups across CPUs; a seccomp user notification
// with SYNC_WAKE_UP costs a few µs on the trapping task's own CPU. But an
// answer of CONTINUE lets the kernel read the path from the app's memory
// again, after the check, where another thread may have changed it. So the
// supervisor never answers CONTINUE. It decides the open like the stop loop
// (judge), then:
//   - Block: it answers -EACCES. Nothing ran; nothing to race.
//   - Allow or Audit: it opens the checked, symlink-free path itself, as a
//     pinned open would be (openat2, RESOLVE_NO_SYMLINKS; pin_linux_amd64.go),
//     and installs the descriptor as the call's result (ADDFD with
//     SECCOMP_ADDFD_FLAG_SEND). The kernel never reads the app's buffer.
//   - Anything it cannot open exactly as the app would — another identity,
//     a path through /proc, a FIFO, a tty, an open pinning skips — it hands
//     back to ptrace (handBack): the call restarts marked, and the filter
//     sends marked opens to the stop loop, which decides and relocates them
//     as always.
//
// The supervisor runs on its own locked thread and takes t.mu for each
// notification, as the stop loop does for each stop: the two never judge at
// the same time, and share the tracer's state (threads, capture, rootsShared).

// notifier is the supervisor's side of the filter's listener.
type notifier struct {
	fd   int // the listener
	wake int // eventfd: written when Run ends
	// own is the supervisor thread's identity, which its opens use: an open
	// is emulated only for a thread with the same one.
	own  procfs.Creds
	done chan struct{}
}

// restartNoIntr is ERESTARTNOINTR: the kernel restarts the call once the
// pending signal is handled, whatever the handler's SA_RESTART.
const restartNoIntr = unix.Errno(513)

// fastOpensProblem says why the fast path cannot run here, or "".
func (t *tracer) fastOpensProblem() string {
	if !t.pin.enabled {
		return "opens are not pinned here (--pin-opens=false or no openat2), and the supervisor opens as a pinned open would"
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return fmt.Sprintf("uname: %v", err)
	}
	if !kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 14) {
		return "Linux " + unix.ByteSliceToString(u.Release[:]) + " has no SECCOMP_ADDFD_FLAG_SEND (5.14)"
	}
	return ""
}

// kernelAtLeast compares a release string ("6.18.44-fc") with major.minor.
func kernelAtLeast(release string, major, minor int) bool {
	var a, b int
	if _, err := fmt.Sscanf(release, "%d.%d", &a, &b); err != nil {
		return false
	}
	return a > major || a == major && b >= minor
}

// takeListener copies stage 2's listener into the tracer and starts the
// supervisor.
//
// Precondition: holds t.mu; pid is stage 2, in the seccomp stop of its
// execve of the app (its listener is still open, close-on-exec).
func (t *tracer) takeListener(pid int) error {
	fd, err := sys.TakeFd(pid, stage2ListenerFd)
	if err != nil {
		return fmt.Errorf("take the seccomp listener of stage 2 (pidfd_getfd): %w", err)
	}
	if err := sys.NotifSyncWake(fd); err != nil {
		// Before 6.6: still correct, each notification then costs the
		// cross-CPU wake-ups SYNC_WAKE_UP saves.
		t.log.Info("seccomp listener without SYNC_WAKE_UP (Linux 6.6); fast opens wake the supervisor across CPUs", "err", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(fd)
		return fmt.Errorf("eventfd for the supervisor: %w", err)
	}
	n := &notifier{fd: fd, wake: wake, done: make(chan struct{})}
	ready := make(chan error, 1)
	go t.supervise(n, ready)
	if err := <-ready; err != nil {
		return err
	}
	t.notify = n
	return nil
}

// stopNotifier ends the supervisor and waits for it. Every tracee is gone
// by then; pending notifications, if any, fail with ENOSYS when the
// listener closes.
func (t *tracer) stopNotifier() {
	n := t.notify
	if n == nil {
		return
	}
	var one = [8]byte{1}
	_, _ = unix.Write(n.wake, one[:])
	<-n.done
	_ = unix.Close(n.fd)
	_ = unix.Close(n.wake)
}

// supervise answers notifications until stopNotifier.
//
// Its thread stays locked and dies with the goroutine: nothing else runs
// with the identity it opens with.
func (t *tracer) supervise(n *notifier, ready chan<- error) {
	defer close(n.done)
	runtime.LockOSThread()
	own, err := t.proc.ReadCreds(unix.Gettid())
	if err != nil {
		ready <- fmt.Errorf("read the supervisor's identity: %w", err)
		return
	}
	// Stage 2 takes CAP_SYS_PTRACE from the app; the supervisor keeps it,
	// to read the memory of tracees that turned non-dumpable (a setfsuid
	// does that). It only ever matters to /proc, which is never opened
	// here (emulateOpen), so an app without it has the supervisor's identity.
	own.CapEff &^= 1 << unix.CAP_SYS_PTRACE
	n.own = own
	ready <- nil
	var req sys.Notif
	for {
		err := sys.NotifRecv(n.fd, &req)
		if err == nil {
			t.mu.Lock()
			t.notified(n, &req)
			t.mu.Unlock()
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			t.log.Error("seccomp listener failed; opens of the app fail with ENOSYS from now on", "err", err)
		}
		// ENOENT: a caller went away before we took its call, or no task
		// holds the filter any more (then RECV returns at once, forever).
		// Sleep until there is something to take, or the end.
		if !n.idle() {
			return
		}
	}
}

// idle sleeps until the listener has a notification (true) or Run ends
// (false).
func (n *notifier) idle() bool {
	fds := []unix.PollFd{{Fd: int32(n.wake), Events: unix.POLLIN}, {Fd: int32(n.fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || fds[0].Revents != 0 {
			return false
		}
		if len(fds) > 1 && fds[1].Revents&unix.POLLIN != 0 {
			return true
		}
		// POLLHUP: no tracee holds the filter; wait for the end only.
		fds = fds[:1]
	}
}

// notifiedNames are the calls the filter sends to the supervisor.
var notifiedNames = map[int32]string{unix.SYS_OPEN: "open", unix.SYS_OPENAT: "openat"}

// notified decides one notification and answers it.
//
// Precondition: holds t.mu; runs on the supervisor's thread.
func (t *tracer) notified(n *notifier, req *sys.Notif) {
	tid := int(req.Pid)
	name, ok := notifiedNames[req.Nr]
	if !ok {
		// A filter and table out of step: refuse rather than guess.
		t.log.Error("notification for a syscall the supervisor does not handle; failing it", "nr", req.Nr, "tid", tid)
		_ = sys.NotifFail(n.fd, req.ID, unix.ENOSYS)
		return
	}
	th := t.thread(tid)
	j := t.judge(th, name, req.Args)
	// What judge read came from tid's memory and /proc entries: it is the
	// caller's only while the call still waits (a tid can be reused).
	if !sys.NotifValid(n.fd, req.ID) {
		return
	}
	if j.best.Verdict == policy.Block {
		t.answerBlocked(n, th, req, name, j)
		return
	}
	pin := t.planPin(th, name, req.Args, &t.capture)
	if pin.res == pinDenied {
		t.stats.RelocFailedClosed.Add(1)
		t.log.Debug("open cannot be pinned; denying", "tid", tid, "err", pin.err)
		j.best = policy.Decision{Verdict: policy.Block, Action: "Block", PolicyName: "DefaultPosture", Alert: true,
			Message: "checked arguments could not be protected from rewriting (argument region)"}
		t.answerBlocked(n, th, req, name, j)
		return
	}
	fd, errno, why := t.emulateOpen(n, th, name, req.Args, pin)
	if why != "" {
		t.handBack(n, th, req, why)
		return
	}
	t.stats.trapped(name)
	t.stats.decided(j.best.Verdict)
	t.stats.NotifiedOpens.Add(1)
	// Who called is read while it still waits: once answered, a short-lived
	// process may be gone before its event is built.
	ev, alert, report := t.reportOf(j)
	if report {
		ev.Who = t.identity(th)
	}
	ret := -int64(errno)
	if fd >= 0 {
		cloexec := openFlagsArg(name, req.Args)&unix.O_CLOEXEC != 0
		newfd, err := sys.NotifSendFd(n.fd, req.ID, fd, cloexec)
		_ = unix.Close(fd)
		switch {
		case err == nil:
			ret = int64(newfd)
		case errors.Is(err, unix.ENOENT):
			return // the caller is gone, or a signal interrupted it: nothing was opened for it
		default:
			// Installing failed (EMFILE over its RLIMIT_NOFILE): that is the
			// call's result, as the kernel would have given it.
			var e unix.Errno
			if !errors.As(err, &e) {
				e = unix.EBADF
			}
			if sys.NotifFail(n.fd, req.ID, e) != nil {
				return
			}
			ret = -int64(e)
		}
	} else if sys.NotifFail(n.fd, req.ID, errno) != nil {
		return
	}
	if report {
		ev.Result = ResultText(ret)
		t.send(&ev, alert, "")
	}
}

// answerBlocked fails a notified call with EACCES and alerts.
func (t *tracer) answerBlocked(n *notifier, th *thread, req *sys.Notif, name string, j judgement) {
	ev := Event{Facet: j.facet, Decision: j.best, Result: ErrnoText(unix.EACCES), Who: t.identity(th)}
	if sys.NotifFail(n.fd, req.ID, unix.EACCES) != nil {
		return // gone: the call never ran
	}
	t.stats.trapped(name)
	t.stats.decided(policy.Block)
	t.stats.NotifiedOpens.Add(1)
	t.send(&ev, true, "")
}

// openFlagsArg is the flags argument of open or openat, as the kernel reads
// it (an int).
func openFlagsArg(name string, args [6]uint64) int {
	if name == "open" {
		return int(int32(args[1]))
	}
	return int(int32(args[2]))
}

// emulateOpen opens, for th, what pin says its call would open. It returns
// our descriptor (fd ≥ 0), or the errno the call fails with, or why it
// cannot be emulated (the call goes back to ptrace).
//
// Precondition: holds t.mu; th's call waits for an answer; its arguments
// were judged and allowed.
func (t *tracer) emulateOpen(n *notifier, th *thread, name string, args [6]uint64, pin pinPlan) (int, unix.Errno, string) {
	if pin.res != pinReady {
		return -1, 0, "not pinnable (a path through /proc/<pid>/fd, a deleted directory, a chroot, ...)"
	}
	if pin.plain == "/proc" || strings.HasPrefix(pin.plain, "/proc/") {
		// Files whose open depends on who opens them (the caller's own
		// /proc/self, ptrace access checks): the kernel must open them.
		return -1, 0, "a path in /proc"
	}
	if pin.how.Flags&unix.O_PATH != 0 {
		// ADDFD takes its descriptor with fget, which refuses O_PATH files.
		return -1, 0, "O_PATH (ADDFD cannot send it)"
	}
	if pin.how.Flags&unix.O_ASYNC != 0 {
		// open ignores O_ASYNC, but the F_SETFL below would turn it on.
		return -1, 0, "O_ASYNC"
	}
	if th.creds == nil {
		c, err := t.proc.ReadCreds(th.tid)
		if err != nil {
			return -1, 0, "identity unreadable: " + err.Error()
		}
		th.creds = &c
	}
	if c := *th.creds; c.FSUID != n.own.FSUID || c.FSGID != n.own.FSGID || c.Groups != n.own.Groups ||
		c.CapEff&^(1<<unix.CAP_SYS_PTRACE) != n.own.CapEff {
		return -1, 0, "another identity than the tracer's"
	}
	// Never open what is not emulable, even for a moment: opening a FIFO
	// would release a writer waiting for a reader. (A file swapped for one
	// between this look and the open is caught after it.)
	var st unix.Stat_t
	if err := unix.Fstatat(unix.AT_FDCWD, pin.plain, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && !emulable(st) {
		return -1, 0, "not a regular file, directory or memory device"
	}
	how := pin.how
	flags := int(how.Flags)
	how.Flags |= unix.O_CLOEXEC | unix.O_NOCTTY // ours is never inherited; a tty never becomes ours
	// A FIFO's open blocks until a peer comes, a leased file's until the
	// lease breaks: never inside t.mu. With O_NONBLOCK they fail at once and
	// go back to the kernel; a regular file opened so is set back below.
	added := flags&unix.O_NONBLOCK == 0
	if added {
		how.Flags |= unix.O_NONBLOCK
	}
	how.Resolve |= unix.RESOLVE_NO_MAGICLINKS
	fd, err := unix.Openat2(unix.AT_FDCWD, pin.plain, &how)
	if err != nil {
		var e unix.Errno
		if !errors.As(err, &e) {
			return -1, 0, "openat2: " + err.Error()
		}
		if added && (e == unix.EAGAIN || e == unix.ENXIO) {
			return -1, 0, "would block (a FIFO or a lease)"
		}
		return -1, e, ""
	}
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return -1, 0, "fstat: " + err.Error()
	}
	if !emulable(st) {
		_ = unix.Close(fd)
		return -1, 0, "not a regular file, directory or memory device"
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil || fs.Type == unix.PROC_SUPER_MAGIC {
		// A procfs mounted elsewhere than /proc: who opens counts there.
		_ = unix.Close(fd)
		return -1, 0, "a file of procfs"
	}
	if added {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err == nil {
			_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
		}
		if err != nil {
			_ = unix.Close(fd)
			return -1, 0, "clear O_NONBLOCK: " + err.Error()
		}
	}
	return fd, 0, ""
}

// emulable reports whether opening st's file from the supervisor is the
// same as the app opening it: regular files, directories, and the memory
// devices (/dev/null, /dev/zero, /dev/urandom, ...; major 1), which have no
// notion of who opened them. Not ttys (the opener's controlling terminal),
// FIFOs, sockets or other devices.
func emulable(st unix.Stat_t) bool {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFDIR:
		return true
	case unix.S_IFCHR:
		return unix.Major(st.Rdev) == 1
	}
	return false
}

// handBack sends th's call to the stop loop: a thread-directed SIGSTOP is
// queued and the call answered -ERESTARTNOINTR, so the thread leaves the
// kernel, stops for the signal (handle: retrapOpen marks the call and
// drops the signal), and makes the call again, marked, into a seccomp stop.
func (t *tracer) handBack(n *notifier, th *thread, req *sys.Notif, why string) {
	t.stats.HandedBack.Add(1)
	t.log.Debug("open handed back to ptrace", "tid", th.tid, "why", why)
	th.handBack = true
	if err := unix.Tgkill(th.proc.pid, th.tid, unix.SIGSTOP); err != nil {
		th.handBack = false
		_ = sys.NotifFail(n.fd, req.ID, unix.EACCES) // it is going away
		return
	}
	_ = sys.NotifFail(n.fd, req.ID, restartNoIntr)
}

// retrapOpen handles the SIGSTOP of a hand-back: if th is restarting the
// open, it marks the call's flags with filter.PtraceOpenMark, which the
// kernel ignores and the filter sends to ptrace, and resumes without the
// signal.
//
// Precondition: holds t.mu; runs on the tracer's locked OS thread; th is in
// the signal-delivery stop of the supervisor's SIGSTOP.
func (t *tracer) retrapOpen(th *thread) error {
	th.handBack = false
	var regs sys.Regs
	if err := sys.GetRegs(th.tid, &regs); err != nil {
		return err
	}
	arg := -1
	switch regs.Nr() {
	case unix.SYS_OPEN:
		arg = 1
	case unix.SYS_OPENAT:
		arg = 2
	}
	// -ERESTARTSYS when our signal interrupted the wait before the answer.
	restarting := regs.Ret() == -int64(restartNoIntr) || regs.Ret() == -int64(unix.Errno(512))
	if arg >= 0 && restarting {
		regs.SetArg(arg, regs.Arg(arg)|filter.PtraceOpenMark)
		if err := sys.SetRegs(th.tid, &regs); err != nil {
			return err
		}
	}
	return sys.Cont(th.tid, 0)
}

// ownStop reports whether th's SIGSTOP is the supervisor's hand-back.
//
// Precondition: runs on the tracer's locked OS thread; th is in a
// signal-delivery stop for SIGSTOP.
func (t *tracer) ownStop(th *thread) bool {
	return th.handBack && sys.TkillFrom(th.tid, os.Getpid())
}
