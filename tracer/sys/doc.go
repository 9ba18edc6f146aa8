// Package sys wraps the kernel calls the tracer makes: ptrace requests,
// wait4, and reading or writing a stopped tracee's memory and registers.
//
// How it works:
//
//   - Every ptrace request must come from the thread that attached, so every
//     function here that issues one carries a "Precondition:" comment: the
//     caller runs on the tracer's locked OS thread.
//   - ESRCH from a request means the tracee is gone (killed, or exited while
//     we looked): it is returned as an error wrapping ErrGone, which the stop
//     loop treats as normal flow, never as a crash.
//   - Memory is read with process_vm_readv one page at a time, so a string
//     that ends just before an unmapped page still reads; if the call is not
//     allowed, PTRACE_PEEKDATA reads word by word.
//   - Regs wraps the register set with architecture-neutral accessors
//     (syscall number, arguments, return value, skip-with-errno) so the stop
//     loop never touches a register by name; regs_<arch>.go holds the names.
package sys
