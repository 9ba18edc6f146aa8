//go:build linux && cgo && amd64

package filter

import (
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Audit arch values from <linux/audit.h>.
const (
	auditArchX8664 = 0xc000003e
	auditArchI386  = 0x40000003
	x32Bit         = 0x40000000
)

// Seccomp return values from <linux/seccomp.h>.
const (
	retKillProcess = 0x80000000
	retErrno       = 0x00050000
	retTrace       = 0x7ff00000
	retAllow       = 0x7fff0000
)

// seccompData builds struct seccomp_data for the x/net/bpf VM. The kernel
// lays the struct out in host order (little endian here) and BPF loads 32-bit
// words from it; the VM instead decodes every load as big endian. So each
// 32-bit word is written big endian at the offset where the kernel would put
// it: the VM then reads the same value the kernel's BPF would (runc's enosys
// tests use the same trick).
func seccompData(arch uint32, nr uint32, args [6]uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], nr)
	binary.BigEndian.PutUint32(b[4:], arch)
	// instruction_pointer at 8..16 stays zero.
	for i, a := range args {
		off := 16 + 8*i
		binary.BigEndian.PutUint32(b[off:], uint32(a))       // low word first (little-endian struct)
		binary.BigEndian.PutUint32(b[off+4:], uint32(a>>32)) // then the high word
	}
	return b
}

func loadVM(t *testing.T) *bpf.VM {
	t.Helper()
	raw, err := ExportBPF()
	if err != nil {
		t.Fatalf("ExportBPF: %v", err)
	}
	if len(raw)%8 != 0 || len(raw) == 0 {
		t.Fatalf("BPF export is %d bytes, not a whole number of instructions", len(raw))
	}
	insns := make([]bpf.Instruction, 0, len(raw)/8)
	for i := 0; i < len(raw); i += 8 {
		// struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } in host order.
		ri := bpf.RawInstruction{
			Op: binary.LittleEndian.Uint16(raw[i:]),
			Jt: raw[i+2],
			Jf: raw[i+3],
			K:  binary.LittleEndian.Uint32(raw[i+4:]),
		}
		insns = append(insns, ri.Disassemble())
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatalf("BPF VM rejects the filter: %v", err)
	}
	return vm
}

// nativeNR are the x86_64 numbers of every syscall the spec names, written out
// independently of libseccomp so a wrong lookup shows up here.
var nativeNR = map[string]uint32{
	"execve": unix.SYS_EXECVE, "execveat": unix.SYS_EXECVEAT,
	"open": unix.SYS_OPEN, "openat": unix.SYS_OPENAT, "openat2": unix.SYS_OPENAT2, "creat": unix.SYS_CREAT,
	"unlink": unix.SYS_UNLINK, "unlinkat": unix.SYS_UNLINKAT,
	"rename": unix.SYS_RENAME, "renameat": unix.SYS_RENAMEAT, "renameat2": unix.SYS_RENAMEAT2,
	"socket": unix.SYS_SOCKET, "connect": unix.SYS_CONNECT, "accept": unix.SYS_ACCEPT, "accept4": unix.SYS_ACCEPT4,
	"bind": unix.SYS_BIND, "listen": unix.SYS_LISTEN,
	"link": unix.SYS_LINK, "linkat": unix.SYS_LINKAT, "symlink": unix.SYS_SYMLINK, "symlinkat": unix.SYS_SYMLINKAT,
	"rmdir": unix.SYS_RMDIR, "mkdir": unix.SYS_MKDIR, "mkdirat": unix.SYS_MKDIRAT, "truncate": unix.SYS_TRUNCATE,
	"chroot": unix.SYS_CHROOT, "mknod": unix.SYS_MKNOD, "mknodat": unix.SYS_MKNODAT,
	"chown": unix.SYS_CHOWN, "lchown": unix.SYS_LCHOWN, "fchownat": unix.SYS_FCHOWNAT,
	"setuid": unix.SYS_SETUID, "setgid": unix.SYS_SETGID, "setreuid": unix.SYS_SETREUID, "setregid": unix.SYS_SETREGID,
	"setresuid": unix.SYS_SETRESUID, "setresgid": unix.SYS_SETRESGID,
	"chdir": unix.SYS_CHDIR, "fchdir": unix.SYS_FCHDIR,
}

func TestFilterVM(t *testing.T) {
	vm := loadVM(t)
	type tc struct {
		name string
		arch uint32
		nr   uint32
		args [6]uint64
		want uint32
	}
	var cases []tc
	for _, name := range TracedSyscalls() {
		nr, ok := nativeNR[name]
		if !ok {
			t.Fatalf("test table lacks the number of traced syscall %q", name)
		}
		cases = append(cases, tc{name: "arch=x86_64/syscall=" + name, arch: auditArchX8664, nr: nr, want: retTrace})
	}
	errno := func(e unix.Errno) uint32 { return retErrno | uint32(e) }
	cases = append(cases,
		tc{name: "arch=x86_64/syscall=getpid", arch: auditArchX8664, nr: unix.SYS_GETPID, want: retAllow},
		tc{name: "arch=x86_64/syscall=read", arch: auditArchX8664, nr: unix.SYS_READ, want: retAllow},
		tc{name: "arch=x86_64/syscall=close", arch: auditArchX8664, nr: unix.SYS_CLOSE, want: retAllow},
		tc{name: "arch=x86_64/syscall=ptrace", arch: auditArchX8664, nr: unix.SYS_PTRACE, want: errno(unix.EPERM)},
		tc{name: "arch=x86_64/syscall=process_vm_writev", arch: auditArchX8664, nr: unix.SYS_PROCESS_VM_WRITEV, want: errno(unix.EPERM)},
		tc{name: "arch=x86_64/syscall=process_vm_readv", arch: auditArchX8664, nr: unix.SYS_PROCESS_VM_READV, want: retAllow},
		tc{name: "arch=x86_64/syscall=io_uring_setup", arch: auditArchX8664, nr: unix.SYS_IO_URING_SETUP, want: errno(unix.ENOSYS)},
		tc{name: "arch=x86_64/syscall=io_uring_enter", arch: auditArchX8664, nr: unix.SYS_IO_URING_ENTER, want: errno(unix.ENOSYS)},
		tc{name: "arch=x86_64/syscall=io_uring_register", arch: auditArchX8664, nr: unix.SYS_IO_URING_REGISTER, want: errno(unix.ENOSYS)},
		tc{name: "arch=x86_64/syscall=clone3", arch: auditArchX8664, nr: unix.SYS_CLONE3, want: errno(unix.ENOSYS)},
		tc{name: "arch=x86_64/syscall=pidfd_getfd", arch: auditArchX8664, nr: unix.SYS_PIDFD_GETFD, want: errno(unix.EPERM)},
		tc{name: "arch=x86_64/syscall=userfaultfd", arch: auditArchX8664, nr: unix.SYS_USERFAULTFD, want: errno(unix.EPERM)},
		tc{name: "arch=x86_64/syscall=open_by_handle_at", arch: auditArchX8664, nr: unix.SYS_OPEN_BY_HANDLE_AT, want: errno(unix.EPERM)},
		tc{name: "arch=x86_64/syscall=name_to_handle_at", arch: auditArchX8664, nr: unix.SYS_NAME_TO_HANDLE_AT, want: errno(unix.EPERM)},
		// clone: only CLONE_UNTRACED is refused; threads and forks run free.
		tc{name: "arch=x86_64/syscall=clone/flags=thread", arch: auditArchX8664, nr: unix.SYS_CLONE,
			args: [6]uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID},
			want: retAllow},
		tc{name: "arch=x86_64/syscall=clone/flags=SIGCHLD", arch: auditArchX8664, nr: unix.SYS_CLONE, args: [6]uint64{uint64(unix.SIGCHLD)}, want: retAllow},
		tc{name: "arch=x86_64/syscall=clone/flags=UNTRACED", arch: auditArchX8664, nr: unix.SYS_CLONE, args: [6]uint64{unix.CLONE_UNTRACED | uint64(unix.SIGCHLD)}, want: errno(unix.EPERM)},
		tc{name: "arch=x86_64/syscall=clone/flags=UNTRACED|high-bits", arch: auditArchX8664, nr: unix.SYS_CLONE, args: [6]uint64{1<<40 | unix.CLONE_UNTRACED}, want: errno(unix.EPERM)},
		// seccomp: the app's own stacking is traced (the tracer notes it and
		// lets it run), a USER_NOTIF listener is refused.
		tc{name: "arch=x86_64/syscall=seccomp/flags=0", arch: auditArchX8664, nr: unix.SYS_SECCOMP, args: [6]uint64{unix.SECCOMP_SET_MODE_FILTER, 0}, want: retTrace},
		tc{name: "arch=x86_64/syscall=seccomp/flags=TSYNC", arch: auditArchX8664, nr: unix.SYS_SECCOMP, args: [6]uint64{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC}, want: retTrace},
		tc{name: "arch=x86_64/syscall=seccomp/op=FILTER|high-bits", arch: auditArchX8664, nr: unix.SYS_SECCOMP, args: [6]uint64{1<<32 | unix.SECCOMP_SET_MODE_FILTER, 0}, want: retTrace},
		tc{name: "arch=x86_64/syscall=seccomp/op=GET_ACTION_AVAIL", arch: auditArchX8664, nr: unix.SYS_SECCOMP, args: [6]uint64{unix.SECCOMP_GET_ACTION_AVAIL, 0}, want: retAllow},
		tc{name: "arch=x86_64/syscall=seccomp/op=STRICT", arch: auditArchX8664, nr: unix.SYS_SECCOMP, args: [6]uint64{unix.SECCOMP_SET_MODE_STRICT, 0}, want: retAllow},
		tc{name: "arch=x86_64/syscall=seccomp/flags=NEW_LISTENER", arch: auditArchX8664, nr: unix.SYS_SECCOMP, args: [6]uint64{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER}, want: errno(unix.EPERM)},
		tc{name: "arch=x86_64/syscall=seccomp/flags=NEW_LISTENER|TSYNC", arch: auditArchX8664, nr: unix.SYS_SECCOMP, args: [6]uint64{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC}, want: errno(unix.EPERM)},
		// prctl: only PR_SET_DUMPABLE(0) is faked.
		tc{name: "arch=x86_64/syscall=prctl/SET_DUMPABLE=0", arch: auditArchX8664, nr: unix.SYS_PRCTL, args: [6]uint64{unix.PR_SET_DUMPABLE, 0}, want: errno(0)},
		tc{name: "arch=x86_64/syscall=prctl/SET_DUMPABLE=1", arch: auditArchX8664, nr: unix.SYS_PRCTL, args: [6]uint64{unix.PR_SET_DUMPABLE, 1}, want: retAllow},
		tc{name: "arch=x86_64/syscall=prctl/SET_NAME", arch: auditArchX8664, nr: unix.SYS_PRCTL, args: [6]uint64{unix.PR_SET_NAME, 0}, want: retAllow},
		tc{name: "arch=x86_64/syscall=prctl/GET_DUMPABLE", arch: auditArchX8664, nr: unix.SYS_PRCTL, args: [6]uint64{unix.PR_GET_DUMPABLE, 0}, want: retAllow},
		tc{name: "arch=x86_64/syscall=prctl/SET_SECCOMP=FILTER", arch: auditArchX8664, nr: unix.SYS_PRCTL, args: [6]uint64{unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER}, want: retTrace},
		tc{name: "arch=x86_64/syscall=prctl/SET_SECCOMP=FILTER|high-bits", arch: auditArchX8664, nr: unix.SYS_PRCTL, args: [6]uint64{1<<33 | unix.PR_SET_SECCOMP, 1<<40 | unix.SECCOMP_MODE_FILTER}, want: retTrace},
		tc{name: "arch=x86_64/syscall=prctl/SET_SECCOMP=STRICT", arch: auditArchX8664, nr: unix.SYS_PRCTL, args: [6]uint64{unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_STRICT}, want: retAllow},
		tc{name: "arch=x86_64/syscall=prctl/GET_SECCOMP", arch: auditArchX8664, nr: unix.SYS_PRCTL, args: [6]uint64{unix.PR_GET_SECCOMP, 0}, want: retAllow},
	)
	// Foreign ABIs: every number, traced or not, kills the process.
	for _, c := range []struct {
		name string
		nr   uint32
	}{{"open", 5}, {"execve", 11}, {"socketcall", 102}, {"getpid", 20}, {"ptrace", 26}, {"openat", 295}} {
		cases = append(cases, tc{name: "arch=i386/syscall=" + c.name, arch: auditArchI386, nr: c.nr, want: retKillProcess})
	}
	for _, c := range []struct {
		name string
		nr   uint32
	}{{"open", 2}, {"openat", 257}, {"execve", 520}, {"getpid", 39}, {"read", 0}} {
		cases = append(cases, tc{name: "arch=x32/syscall=" + c.name, arch: auditArchX8664, nr: x32Bit | c.nr, want: retKillProcess})
	}
	cases = append(cases, tc{name: "arch=aarch64/syscall=openat", arch: 0xc00000b7, nr: 56, want: retKillProcess})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := vm.Run(seccompData(c.arch, c.nr, c.args))
			if err != nil {
				t.Fatalf("VM: %v", err)
			}
			if uint32(got) != c.want {
				t.Errorf("filter returned %s, want %s", retName(uint32(got)), retName(c.want))
			}
		})
	}
}

func retName(r uint32) string {
	switch {
	case r == retAllow:
		return "ALLOW"
	case r == retTrace:
		return "TRACE"
	case r == retKillProcess:
		return "KILL_PROCESS"
	case r&0xffff0000 == retErrno:
		return fmt.Sprintf("ERRNO(%d)", r&0xffff)
	}
	return fmt.Sprintf("%#x", r)
}

// TestRulesAreDistinct guards the spec: one syscall must not be both traced
// and refused without conditions, or libseccomp picks one silently.
func TestRulesAreDistinct(t *testing.T) {
	seen := map[string]Action{}
	for _, r := range Rules() {
		if len(r.Conds) != 0 {
			continue
		}
		if prev, ok := seen[r.Syscall]; ok {
			t.Errorf("%s listed twice (%s and %s)", r.Syscall, prev, r.Action)
		}
		seen[r.Syscall] = r.Action
	}
}
