package filter

// Linux values, spelled out so this pure file means the same on every GOOS
// (golang.org/x/sys/unix uses the build platform's numbers).
const (
	errEPERM  Errno = 1
	errENOSYS Errno = 38

	seccompFilterFlagNewListener = 0x8      // SECCOMP_FILTER_FLAG_NEW_LISTENER
	cloneUntraced                = 0x800000 // CLONE_UNTRACED
	prSetDumpable                = 4        // PR_SET_DUMPABLE
	prSetSeccomp                 = 22       // PR_SET_SECCOMP
	seccompSetModeFilter         = 1        // SECCOMP_SET_MODE_FILTER
	seccompModeFilter            = 2        // SECCOMP_MODE_FILTER (prctl)
	low32                        = 0xffffffff
)

// Errno is a Linux errno value returned by an Errno rule.
type Errno uint16

// Action is what the filter does with a syscall that a Rule matches.
type Action uint8

const (
	// Trace stops the caller with PTRACE_EVENT_SECCOMP so the tracer can
	// decide. Without a tracer attached the kernel fails the syscall with
	// ENOSYS, so a dead tracer fails closed.
	Trace Action = iota + 1
	// ErrnoAction fails the syscall with Rule.Errno without running it (0 = fake
	// success).
	ErrnoAction
)

func (a Action) String() string {
	switch a {
	case Trace:
		return "trace"
	case ErrnoAction:
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
	Errno   Errno
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
	// Not decided: events carry the working directory, which the tracer
	// keeps between these instead of reading it for every event.
	"chdir", "fchdir",
}

// refused are syscalls (or syscall+argument combinations) that would let the
// app escape or blind the tracer. They never reach the tracer.
//
// If you change this list, also change filter_linux_test.go and the
// refusal tests in tracer/tracer_linux_test.go, and docs/limitations.md.
var refused = [...]Rule{
	{Syscall: "ptrace", Action: ErrnoAction, Errno: errEPERM,
		Why: "a tracee that ptraces its own children steals their seccomp stops (CLONE_UNTRACED+SEIZE bypass)"},
	{Syscall: "process_vm_writev", Action: ErrnoAction, Errno: errEPERM,
		Why: "writing another tracee's memory after we checked it"},
	{Syscall: "io_uring_setup", Action: ErrnoAction, Errno: errENOSYS,
		Why: "io_uring opens, connects and renames without syscalls; ENOSYS makes runtimes fall back"},
	{Syscall: "io_uring_enter", Action: ErrnoAction, Errno: errENOSYS,
		Why: "a ring fd can arrive over SCM_RIGHTS from outside the tree"},
	{Syscall: "io_uring_register", Action: ErrnoAction, Errno: errENOSYS,
		Why: "as io_uring_enter"},
	{Syscall: "seccomp", Action: ErrnoAction, Errno: errEPERM,
		Conds: []Cond{{Arg: 1, Op: MaskedEqual, Mask: seccompFilterFlagNewListener, Value: seccompFilterFlagNewListener}},
		Why:   "a USER_NOTIF filter outranks RET_TRACE: its listener would answer instead of us"},
	{Syscall: "clone", Action: ErrnoAction, Errno: errEPERM,
		Conds: []Cond{{Arg: 0, Op: MaskedEqual, Mask: cloneUntraced, Value: cloneUntraced}},
		Why:   "an untraced child would run without us"},
	{Syscall: "clone3", Action: ErrnoAction, Errno: errENOSYS,
		Why: "its flags are in memory where BPF cannot look; glibc and Go fall back to clone on ENOSYS"},
	{Syscall: "pidfd_getfd", Action: ErrnoAction, Errno: errEPERM,
		Why: "stealing descriptors from other processes"},
	{Syscall: "userfaultfd", Action: ErrnoAction, Errno: errEPERM,
		Why: "stalls kernel copies mid-syscall, widening TOCTOU races"},
	{Syscall: "open_by_handle_at", Action: ErrnoAction, Errno: errEPERM,
		Why: "opens files by handle, bypassing path rules (shocker)"},
	{Syscall: "name_to_handle_at", Action: ErrnoAction, Errno: errEPERM,
		Why: "the other half of open_by_handle_at"},
	{Syscall: "prctl", Action: ErrnoAction, Errno: 0,
		Conds: []Cond{
			{Arg: 0, Op: Equal, Value: prSetDumpable},
			{Arg: 1, Op: Equal, Value: 0},
		},
		Why: "a non-dumpable tracee's memory is unreadable without CAP_SYS_PTRACE; pretend success"},
}

// filterInstalls are the calls by which an app stacks a seccomp filter of
// its own. They are traced, always let run, so the tracer knows which
// processes have one: after a tracer changes a call, the kernel runs every
// filter again on the new one, and an app's filter may refuse openat2, which
// the tracer makes of allowed opens (tracer/pin_linux_amd64.go). The kernel
// reads these arguments as 32-bit ints, so only the low half is compared.
var filterInstalls = [...]Rule{
	{Syscall: "seccomp", Action: Trace,
		Conds: []Cond{
			{Arg: 0, Op: MaskedEqual, Mask: low32, Value: seccompSetModeFilter},
			{Arg: 1, Op: MaskedEqual, Mask: seccompFilterFlagNewListener, Value: 0},
		},
		Why: "the app stacks its own filter (NEW_LISTENER is refused above)"},
	{Syscall: "prctl", Action: Trace,
		Conds: []Cond{
			{Arg: 0, Op: MaskedEqual, Mask: low32, Value: prSetSeccomp},
			{Arg: 1, Op: MaskedEqual, Mask: low32, Value: seccompModeFilter},
		},
		Why: "the app stacks its own filter, the old way"},
}

// Rules returns the whole filter spec: every traced syscall, then every
// refusal. The result is a fresh slice the caller may keep.
func Rules() []Rule {
	out := make([]Rule, 0, len(traced)+len(refused)+len(filterInstalls))
	for _, name := range traced {
		out = append(out, Rule{Syscall: name, Action: Trace, Why: "decided by the tracer"})
	}
	out = append(out, refused[:]...)
	out = append(out, filterInstalls[:]...)
	out = append(out, relocRules...) // reloc_spec.go
	return append(out, nsRefused...)
}

// TracedSyscalls lists the syscalls that stop in the tracer.
func TracedSyscalls() []string { return append([]string(nil), traced[:]...) }
