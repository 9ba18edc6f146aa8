//go:build linux && cgo

package filter

import (
	"fmt"
	"os"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Supported reports whether this build can build and load the filter.
const Supported = true

// build compiles Rules() with libseccomp for the native architecture only.
func build() (*seccomp.ScmpFilter, error) {
	// Default ALLOW: only the syscalls we name cost anything.
	f, err := seccomp.NewFilter(seccomp.ActAllow)
	if err != nil {
		return nil, fmt.Errorf("new seccomp filter: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Release()
		}
	}()
	// A foreign-arch syscall (i386 int 0x80 from a 64-bit process) has other
	// numbers and would pass a native-only rule set untraced: kill the whole
	// process rather than the thread, so a half-dead process cannot go on.
	// libseccomp also sends x32 numbers (nr >= 0x40000000) to this action.
	if err := f.SetBadArchAction(seccomp.ActKillProcess); err != nil {
		return nil, fmt.Errorf("set bad-arch action: %w", err)
	}
	// Stage 2 sets no_new_privs itself; keeping the bit also makes Load set it.
	if err := f.SetNoNewPrivsBit(true); err != nil {
		return nil, fmt.Errorf("set no_new_privs bit: %w", err)
	}
	for _, r := range Rules() {
		if err := addRule(f, r); err != nil {
			return nil, err
		}
	}
	ok = true
	return f, nil
}

func addRule(f *seccomp.ScmpFilter, r Rule) error {
	sc, err := seccomp.GetSyscallFromName(r.Syscall)
	if err != nil {
		return fmt.Errorf("syscall %q: %w", r.Syscall, err)
	}
	var act seccomp.ScmpAction
	switch r.Action {
	case Trace:
		act = seccomp.ActTrace
	case ErrnoAction:
		act = seccomp.ActErrno.SetReturnCode(int16(r.Errno))
	default:
		return fmt.Errorf("syscall %q: unknown action %d", r.Syscall, r.Action)
	}
	if len(r.Conds) == 0 {
		if err := f.AddRuleExact(sc, act); err != nil {
			return fmt.Errorf("rule %s %s: %w", r.Syscall, r.Action, err)
		}
		return nil
	}
	conds := make([]seccomp.ScmpCondition, 0, len(r.Conds))
	for _, c := range r.Conds {
		var sc seccomp.ScmpCondition
		var err error
		switch c.Op {
		case MaskedEqual:
			sc, err = seccomp.MakeCondition(c.Arg, seccomp.CompareMaskedEqual, c.Mask, c.Value)
		case Equal:
			sc, err = seccomp.MakeCondition(c.Arg, seccomp.CompareEqual, c.Value)
		case GreaterEqual:
			sc, err = seccomp.MakeCondition(c.Arg, seccomp.CompareGreaterEqual, c.Value)
		case NotEqual:
			sc, err = seccomp.MakeCondition(c.Arg, seccomp.CompareNotEqual, c.Value)
		default:
			err = fmt.Errorf("unknown op %d", c.Op)
		}
		if err != nil {
			return fmt.Errorf("rule %s arg %d: %w", r.Syscall, c.Arg, err)
		}
		conds = append(conds, sc)
	}
	if err := f.AddRuleConditionalExact(sc, act, conds); err != nil {
		return fmt.Errorf("rule %s %s: %w", r.Syscall, r.Action, err)
	}
	return nil
}

// ExportBPF returns the raw BPF program (struct sock_filter[], host order)
// the kernel would run. Tests run it in a BPF VM.
func ExportBPF() ([]byte, error) {
	f, err := build()
	if err != nil {
		return nil, err
	}
	defer f.Release()
	// libseccomp 2.5 can only export to a file descriptor; a memfd keeps the
	// program off disk.
	fd, err := unix.MemfdCreate("bluelock-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd for BPF export: %w", err)
	}
	file := os.NewFile(uintptr(fd), "bluelock-bpf")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("export BPF: %w", err)
	}
	if _, err := file.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("rewind BPF export: %w", err)
	}
	st, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat BPF export: %w", err)
	}
	buf := make([]byte, st.Size())
	if _, err := file.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("read BPF export: %w", err)
	}
	return buf, nil
}

// Load sets no_new_privs and installs the filter on every thread of the
// calling process (TSYNC, which libseccomp sets by default).
//
// Precondition: the caller is about to execve from this OS thread; Go threads
// it does not own get the filter too, through TSYNC.
func Load() error {
	f, err := build()
	if err != nil {
		return err
	}
	defer f.Release()
	if err := f.Load(); err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	return nil
}
