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
// (PTRACE_EVENT_SECCOMP) of any syscall.
//
// resumed true: tid runs again with its original registers rewound over the
// syscall instruction, so it re-issues that syscall and stops again, to be
// decided as usual (or it was killed because its registers could not be put
// back; its exit will be reported). err then says whether the mmap worked
// (ErrTaken: the address is in use).
//
// resumed false with other set: while tid ran the injected mmap, wait4 for
// tid returned something else (it died): the caller must handle that status
// as if its own wait4 had returned it.
//
// resumed false, other nil: nothing happened; tid is still at its seccomp
// stop with its own registers, and err says why.
//
// Precondition: called on the tracer's locked OS thread; tid is in a seccomp
// stop.
func Inject(tid int) (resumed bool, other *unix.WaitStatus, err error) {
	var saved unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &saved); err != nil {
		return false, nil, fmt.Errorf("inject: getregs %d: %w", tid, err)
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
		return false, nil, fmt.Errorf("inject: setregs %d: %w", tid, err)
	}
	// PTRACE_SYSCALL: the kernel re-runs the filter on the new syscall (an
	// mmap in Block traps, and a second RET_TRACE after a tracer change counts
	// as allow), runs it, and stops at its exit.
	if err := unix.PtraceSyscall(tid, 0); err != nil {
		if unix.PtraceSetRegs(tid, &saved) != nil {
			_ = unix.Kill(tid, unix.SIGKILL)
			return true, nil, fmt.Errorf("inject: resume %d: %w; registers not restored, killed", tid, err)
		}
		return false, nil, fmt.Errorf("inject: resume %d: %w", tid, err)
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(tid, &ws, unix.WALL, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, &ws, fmt.Errorf("inject: wait %d: %w", tid, err)
		}
		break
	}
	// Only a syscall-exit stop (SIGTRAP|0x80 with TRACESYSGOOD) can come
	// here, or death: signals are delivered on the way back to user mode,
	// after this stop.
	if !ws.Stopped() || ws.StopSignal() != unix.SIGTRAP|0x80 {
		return false, &ws, fmt.Errorf("inject: %d: unexpected wait status %#x", tid, uint32(ws))
	}
	var out unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &out); err != nil {
		_ = unix.Kill(tid, unix.SIGKILL)
		return true, nil, fmt.Errorf("inject: getregs after mmap %d: %w; killed", tid, err)
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
		_ = unix.Kill(tid, unix.SIGKILL)
		return true, nil, fmt.Errorf("inject: restore %d: %w; killed", tid, err)
	}
	if err := unix.PtraceCont(tid, 0); err != nil {
		_ = unix.Kill(tid, unix.SIGKILL)
		return true, nil, fmt.Errorf("inject: continue %d: %w; killed", tid, err)
	}
	switch {
	case uint64(ret) == Addr:
		return true, nil, nil
	case ret == -int64(unix.EEXIST):
		return true, nil, fmt.Errorf("inject into %d: %w", tid, ErrTaken)
	case ret < 0 && ret > -4096:
		return true, nil, fmt.Errorf("inject into %d: mmap: %w", tid, unix.Errno(-ret))
	}
	// A kernel without MAP_FIXED_NOREPLACE (<4.17) treats it as a hint and
	// may map elsewhere; such a mapping is useless (and not in Block).
	return true, nil, fmt.Errorf("inject into %d: mmap returned %#x, not %#x", tid, uint64(ret), Addr)
}
