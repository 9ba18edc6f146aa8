package filter

// Rules of the notification fast path (--fast-opens; docs/unotify.md).
//
// An open or openat that creates nothing goes to the supervisor, which
// decides it and, when allowed, opens the checked path itself and hands the
// descriptor over: the kernel never reads the app's buffer again, so no
// ptrace stop is needed to relocate it. Creating opens stay on ptrace, as do
// opens the supervisor sends back (PtraceOpenMark).
//
// If you change these, also change tracer/notify_linux.go and
// notify_linux_test.go.

const (
	oCreat    = 0x40     // O_CREAT
	oTmpfile  = 0x400000 // __O_TMPFILE (O_TMPFILE without O_DIRECTORY)
	openFlags = 1        // open(path, flags, mode)
	atFlags   = 2        // openat(dirfd, path, flags, mode)

	// PtraceOpenMark is a bit of open's flags register that the kernel
	// ignores (it reads the argument as a 32-bit int) and BPF sees. An open
	// carrying it stops in ptrace instead of reaching the supervisor: that
	// is how the supervisor hands back a call it cannot emulate, and a mark
	// the app sets itself only buys it the slower, equally strict path.
	PtraceOpenMark = 1 << 32
)

// notifiedOpen reports whether name is an open the fast path may take.
func notifiedOpen(name string) bool { return name == "open" || name == "openat" }

// notifyRules replace the Trace rules of open and openat, and trace the
// calls that change the file-system identity the supervisor must match.
func notifyRules() []Rule {
	var rs []Rule
	for _, o := range []struct {
		name string
		arg  uint
	}{{"open", openFlags}, {"openat", atFlags}} {
		rs = append(rs,
			Rule{Syscall: o.name, Action: Notify,
				Conds: []Cond{{Arg: o.arg, Op: MaskedEqual, Mask: oCreat | oTmpfile | PtraceOpenMark, Value: 0}},
				Why:   "creates nothing: decided, and opened if allowed, by the supervisor"},
			Rule{Syscall: o.name, Action: Trace,
				Conds: []Cond{{Arg: o.arg, Op: MaskedEqual, Mask: oCreat, Value: oCreat}},
				Why:   "creates a file: emulating it needs umask, ACLs and no repeat, so ptrace"},
			Rule{Syscall: o.name, Action: Trace,
				Conds: []Cond{{Arg: o.arg, Op: MaskedEqual, Mask: oTmpfile, Value: oTmpfile}},
				Why:   "creates an unnamed file: ptrace, as O_CREAT"},
			Rule{Syscall: o.name, Action: Trace,
				Conds: []Cond{{Arg: o.arg, Op: MaskedEqual, Mask: PtraceOpenMark, Value: PtraceOpenMark}},
				Why:   "handed back by the supervisor (or marked by the app): ptrace"})
	}
	for _, sc := range credCalls {
		rs = append(rs, Rule{Syscall: sc, Action: Trace,
			Why: "changes the identity the supervisor opens with: it must look again"})
	}
	return rs
}

// credCalls change a thread's file-system identity and are not traced
// otherwise (the setuid family is: traced[]).
var credCalls = [...]string{"setfsuid", "setfsgid", "setgroups", "capset"}

// CredCalls lists credCalls (a fresh slice).
func CredCalls() []string { return append([]string(nil), credCalls[:]...) }
