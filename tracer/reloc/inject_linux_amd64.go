package reloc

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrTaken means the injected mmap failed because something already lies at
// Addr: the process must fail relocatable syscalls closed.
var ErrTaken = errors.New("region address taken")

// Inject maps the region into tid's process. tid must be in a seccomp stop
// (PTRACE_EVENT_SECCOMP) of any syscall; on return with done == nil the
// original syscall has been rewound and tid resumed, so it will execute that
// syscall again and stop again, to be decided as usual.
//
// While tid runs the injected mmap, Inject waits for tid alone. If tid dies
// or reports something other than its syscall-exit stop, that wait status is
// returned in other (and tid is not resumed): the caller must handle it as if
// its own wait4 had returned it.
//
// Precondition: called on the tracer's locked OS thread; tid is in a seccomp
// stop.
func Inject(tid int) (other *unix.WaitStatus, err error) {
	var saved unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &saved); err != nil {
		return nil, fmt.Errorf("inject: getregs %d: %w", tid, err)
	}
	in := saved
	in.Orig_rax = unix.SYS_MMAP
	in.Rdi = Addr
	in.Rsi = Size
	in.Rdx = unix.PROT_READ
	in.R10 = unix.MAP_SHARED | unix.MAP_FIXED_NOREPLACE
	in.R8 = Fd
	in.R9 = 0
	if err := unix.PtraceSetRegs(tid, &in); err != nil {
		return nil, fmt.Errorf("inject: setregs %d: %w", tid, err)
	}
	// PTRACE_SYSCALL: the kernel re-runs the filter on the new syscall (an
	// mmap in Block traps, and a second RET_TRACE after a tracer change counts
	// as allow), runs it, and stops at its exit.
	if err := unix.PtraceSyscall(tid, 0); err != nil {
		return nil, fmt.Errorf("inject: resume %d: %w", tid, err)
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(tid, &ws, unix.WALL, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("inject: wait %d: %w", tid, err)
		}
		break
	}
	// Only a syscall-exit stop (SIGTRAP|0x80 with TRACESYSGOOD) can come
	// here, or death: signals are delivered on the way back to user mode,
	// after this stop.
	if !ws.Stopped() || ws.StopSignal() != unix.SIGTRAP|0x80 {
		return &ws, fmt.Errorf("inject: %d: unexpected wait status %#x", tid, uint32(ws))
	}
	var out unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &out); err != nil {
		return nil, fmt.Errorf("inject: getregs after mmap %d: %w", tid, err)
	}
	ret := int64(out.Rax)
	// Put the original syscall back: at this exit stop rip is past the
	// 2-byte syscall instruction; rewinding it and restoring rax (the number
	// the instruction reads) re-issues the call. The argument registers are
	// the saved ones; rcx/r11 are rewritten by the instruction anyway.
	back := saved
	back.Rip -= 2
	back.Rax = saved.Orig_rax
	if err := unix.PtraceSetRegs(tid, &back); err != nil {
		return nil, fmt.Errorf("inject: restore %d: %w", tid, err)
	}
	if err := unix.PtraceCont(tid, 0); err != nil {
		return nil, fmt.Errorf("inject: continue %d: %w", tid, err)
	}
	switch {
	case uint64(ret) == Addr:
		return nil, nil
	case ret == -int64(unix.EEXIST):
		return nil, fmt.Errorf("inject into %d: %w", tid, ErrTaken)
	case ret < 0 && ret > -4096:
		return nil, fmt.Errorf("inject into %d: mmap: %w", tid, unix.Errno(-ret))
	}
	// A kernel without MAP_FIXED_NOREPLACE (<4.17) treats it as a hint and
	// may map elsewhere; such a mapping is useless (and not in Block).
	return nil, fmt.Errorf("inject into %d: mmap returned %#x, not %#x", tid, uint64(ret), Addr)
}
