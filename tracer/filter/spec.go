package filter

import "golang.org/x/sys/unix"

// Action is what the filter does with a syscall that a Rule matches.
type Action uint8

const (
	// Trace stops the caller with PTRACE_EVENT_SECCOMP so the tracer can
	// decide. Without a tracer attached the kernel fails the syscall with
	// ENOSYS, so a dead tracer fails closed.
	Trace Action = iota + 1
	// Errno fails the syscall with Rule.Errno without running it (0 = fake
	// success).
	Errno
)

func (a Action) String() string {
	switch a {
	case Trace:
		return "trace"
	case Errno:
		return "errno"
	}
	return "unknown"
}

// CondOp compares one syscall argument.
type CondOp uint8

const (
	// MaskedEqual matches when arg&Mask == Value.
	MaskedEqual CondOp = iota + 1
	// Equal matches when arg == Value.
	Equal
)

// Cond is one argument comparison; all of a Rule's Conds must hold.
type Cond struct {
	Arg   uint
	Op    CondOp
	Mask  uint64
	Value uint64
}

// Rule is one line of the filter: a syscall, an optional argument test and
// what to do when it matches. Syscalls not listed run at native speed.
type Rule struct {
	Syscall string
	Action  Action
	Errno   unix.Errno
	Conds   []Cond
	// Why is the reason, kept next to the rule so reviews see it.
	Why string
}

// traced are the syscalls the tracer decides on, one seccomp stop each.
//
// If you change this list, also change: the decoders in tracer/syscalls.go
// (every traced syscall needs one, or the tracer reports it as unknown and
// lets it run), the syscall→operation table in tracer/syscalls.go, and the
// expectations in filter_linux_test.go.
var traced = [...]string{
	// Process.
	"execve", "execveat",
	// File.
	"open", "openat", "openat2", "creat",
	"unlink", "unlinkat", "rename", "renameat", "renameat2",
	// Network.
	"socket", "connect", "accept", "accept4", "bind", "listen",
	// Capability rules, syscall rules and readOnly need these too.
	"link", "linkat", "symlink", "symlinkat", "rmdir", "mkdir", "mkdirat",
	"truncate", "chroot", "mknod", "mknodat", "chown", "lchown", "fchownat",
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
}

// refused are syscalls (or syscall+argument combinations) that would let the
// app escape or blind the tracer. They never reach the tracer.
//
// If you change this list, also change filter_linux_test.go and the
// refusal tests in tracer/tracer_linux_test.go, and docs/limitations.md.
var refused = [...]Rule{
	{Syscall: "ptrace", Action: Errno, Errno: unix.EPERM,
		Why: "a tracee that ptraces its own children steals their seccomp stops (CLONE_UNTRACED+SEIZE bypass)"},
	{Syscall: "process_vm_writev", Action: Errno, Errno: unix.EPERM,
		Why: "writing another tracee's memory after we checked it"},
	{Syscall: "io_uring_setup", Action: Errno, Errno: unix.ENOSYS,
		Why: "io_uring opens, connects and renames without syscalls; ENOSYS makes runtimes fall back"},
	{Syscall: "io_uring_enter", Action: Errno, Errno: unix.ENOSYS,
		Why: "a ring fd can arrive over SCM_RIGHTS from outside the tree"},
	{Syscall: "io_uring_register", Action: Errno, Errno: unix.ENOSYS,
		Why: "as io_uring_enter"},
	{Syscall: "seccomp", Action: Errno, Errno: unix.EPERM,
		Conds: []Cond{{Arg: 1, Op: MaskedEqual, Mask: unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, Value: unix.SECCOMP_FILTER_FLAG_NEW_LISTENER}},
		Why:   "a USER_NOTIF filter outranks RET_TRACE: its listener would answer instead of us"},
	{Syscall: "clone", Action: Errno, Errno: unix.EPERM,
		Conds: []Cond{{Arg: 0, Op: MaskedEqual, Mask: unix.CLONE_UNTRACED, Value: unix.CLONE_UNTRACED}},
		Why:   "an untraced child would run without us"},
	{Syscall: "clone3", Action: Errno, Errno: unix.ENOSYS,
		Why: "its flags are in memory where BPF cannot look; glibc and Go fall back to clone on ENOSYS"},
	{Syscall: "pidfd_getfd", Action: Errno, Errno: unix.EPERM,
		Why: "stealing descriptors from other processes"},
	{Syscall: "userfaultfd", Action: Errno, Errno: unix.EPERM,
		Why: "stalls kernel copies mid-syscall, widening TOCTOU races"},
	{Syscall: "open_by_handle_at", Action: Errno, Errno: unix.EPERM,
		Why: "opens files by handle, bypassing path rules (shocker)"},
	{Syscall: "name_to_handle_at", Action: Errno, Errno: unix.EPERM,
		Why: "the other half of open_by_handle_at"},
	{Syscall: "prctl", Action: Errno, Errno: 0,
		Conds: []Cond{
			{Arg: 0, Op: Equal, Value: unix.PR_SET_DUMPABLE},
			{Arg: 1, Op: Equal, Value: 0},
		},
		Why: "a non-dumpable tracee's memory is unreadable without CAP_SYS_PTRACE; pretend success"},
}

// Rules returns the whole filter spec: every traced syscall, then every
// refusal. The result is a fresh slice the caller may keep.
func Rules() []Rule {
	out := make([]Rule, 0, len(traced)+len(refused))
	for _, name := range traced {
		out = append(out, Rule{Syscall: name, Action: Trace, Why: "decided by the tracer"})
	}
	return append(out, refused[:]...)
}

// TracedSyscalls lists the syscalls that stop in the tracer.
func TracedSyscalls() []string { return append([]string(nil), traced[:]...) }
