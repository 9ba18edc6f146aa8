//go:build linux && cgo && amd64

package filter

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/tracer/reloc"
)

func TestRelocConstantsMatch(t *testing.T) {
	if relocSize != reloc.Size || regionProt != unix.PROT_READ || regionFlags != unix.MAP_SHARED|unix.MAP_FIXED_NOREPLACE {
		t.Errorf("filter's region mmap: size %d prot %#x flags %#x; reloc.Size %d", relocSize, regionProt, regionFlags, reloc.Size)
	}
	if relocBlock != reloc.Block || relocFd != reloc.Fd || uint64(relocBlock)<<32+relocReach != reloc.Addr {
		t.Fatalf("filter block %#x fd %d, reloc block %#x fd %d addr %#x", relocBlock, relocFd, reloc.Block, reloc.Fd, reloc.Addr)
	}
	names := map[string]bool{}
	for _, r := range relocRules {
		if r.Action == Trace {
			names[r.Syscall] = true
		}
	}
	for _, n := range reloc.Memory {
		if !names[n] {
			t.Errorf("reloc.Touches judges %s but the filter never traps it", n)
		}
	}
	if len(names) != len(reloc.Memory) {
		t.Errorf("the filter traps %v; reloc.Memory is %v", names, reloc.Memory)
	}
}

// TestRelocFilterVM: memory calls stop only near the region, the region's
// descriptor survives, mounts and namespaces are refused.
func TestRelocFilterVM(t *testing.T) {
	vm := loadVM(t)
	errno := func(e unix.Errno) uint32 { return retErrno | uint32(e) }
	in := reloc.Addr
	blk := uint64(reloc.Block) << 32
	hi := uint64(1) << 32 // a set upper half, which the kernel ignores for int arguments
	const fioclex = 0x5451
	cases := []struct {
		name string
		nr   uint32
		args [6]uint64
		want uint32
	}{
		{"mmap/anywhere", unix.SYS_MMAP, [6]uint64{0, 1 << 20, 3, 0x22, ^uint64(0), 0}, retAllow},
		{"mmap/fixed-elsewhere", unix.SYS_MMAP, [6]uint64{0x7f0000000000, 4096, 3, 0x32}, retAllow},
		{"mmap/in-block", unix.SYS_MMAP, [6]uint64{in, 4096, 3, 0x32}, retTrace},
		{"mmap/the-region", unix.SYS_MMAP, [6]uint64{in, reloc.Size, 1, 0x100001, reloc.Fd, 0}, retAllow},
		{"mmap/the-region-elsewhere-in-block", unix.SYS_MMAP, [6]uint64{blk, reloc.Size, 1, 0x100001, reloc.Fd, 0}, retAllow},
		{"mmap/region-size", unix.SYS_MMAP, [6]uint64{in, reloc.Size + 4096, 1, 0x100001, reloc.Fd, 0}, retTrace},
		{"mmap/region-writable", unix.SYS_MMAP, [6]uint64{in, reloc.Size, 3, 0x100001, reloc.Fd, 0}, retTrace},
		{"mmap/region-fixed", unix.SYS_MMAP, [6]uint64{in, reloc.Size, 1, 0x11, reloc.Fd, 0}, retTrace},
		{"mmap/region-private", unix.SYS_MMAP, [6]uint64{in, reloc.Size, 1, 0x100002, reloc.Fd, 0}, retTrace},
		{"mmap/region-other-fd", unix.SYS_MMAP, [6]uint64{in, reloc.Size, 1, 0x100001, 3, 0}, retTrace},
		{"mmap/region-fd-high-bits", unix.SYS_MMAP, [6]uint64{in, reloc.Size, 1, 0x100001, reloc.Fd | hi, 0}, retTrace},
		{"mmap/region-offset", unix.SYS_MMAP, [6]uint64{in, reloc.Size, 1, 0x100001, reloc.Fd, 4096}, retTrace},
		{"mmap/region-prot-high-bits", unix.SYS_MMAP, [6]uint64{in, reloc.Size, 1 | hi, 0x100001, reloc.Fd, 0}, retTrace},
		{"mmap/block-start", unix.SYS_MMAP, [6]uint64{blk, 4096, 3, 0x32}, retTrace},
		{"mmap/block-end", unix.SYS_MMAP, [6]uint64{blk + hi - 4096, 4096, 3, 0x32}, retTrace},
		{"mmap/next-block", unix.SYS_MMAP, [6]uint64{blk + hi, 4096, 3, 0x32}, retAllow},
		{"mmap/2GiB", unix.SYS_MMAP, [6]uint64{0, 1 << 31, 0, 0x22}, retTrace},
		{"mmap/2GiB-1page", unix.SYS_MMAP, [6]uint64{0, 1<<31 - 4096, 0, 0x22}, retAllow},
		{"mmap/64GiB", unix.SYS_MMAP, [6]uint64{0, 64 << 30, 0, 0x22}, retTrace},
		{"munmap/region", unix.SYS_MUNMAP, [6]uint64{in, 4096}, retTrace},
		{"munmap/from-below", unix.SYS_MUNMAP, [6]uint64{blk - 4096, 3 << 30}, retTrace},
		{"munmap/elsewhere", unix.SYS_MUNMAP, [6]uint64{0x7f0000000000, 4096}, retAllow},
		{"mprotect/region", unix.SYS_MPROTECT, [6]uint64{in, 4096, 7}, retTrace},
		{"mprotect/elsewhere", unix.SYS_MPROTECT, [6]uint64{0x7f0000000000, 4096, 7}, retAllow},
		{"pkey_mprotect/region", unix.SYS_PKEY_MPROTECT, [6]uint64{in, 4096, 7, 0}, retTrace},
		{"madvise/region", unix.SYS_MADVISE, [6]uint64{in, 4096, 4}, retTrace},
		{"madvise/elsewhere", unix.SYS_MADVISE, [6]uint64{0x7f0000000000, 4096, 4}, retAllow},
		{"remap_file_pages/region", unix.SYS_REMAP_FILE_PAGES, [6]uint64{in, 4096}, retTrace},
		{"mremap/region", unix.SYS_MREMAP, [6]uint64{in, 4096, 4096, 3, 0x7f0000000000}, retTrace},
		{"mremap/into-block", unix.SYS_MREMAP, [6]uint64{0x7f0000000000, 4096, 4096, 3, blk}, retTrace},
		{"mremap/grow-huge", unix.SYS_MREMAP, [6]uint64{0x7f0000000000, 4096, 4 << 30, 1, 0}, retTrace},
		{"mremap/elsewhere", unix.SYS_MREMAP, [6]uint64{0x7f0000000000, 4096, 8192, 1, 0}, retAllow},
		{"shmat/anywhere", unix.SYS_SHMAT, [6]uint64{1, 0, 0}, retAllow},
		{"shmat/in-block", unix.SYS_SHMAT, [6]uint64{1, blk, 0}, retTrace},
		{"shmat/remap", unix.SYS_SHMAT, [6]uint64{1, 0x10000, 0x4000}, retTrace},

		{"close/region-fd", unix.SYS_CLOSE, [6]uint64{reloc.Fd}, errno(0)},
		{"close/region-fd-high-bits", unix.SYS_CLOSE, [6]uint64{reloc.Fd | hi}, errno(0)},
		{"close/other", unix.SYS_CLOSE, [6]uint64{3}, retAllow},
		{"close/1022", unix.SYS_CLOSE, [6]uint64{1022}, retAllow},
		{"dup2/onto-region-fd", unix.SYS_DUP2, [6]uint64{3, reloc.Fd}, errno(0)},
		{"dup2/from-region-fd", unix.SYS_DUP2, [6]uint64{reloc.Fd, 5}, retAllow},
		{"dup3/onto-region-fd", unix.SYS_DUP3, [6]uint64{3, reloc.Fd | hi, unix.O_CLOEXEC}, errno(0)},
		{"fcntl/setfd-region", unix.SYS_FCNTL, [6]uint64{reloc.Fd, unix.F_SETFD, unix.FD_CLOEXEC}, errno(0)},
		{"fcntl/getfd-region", unix.SYS_FCNTL, [6]uint64{reloc.Fd, unix.F_GETFD}, retAllow},
		{"fcntl/setfd-other", unix.SYS_FCNTL, [6]uint64{4, unix.F_SETFD, unix.FD_CLOEXEC}, retAllow},
		{"ioctl/fioclex-region", unix.SYS_IOCTL, [6]uint64{reloc.Fd, fioclex}, errno(0)},
		{"ioctl/fioclex-other", unix.SYS_IOCTL, [6]uint64{4, fioclex}, retAllow},
		{"close_range/any", unix.SYS_CLOSE_RANGE, [6]uint64{3, ^uint64(0) >> 32, 0}, errno(unix.ENOSYS)},

		{"mount", unix.SYS_MOUNT, [6]uint64{}, errno(unix.EPERM)},
		{"open_tree", unix.SYS_OPEN_TREE, [6]uint64{}, errno(unix.EPERM)},
		{"move_mount", unix.SYS_MOVE_MOUNT, [6]uint64{}, errno(unix.EPERM)},
		{"fsopen", unix.SYS_FSOPEN, [6]uint64{}, errno(unix.EPERM)},
		{"fsmount", unix.SYS_FSMOUNT, [6]uint64{}, errno(unix.EPERM)},
		{"fsconfig", unix.SYS_FSCONFIG, [6]uint64{}, errno(unix.EPERM)},
		{"fspick", unix.SYS_FSPICK, [6]uint64{}, errno(unix.EPERM)},
		{"pivot_root", unix.SYS_PIVOT_ROOT, [6]uint64{}, errno(unix.EPERM)},
		{"setns", unix.SYS_SETNS, [6]uint64{}, errno(unix.EPERM)},
		{"umount2", unix.SYS_UMOUNT2, [6]uint64{}, retAllow},
		{"unshare/NEWUSER", unix.SYS_UNSHARE, [6]uint64{unix.CLONE_NEWUSER}, errno(unix.EPERM)},
		{"unshare/NEWNS", unix.SYS_UNSHARE, [6]uint64{unix.CLONE_NEWNS}, errno(unix.EPERM)},
		{"unshare/NEWUSER|NEWNS", unix.SYS_UNSHARE, [6]uint64{unix.CLONE_NEWUSER | unix.CLONE_NEWNS}, errno(unix.EPERM)},
		{"unshare/FILES", unix.SYS_UNSHARE, [6]uint64{unix.CLONE_FILES}, retAllow},
		{"clone/NEWUSER", unix.SYS_CLONE, [6]uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, errno(unix.EPERM)},
		{"clone/NEWNS", unix.SYS_CLONE, [6]uint64{unix.CLONE_NEWNS | uint64(unix.SIGCHLD)}, errno(unix.EPERM)},
		{"clone/fork", unix.SYS_CLONE, [6]uint64{uint64(unix.SIGCHLD)}, retAllow},
	}
	for _, c := range cases {
		t.Run("arch=x86_64/syscall="+c.name, func(t *testing.T) {
			got, err := vm.Run(seccompData(auditArchX8664, c.nr, c.args))
			if err != nil {
				t.Fatalf("VM: %v", err)
			}
			if uint32(got) != c.want {
				t.Errorf("filter returned %s, want %s", retName(uint32(got)), retName(c.want))
			}
		})
	}
}
