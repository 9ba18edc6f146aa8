// Package procfs answers "which file would the kernel use?" for a path
// argument of a stopped tracee, and reads the per-process identity the
// tracer caches (exe, parent, uid).
//
// How it works:
//
//   - A path is resolved in the calling thread's view: relative paths start
//     at /proc/<tid>/cwd, a dirfd at /proc/<tid>/fd/<n>, and every component
//     is looked up under /proc/<tid>/root, so a chroot'ed or differently
//     mounted tracee resolves in its own tree.
//   - Components are walked one by one like the kernel's namei: symlinks are
//     read and spliced in (at most 40, then ELOOP), ".." is applied to the
//     physical directory reached so far (after symlinks), never lexically.
//   - Magic links are not followed through the tracer's own /proc (which
//     would say "self" is the tracer): /proc/self and /proc/thread-self become
//     the tracee's pid and tid, and /proc/<pid>/{fd/N,cwd,root,exe} are read
//     with readlink, which gives the object the kernel would open.
//   - The final component keeps its link when the syscall would not follow
//     it (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, unlink, rename, ...).
//   - Components that do not exist yet (O_CREAT, mkdir, rename targets) are
//     appended as written, with ".." applied to what is known.
//   - The walk (Walker) is pure over a small Lookup interface, so tests run
//     it over a temporary directory.
package procfs
