//go:build linux

package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Seccomp user notification (include/uapi/linux/seccomp.h). The tracer's
// supervisor uses these on its own thread; none of them is a ptrace request,
// so none needs the stop loop's thread.

// Notif is struct seccomp_notif: one trapped call of a tracee that waits,
// in the kernel, for an answer.
type Notif struct {
	ID    uint64
	Pid   uint32 // the calling thread's tid, in our pid namespace
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

// notifResp is struct seccomp_notif_resp.
type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// notifAddfd is struct seccomp_notif_addfd.
type notifAddfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}

// The ioctl numbers x/sys/unix has for amd64 only under other names.
const (
	notifIDValid  = 0x40082102 // SECCOMP_IOCTL_NOTIF_ID_VALID
	notifAddFD    = 0x40182103 // SECCOMP_IOCTL_NOTIF_ADDFD
	notifSetFlags = 0x40082104 // SECCOMP_IOCTL_NOTIF_SET_FLAGS
)

func ioctlPtr(fd int, req uintptr, p unsafe.Pointer) error {
	// A normal (not raw) syscall: RECV sleeps until a tracee traps.
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
	return errnoErr(e)
}

// NotifRecv waits for the next notification on listener fd. The kernel
// refuses a buffer that is not zeroed, so n is cleared first. EINTR is
// retried; ENOENT means the caller went away before we took it.
func NotifRecv(fd int, n *Notif) error {
	for {
		*n = Notif{}
		err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(n))
		if err != unix.EINTR {
			return err
		}
	}
}

// NotifValid reports whether notification id still waits for an answer:
// after it, what was read from the caller's memory was read from that
// caller, not from a task that reused its tid.
func NotifValid(fd int, id uint64) bool {
	return ioctlPtr(fd, notifIDValid, unsafe.Pointer(&id)) == nil
}

// NotifFail answers id: the call does not run and returns -errno.
// ENOENT means the caller is gone or was interrupted meanwhile.
func NotifFail(fd int, id uint64, errno unix.Errno) error {
	r := notifResp{ID: id, Error: -int32(errno)}
	return ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// NotifSendFd installs our descriptor src in the caller's table and makes
// it the call's return value, in one step (SECCOMP_ADDFD_FLAG_SEND, 5.14).
// It returns the caller's descriptor number.
func NotifSendFd(fd int, id uint64, src int, cloexec bool) (int, error) {
	a := notifAddfd{ID: id, Flags: unix.SECCOMP_ADDFD_FLAG_SEND, Srcfd: uint32(src)}
	if cloexec {
		a.NewfdFlags = unix.O_CLOEXEC
	}
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), notifAddFD, uintptr(unsafe.Pointer(&a)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// NotifSyncWake asks the kernel to run the supervisor on the trapping
// task's CPU and to hand that CPU back at the answer
// (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 6.6): two wake-ups across vCPUs
// saved per call.
func NotifSyncWake(fd int) error {
	var flags uint64 = unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), notifSetFlags, uintptr(flags))
	return errnoErr(e)
}

// TakeFd copies descriptor fd of process pid into ours (pidfd_getfd, 5.6),
// close-on-exec.
func TakeFd(pid, fd int) (int, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pidfd)
	return unix.PidfdGetfd(pidfd, fd, 0)
}

// siSigTkill is SI_TKILL: a signal sent with tkill or tgkill.
const siSigTkill = -6

// TkillFrom reports whether the signal tid stops for (a signal-delivery
// stop) was sent by process pid with tgkill (PTRACE_GETSIGINFO).
//
// Precondition: runs on the tracer's locked OS thread; tid is in a
// signal-delivery stop.
func TkillFrom(tid, pid int) bool {
	// siginfo_t: si_signo, si_errno, si_code, then (64-bit) a 4-byte hole
	// and the union, whose kill member starts with si_pid.
	var si [128]byte
	if rawPtrace(unix.PTRACE_GETSIGINFO, tid, 0, uintptr(unsafe.Pointer(&si[0]))) != 0 {
		return false
	}
	code := *(*int32)(unsafe.Pointer(&si[8]))
	from := *(*int32)(unsafe.Pointer(&si[16]))
	return code == siSigTkill && int(from) == pid
}
