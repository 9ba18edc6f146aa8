package sys

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrGone means the tracee no longer exists (ESRCH): it exited or was killed
// while stopped. Callers drop it and wait for its exit status.
var ErrGone = errors.New("tracee gone")

func wrap(op string, tid int, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("%s %d: %w (%w)", op, tid, ErrGone, err)
	}
	return fmt.Errorf("%s %d: %w", op, tid, err)
}

// Options we set on every tracee. Auto-attached children inherit them.
const Options = unix.PTRACE_O_EXITKILL | // if the tracer dies, the tree dies: never run unenforced
	unix.PTRACE_O_TRACESECCOMP | // SECCOMP_RET_TRACE stops come to us as PTRACE_EVENT_SECCOMP
	unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK | unix.PTRACE_O_TRACECLONE | // follow every new task
	unix.PTRACE_O_TRACEEXEC | // EVENT_EXEC, for the post-exec image check and tid migration
	unix.PTRACE_O_TRACESYSGOOD // syscall stops report SIGTRAP|0x80, never confused with a real SIGTRAP

// Seize attaches to pid without stopping it, with Options. Seize rather than
// TRACEME/ATTACH: seized tracees (and their auto-attached children) report
// group-stops as PTRACE_EVENT_STOP and can be left stopped with PTRACE_LISTEN,
// so job control (kill -STOP/-CONT) keeps working under the tracer.
//
// Precondition: called on the tracer's locked OS thread.
func Seize(pid int) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, uintptr(Options), 0, 0)
	if e != 0 {
		return wrap("ptrace seize", pid, e)
	}
	return nil
}

// Cont resumes tid, delivering sig (0 for none). No syscall-exit stop.
//
// Precondition: called on the tracer's locked OS thread; tid is stopped.
func Cont(tid, sig int) error {
	return wrap("ptrace cont", tid, errnoErr(rawPtrace(unix.PTRACE_CONT, tid, 0, uintptr(sig))))
}

// Syscall resumes tid and asks for one syscall-exit stop, which is how the
// tracer learns a syscall's result.
//
// Precondition: called on the tracer's locked OS thread; tid is stopped.
func Syscall(tid, sig int) error {
	return wrap("ptrace syscall", tid, errnoErr(rawPtrace(unix.PTRACE_SYSCALL, tid, 0, uintptr(sig))))
}

// Listen leaves tid in its group-stop but lets the kernel report the next
// SIGCONT (or other event): PTRACE_CONT here would wrongly resume a process
// the user stopped.
//
// Precondition: called on the tracer's locked OS thread; tid is in a
// PTRACE_EVENT_STOP group-stop of a seized tracee.
func Listen(tid int) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_LISTEN, uintptr(tid), 0, 0, 0, 0)
	if e != 0 {
		return wrap("ptrace listen", tid, e)
	}
	return nil
}

// EventMsg returns PTRACE_GETEVENTMSG: the new tid at a fork/clone event,
// the former tid at an exec event.
//
// Precondition: called on the tracer's locked OS thread; tid is stopped.
func EventMsg(tid int) (int, error) {
	m, err := unix.PtraceGetEventMsg(tid)
	return int(m), wrap("ptrace geteventmsg", tid, err)
}

// Wait4 waits for any child or tracee (__WALL: threads too), retrying EINTR.
// wait4(-1) also reaps untraced children reparented to us (PID 1 or
// subreaper duty).
//
// Precondition: called on the tracer's locked OS thread (the kernel reports
// ptrace stops to the tracer's thread group, but keeping it on one thread
// keeps the stop/request pairing obvious).
func Wait4(options int) (int, unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		pid, err := unix.Wait4(-1, &ws, options|unix.WALL, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return pid, ws, err
	}
}

// PathMax bounds every string read from a tracee, as the kernel bounds paths.
const PathMax = 4096

const pageSize = 4096

// ReadString reads a NUL-terminated string of at most max bytes at addr.
// It reads page by page so a string ending just before an unmapped page
// reads fine, and falls back to PTRACE_PEEKDATA if process_vm_readv is
// refused. A string without NUL within max bytes is an error (the kernel
// would fail with ENAMETOOLONG).
//
// Precondition: tid is stopped (for the PEEKDATA fallback, also: called on
// the tracer's locked OS thread).
func ReadString(tid int, addr uintptr, max int) (string, error) {
	if addr == 0 {
		return "", fmt.Errorf("read string of %d: NULL pointer", tid)
	}
	// Most paths are short: the first read asks for at most firstRead bytes
	// (never past the page end), so the common case copies little and
	// allocates little; a stop loop that allocates a page per path spends
	// its time in the garbage collector.
	var first [firstRead]byte
	var buf []byte
	want := firstRead
	for len(buf) < max {
		n := pageSize - int(addr%pageSize)
		if n > want {
			n = want
		}
		if n > max-len(buf) {
			n = max - len(buf)
		}
		var chunk []byte
		if buf == nil && n <= len(first) {
			chunk = first[:n]
		} else {
			chunk = make([]byte, n)
		}
		if err := readMem(tid, addr, chunk); err != nil {
			return "", err
		}
		if i := indexByte(chunk, 0); i >= 0 {
			if buf == nil {
				return string(chunk[:i]), nil
			}
			return string(append(buf, chunk[:i]...)), nil
		}
		buf = append(buf, chunk...)
		addr += uintptr(n)
		want = pageSize
	}
	return "", fmt.Errorf("read string of %d: longer than %d bytes", tid, max)
}

// firstRead is how much of a string the first read asks for.
const firstRead = 256

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// ReadMem fills buf from the tracee's memory at addr, page by page.
//
// Precondition: tid is stopped; called on the tracer's locked OS thread.
func ReadMem(tid int, addr uintptr, buf []byte) error {
	for off := 0; off < len(buf); {
		n := pageSize - int((addr+uintptr(off))%pageSize)
		if n > len(buf)-off {
			n = len(buf) - off
		}
		if err := readMem(tid, addr+uintptr(off), buf[off:off+n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// readMem reads buf (within one page) at addr.
func readMem(tid int, addr uintptr, buf []byte) error {
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: addr, Len: len(buf)}}
	n, err := unix.ProcessVMReadv(tid, local, remote, 0)
	if err == nil && n == len(buf) {
		return nil
	}
	if errors.Is(err, unix.ESRCH) {
		return wrap("process_vm_readv", tid, err)
	}
	// EPERM (non-dumpable tracee without CAP_SYS_PTRACE), ENOSYS, or a short
	// read: try the slow path, which has its own (ptrace) access check.
	m, perr := unix.PtracePeekData(tid, addr, buf)
	if perr != nil || m != len(buf) {
		if perr == nil {
			perr = fmt.Errorf("short read %d of %d", m, len(buf))
		}
		return wrap("read tracee memory", tid, errors.Join(err, perr))
	}
	return nil
}

// WriteMem writes buf, whole words at a word-aligned addr, into the tracee
// with PTRACE_POKEDATA, which, unlike process_vm_writev, writes read-only
// mappings. One request per word and none to read a partial one (x/sys's
// PtracePokeData reads the last word back even when it is whole).
//
// Precondition: tid is stopped; called on the tracer's locked OS thread.
func WriteMem(tid int, addr uintptr, buf []byte) error {
	if addr%8 != 0 || len(buf)%8 != 0 {
		return fmt.Errorf("ptrace pokedata %d: %d bytes at %#x: not whole words", tid, len(buf), addr)
	}
	for off := 0; off < len(buf); off += 8 {
		word := binary.LittleEndian.Uint64(buf[off:])
		if e := rawPtrace(unix.PTRACE_POKEDATA, tid, addr+uintptr(off), uintptr(word)); e != 0 {
			return wrap("ptrace pokedata", tid, e)
		}
	}
	return nil
}
