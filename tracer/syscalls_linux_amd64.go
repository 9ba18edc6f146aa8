package tracer

import "golang.org/x/sys/unix"

// syscallNames maps the x86_64 numbers of the traced syscalls to their
// names. If you change it, also change tracer/filter's spec (traced) and the
// decoders in decode_linux.go.
var syscallNames = map[int]string{
	unix.SYS_EXECVE: "execve", unix.SYS_EXECVEAT: "execveat",
	unix.SYS_OPEN: "open", unix.SYS_OPENAT: "openat", unix.SYS_OPENAT2: "openat2", unix.SYS_CREAT: "creat",
	unix.SYS_UNLINK: "unlink", unix.SYS_UNLINKAT: "unlinkat",
	unix.SYS_RENAME: "rename", unix.SYS_RENAMEAT: "renameat", unix.SYS_RENAMEAT2: "renameat2",
	unix.SYS_SOCKET: "socket", unix.SYS_CONNECT: "connect", unix.SYS_ACCEPT: "accept", unix.SYS_ACCEPT4: "accept4",
	unix.SYS_BIND: "bind", unix.SYS_LISTEN: "listen",
	unix.SYS_LINK: "link", unix.SYS_LINKAT: "linkat", unix.SYS_SYMLINK: "symlink", unix.SYS_SYMLINKAT: "symlinkat",
	unix.SYS_RMDIR: "rmdir", unix.SYS_MKDIR: "mkdir", unix.SYS_MKDIRAT: "mkdirat", unix.SYS_TRUNCATE: "truncate",
	unix.SYS_CHROOT: "chroot", unix.SYS_MKNOD: "mknod", unix.SYS_MKNODAT: "mknodat",
	unix.SYS_CHOWN: "chown", unix.SYS_LCHOWN: "lchown", unix.SYS_FCHOWNAT: "fchownat",
	unix.SYS_SETUID: "setuid", unix.SYS_SETGID: "setgid", unix.SYS_SETREUID: "setreuid", unix.SYS_SETREGID: "setregid",
	unix.SYS_SETRESUID: "setresuid", unix.SYS_SETRESGID: "setresgid",
	unix.SYS_CHDIR: "chdir", unix.SYS_FCHDIR: "fchdir",
}

// filterInstall reports whether nr is one of the calls by which an app
// stacks a seccomp filter of its own; tracer/filter traces them only in that
// use (seccomp SECCOMP_SET_MODE_FILTER, prctl PR_SET_SECCOMP).
func filterInstall(nr int) bool { return nr == unix.SYS_SECCOMP || nr == unix.SYS_PRCTL }
