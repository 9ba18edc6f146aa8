// Package reloc closes the pointer-argument TOCTOU race (issue 9): after the
// tracer has checked a path (or sockaddr, or open_how) at a seccomp stop, the
// kernel would read the app's own buffer again when the syscall runs, and a
// second thread can rewrite it in between. reloc moves the checked bytes into
// memory the app can map but never write, and points the argument register
// there, so the kernel uses exactly what was checked.
//
// How it works:
//
//   - The region is a memfd (MFD_ALLOW_SEALING, sparse, Size bytes). The
//     tracer maps it read-write, then seals it with F_SEAL_FUTURE_WRITE |
//     F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL. FUTURE_WRITE is the subtle
//     one: mappings made before the seal stay writable (ours), but from then
//     on write(2), fallocate(PUNCH_HOLE) and every new shared writable
//     mapping fail with EPERM, and a shared read-only mapping made after the
//     seal loses VM_MAYWRITE, so mprotect(PROT_WRITE) on it fails with EACCES.
//     /proc/<pid>/mem (FOLL_FORCE) cannot write it either: forced writes only
//     work on private (COW) mappings. So the tracer's own mapping is the only
//     way to change the bytes.
//   - The app inherits the memfd at descriptor Fd (63, not close-on-exec);
//     the filter fakes close/dup2/dup3/fcntl(F_SETFD)/ioctl(FIOCLEX) on it and
//     refuses close_range with ENOSYS (callers fall back to closing one by
//     one), so daemons that close every descriptor keep it (FilterRules).
//   - Every traced process maps it read-only, MAP_SHARED, at the fixed
//     address Addr in the middle of the 4 GiB block Block. A new image does
//     so itself before its first instruction, in a stub the tracer writes
//     into its vDSO at the exec stop (Stub, stub_linux_amd64.go), with no
//     stop of its own. Where the stub cannot be used, the tracer injects
//     that mmap (Inject) at the process's first relocatable seccomp stop:
//     it saves the registers, turns the stopped syscall into
//     mmap(Addr, Size, PROT_READ, MAP_SHARED|MAP_FIXED_NOREPLACE, Fd, 0),
//     runs it to its exit stop, then restores the registers with rip rewound
//     over the 2-byte syscall instruction and rax = the original number, so
//     the original syscall runs again and traps again — where it is decided
//     as usual. The kernel does not trap the injected mmap a second time:
//     after a tracer changes a syscall at a RET_TRACE stop, seccomp re-runs
//     the filter and treats a second RET_TRACE as "allow"
//     (__seccomp_filter's recheck_after_trace).
//   - fork children inherit the mapping, vfork and CLONE_VM children share
//     it, exec drops it. The tracer does not track which is which: Mapped
//     reads /proc/<pid>/maps and accepts any read-only shared mapping of our
//     memfd at Addr (whoever made it, it cannot be written), otherwise it
//     injects. If the address is taken, relocatable syscalls of that process
//     fail closed.
//   - The filter traps the memory-management syscalls (mmap, mprotect,
//     munmap, mremap, madvise, pkey_mprotect, remap_file_pages, shmat) only
//     when an address argument lies in Block or a length could reach Addr
//     from below (>= 2 GiB); everything else runs at native speed. The tracer
//     refuses (EPERM) each one whose range meets Block (Touches), so nothing
//     can replace the region or be mapped next to it, but for the region's
//     own mmap (the stub's), which the filter lets through: it can only map
//     the region, read-only, where nothing is.
//   - Each thread that needs relocation gets a SlotSize slot from Slots, freed
//     when the thread exits. Writing a slot is a plain store into the
//     tracer's mapping: no syscall. The only added kernel work per relocated
//     call is the PTRACE_SETREGS that points the argument at the slot.
//
// Everything here that issues ptrace requests carries a "Precondition:" like
// tracer/sys: it runs on the tracer's locked OS thread.
package reloc
