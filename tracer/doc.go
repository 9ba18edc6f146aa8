// Package tracer runs a container's entrypoint under ptrace+seccomp and
// enforces KubeArmor policies on it, without a host, eBPF or an LSM.
//
// How it works:
//
//  1. Run re-executes the same static binary as "stage 2" (environment
//     BLUELOCK_STAGE2=<fd>, a sync pipe as fd 3). Stage 2's main goroutine is
//     locked to its first thread by an init function, and blocks reading the
//     pipe.
//  2. The tracer, on its own locked OS thread, PTRACE_SEIZEs stage 2 with
//     EXITKILL|TRACESECCOMP|TRACEFORK|TRACEVFORK|TRACECLONE|TRACEEXEC|
//     TRACESYSGOOD, then writes to the pipe. SEIZE (not TRACEME) because
//     seized tracees and their auto-attached children report group-stops as
//     PTRACE_EVENT_STOP and can be left stopped with PTRACE_LISTEN, so job
//     control keeps working.
//  3. Stage 2 looks CMD up in PATH (127/126 as a shell), sets no_new_privs,
//     drops CAP_SYS_PTRACE from every capability set, loads the seccomp
//     filter (tracer/filter) on all its threads, and execs CMD from the
//     seized thread. That execve is itself trapped and decided.
//  4. The stop loop waits with wait4(-1, __WALL) (while stops come in quick
//     succession it first polls for up to Config.Spin, yielding its CPU, so
//     neither it nor the app pays a halted CPU's wake-up; spin.go) and turns each stop into
//     one action: a seccomp stop is decoded (decode_linux.go: registers and
//     tracee memory → facets, one policy request per domain), decided by the
//     Policy (the strictest verdict wins) and applied: Block skips the
//     syscall with EACCES at the seccomp stop (no second stop); Audit, or a
//     log that visibility asks for, takes the syscall-exit stop to report the
//     real result; everything else continues at once. Before an allowed
//     call runs, the bytes its decision read are copied into a sealed,
//     read-only region mapped at a fixed address in every tracee and the
//     argument registers pointed there, so no other thread can change what
//     the kernel uses after the check (relocate_linux_amd64.go, tracer/reloc).
//     Opens go further: they become openat2 of the checked, symlink-free
//     path with RESOLVE_NO_SYMLINKS, so no link swapped into the file system
//     can change what they open either (pin_linux_amd64.go). Path calls
//     without such a flag (link, rename, unlink, ...) run one at a time
//     while a rule could block a file, so no tracee can change the tree
//     between one's check and its end (serial_linux.go).
//  5. Events are built from the facet and the cached process identity
//     (exe, parent, uid read from /proc at fork and exec) as KubeArmor Logs
//     and Alerts, and handed to the Emitter, which must not block.
//  6. At PTRACE_EVENT_EXEC the image really loaded (/proc/<pid>/exe) is
//     decided again; if it is blocked the process is killed before its first
//     instruction (the pre-check can be raced or fooled by interpreters).
//     For an ELF interpreter run directly (ld.so PROGRAM), PROGRAM is judged
//     too, from the argv the kernel copied (ldso.go). An allowed image is
//     started in a stub written into its vDSO that maps the region before
//     its first instruction, without a stop (mapAtExec, tracer/reloc).
//  7. As PID 1 the tracer forwards signals (Config.Signals) to the app,
//     re-injects every signal-delivery stop, reaps every child, and returns
//     the app's exit status (128+N when killed by signal N) once the app's
//     main process is gone; remaining tracees are killed, as the kernel would
//     when PID 1 exits.
//
// The split: the stop loop says what happened (an Event), the Policy says
// what to do (a Decision), the Emitter says who hears of it. ptrace and
// seccomp mechanics live in tracer/sys and tracer/filter, paths in
// tracer/procfs.
package tracer
