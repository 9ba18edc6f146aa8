//go:build linux

package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The ptrace requests of a stop that never block (a stopped tracee answers
// at once) go through RawSyscall: no entersyscall/exitsyscall, so the Go
// scheduler never hands the tracer's P away mid-stop and the locked thread
// never waits on a futex to get one back. wait4, which blocks, stays a
// normal syscall: a raw one would keep a stop-the-world GC waiting for the
// next tracee event.

// rawPtrace makes a ptrace request whose data is a number, not a pointer
// (rawPtracePtr).
func rawPtrace(req, tid int, addr, data uintptr) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0)
	return e
}

// rawPtracePtr is rawPtrace for requests whose data is a pointer. It stays
// an unsafe.Pointer until the RawSyscall6 call itself: a uintptr handed
// through a Go function is not a pointer to the runtime, so a stack growth
// in that function (the buffers are often on the stack) would leave it
// pointing at the old stack, which the kernel would then read or write.
func rawPtracePtr(req, tid int, addr uintptr, data unsafe.Pointer) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, uintptr(data), 0, 0)
	return e
}

func rawGetRegs(tid int, r *unix.PtraceRegs) error {
	return errnoErr(rawPtracePtr(unix.PTRACE_GETREGS, tid, 0, unsafe.Pointer(r)))
}

// rawSetSyscallRegs writes the first syscallRegs registers of r: a short
// NT_PRSTATUS regset, which the kernel accepts (a whole number of registers)
// and applies from the start.
func rawSetSyscallRegs(tid int, r *unix.PtraceRegs) error {
	iov := unix.Iovec{Base: (*byte)(unsafe.Pointer(r)), Len: syscallRegs * 8}
	return errnoErr(rawPtracePtr(unix.PTRACE_SETREGSET, tid, ntPrstatus, unsafe.Pointer(&iov)))
}

// ntPrstatus is the general-purpose register set (elf.h NT_PRSTATUS).
const ntPrstatus = 1

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// PollWait is wait4(-1, WNOHANG|__WALL) as a raw syscall: it never blocks.
// pid 0 means no child has anything to report yet.
func PollWait() (int, unix.WaitStatus, error) {
	var ws unix.WaitStatus
	r, _, e := unix.RawSyscall6(unix.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(&ws)), unix.WNOHANG|unix.WALL, 0, 0, 0)
	if e != 0 {
		return 0, 0, e
	}
	return int(r), ws, nil
}

// Yield hands the CPU to any other runnable task on it (sched_yield); with
// none, it returns at once.
func Yield() { unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
