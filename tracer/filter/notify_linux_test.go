//go:build linux && cgo && amd64

package filter

import (
	"testing"

	"golang.org/x/sys/unix"
)

const (
	retUserNotif = 0x7fc00000
	atFdCwd      = 0xffffff9c // AT_FDCWD as the low half of a register
)

// TestNotifyFilterVM runs the fast-path filter in a BPF VM: which opens
// reach the supervisor, which stay on ptrace, and that the default filter
// is unchanged.
func TestNotifyFilterVM(t *testing.T) {
	notify := loadVM(t, Options{NotifyOpens: true})
	plain := loadVM(t, Options{})
	const rdonly, wronly = unix.O_RDONLY, unix.O_WRONLY
	cases := []struct {
		name        string
		nr          uint32
		args        [6]uint64
		want, plain uint32
	}{
		{"openat/O_RDONLY", unix.SYS_OPENAT, [6]uint64{atFdCwd, 0x1000, rdonly}, retUserNotif, retTrace},
		{"openat/O_WRONLY|O_TRUNC", unix.SYS_OPENAT, [6]uint64{atFdCwd, 0x1000, wronly | unix.O_TRUNC}, retUserNotif, retTrace},
		{"openat/O_PATH|O_NOFOLLOW", unix.SYS_OPENAT, [6]uint64{atFdCwd, 0x1000, unix.O_PATH | unix.O_NOFOLLOW}, retUserNotif, retTrace},
		{"openat/O_CREAT", unix.SYS_OPENAT, [6]uint64{atFdCwd, 0x1000, wronly | unix.O_CREAT, 0o644}, retTrace, retTrace},
		{"openat/O_TMPFILE", unix.SYS_OPENAT, [6]uint64{atFdCwd, 0x1000, unix.O_RDWR | unix.O_TMPFILE, 0o600}, retTrace, retTrace},
		{"openat/marked", unix.SYS_OPENAT, [6]uint64{atFdCwd, 0x1000, rdonly | PtraceOpenMark}, retTrace, retTrace},
		{"openat/high bits, not the mark", unix.SYS_OPENAT, [6]uint64{atFdCwd, 0x1000, rdonly | 1<<40}, retUserNotif, retTrace},
		{"open/O_RDONLY", unix.SYS_OPEN, [6]uint64{0x1000, rdonly}, retUserNotif, retTrace},
		{"open/O_CREAT", unix.SYS_OPEN, [6]uint64{0x1000, wronly | unix.O_CREAT, 0o644}, retTrace, retTrace},
		{"open/marked", unix.SYS_OPEN, [6]uint64{0x1000, rdonly | PtraceOpenMark}, retTrace, retTrace},
		// The flags of open are arg 1: a mark in openat's slot means nothing.
		{"open/mark in arg 2", unix.SYS_OPEN, [6]uint64{0x1000, rdonly, PtraceOpenMark}, retUserNotif, retTrace},
		{"openat2", unix.SYS_OPENAT2, [6]uint64{atFdCwd, 0x1000, 0x2000, 24}, retTrace, retTrace},
		{"creat", unix.SYS_CREAT, [6]uint64{0x1000, 0o644}, retTrace, retTrace},
		{"setfsuid", unix.SYS_SETFSUID, [6]uint64{1000}, retTrace, retAllow},
		{"setfsgid", unix.SYS_SETFSGID, [6]uint64{1000}, retTrace, retAllow},
		{"setgroups", unix.SYS_SETGROUPS, [6]uint64{0, 0}, retTrace, retAllow},
		{"capset", unix.SYS_CAPSET, [6]uint64{0x1000, 0x2000}, retTrace, retAllow},
		{"setuid", unix.SYS_SETUID, [6]uint64{1000}, retTrace, retTrace},
		{"getpid", unix.SYS_GETPID, [6]uint64{}, retAllow, retAllow},
		{"seccomp NEW_LISTENER", unix.SYS_SECCOMP, [6]uint64{1, seccompFilterFlagNewListener}, retErrno | uint32(unix.EPERM), retErrno | uint32(unix.EPERM)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, v := range []struct {
				vm   interface{ Run([]byte) (int, error) }
				want uint32
				what string
			}{{notify, c.want, "fast-path filter"}, {plain, c.plain, "default filter"}} {
				got, err := v.vm.Run(seccompData(auditArchX8664, c.nr, c.args))
				if err != nil {
					t.Fatalf("%s: VM: %v", v.what, err)
				}
				if uint32(got) != v.want {
					t.Errorf("%s: got %s, want %s", v.what, retName(uint32(got)), retName(v.want))
				}
			}
		})
	}
}
