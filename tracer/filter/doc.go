// Package filter is bluelock's seccomp filter: which syscalls stop in the
// tracer, which are refused outright, and everything else at native speed.
//
// How it works:
//
//   - spec.go holds the whole filter as data (Rules). It is pure and has no
//     build tag, so it can be read and reviewed on any platform.
//   - filter_linux.go compiles the rules with libseccomp (statically linked
//     into the tracer). The program checks the architecture first: anything
//     but the native ABI — i386 "int 0x80", x32 numbers — kills the process,
//     so no syscall can reach the kernel under numbers we do not decide on.
//   - Traced syscalls return SECCOMP_RET_TRACE: the kernel stops the caller
//     and wakes the tracer (PTRACE_EVENT_SECCOMP). With no tracer the kernel
//     fails them with ENOSYS, so a dead tracer fails closed.
//   - Refused syscalls are those that would let the app blind or bypass the
//     tracer (ptrace, io_uring, USER_NOTIF listeners, CLONE_UNTRACED, ...);
//     they fail in the kernel without a stop. prctl(PR_SET_DUMPABLE, 0) is
//     answered "success" without being done, so the app's memory stays
//     readable to the tracer.
//   - reloc_spec.go adds the argument-region rules (tracer/reloc): memory
//     calls that could touch the region's 4 GiB block stop in the tracer,
//     its descriptor survives close/dup2/FD_CLOEXEC (faked), close_range
//     returns ENOSYS; and the mount and namespace refusals (mount API,
//     pivot_root, setns, unshare/clone with CLONE_NEWUSER or CLONE_NEWNS).
//   - Load installs the program with no_new_privs and TSYNC from stage 2,
//     just before it execs the app; ExportBPF gives the raw program so tests
//     can run it in golang.org/x/net/bpf's VM.
package filter
