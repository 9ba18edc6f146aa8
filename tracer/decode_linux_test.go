package tracer

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/tracer/procfs"
)

// fakeArgs is a tracee memory of strings and byte blobs at made-up
// addresses; paths resolve against cwd /w, and dirfd 5 is /d.
type fakeArgs struct {
	mem   map[uint64][]byte
	sock  map[int]SocketInfo
	flags []procfs.Flags // every Resolve's flags, in order
}

var errUnmapped = errors.New("unmapped")

func (f *fakeArgs) String(addr uint64) (string, error) {
	b, ok := f.mem[addr]
	if !ok {
		return "", errUnmapped
	}
	return string(b), nil
}

func (f *fakeArgs) Bytes(addr uint64, n int) ([]byte, error) {
	b, ok := f.mem[addr]
	if !ok || len(b) < n {
		return nil, errUnmapped
	}
	return b[:n], nil
}

func (f *fakeArgs) Resolve(dirfd int, path string, flags procfs.Flags) (string, error) {
	f.flags = append(f.flags, flags)
	switch {
	case path == "" && flags&procfs.EmptyPath != 0:
		return "/d", nil
	case path == "/loop":
		// A walk that failed still has a lexical path to show.
		return "/loop", procfs.ErrLoop
	case len(path) > 0 && path[0] == '/':
		return path, nil
	case dirfd == procfs.AtFdCwd:
		return "/w/" + path, nil
	}
	return "/d/" + path, nil
}

func (f *fakeArgs) Socket(fd int, withLocal bool) (SocketInfo, error) {
	s, ok := f.sock[fd]
	if !ok {
		return SocketInfo{}, unix.EBADF
	}
	if !withLocal {
		s.Local = Sockaddr{}
	}
	return s, nil
}

// Owner returns nil so facets compare with reflect.DeepEqual (funcs are
// equal only when nil); the real lookup is tested through the tracer.
func (f *fakeArgs) Owner() func(string) (int, bool) { return nil }

func u(v int) uint64 { return uint64(int64(v)) }

func TestDecode(t *testing.T) {
	sin := make([]byte, 16)
	binary.NativeEndian.PutUint16(sin, unix.AF_INET)
	binary.BigEndian.PutUint16(sin[2:], 80)
	copy(sin[4:], []byte{10, 0, 0, 1})
	how := func(flags, resolve uint64) []byte {
		b := make([]byte, 24)
		binary.LittleEndian.PutUint64(b, flags)
		binary.LittleEndian.PutUint64(b[16:], resolve)
		return b
	}
	mem := map[uint64][]byte{
		0x100: []byte("rel/file"), 0x200: []byte("/abs/file"), 0x300: []byte("/new"), 0x400: []byte(""), 0x800: []byte("/loop"),
		0x500: sin, 0x600: how(unix.O_RDONLY, unix.RESOLVE_IN_ROOT), 0x700: how(unix.O_WRONLY, 0x400),
	}
	tcp := SocketInfo{Domain: unix.AF_INET, Type: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP}
	fileReq := func(path string, write bool) policy.Request {
		return policy.Request{Op: policy.OpFile, Path: path, Source: "/src", Write: write, UID: 1000}
	}
	sysReq := func(name, path string) policy.Request {
		return policy.Request{Op: policy.OpSyscall, Syscall: name, Path: path, Source: "/src", UID: 1000}
	}
	capReq := func(c string) policy.Request {
		return policy.Request{Op: policy.OpCapabilities, Capability: c, Source: "/src", UID: 1000}
	}
	cases := []struct {
		name      string
		sys       string
		args      [6]uint64
		want      []Facet
		wantFlags []procfs.Flags
		deny      bool
		fail      policy.Operation
	}{
		{name: "openat-relative-read", sys: "openat", args: [6]uint64{u(unix.AT_FDCWD), 0x100, unix.O_RDONLY | unix.O_CLOEXEC},
			want: []Facet{
				{Req: fileReq("/w/rel/file", false), Operation: "File", Resource: "/w/rel/file", Data: "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY|O_CLOEXEC"},
				{Req: sysReq("openat", "/w/rel/file"), Operation: "Syscall", Resource: "/w/rel/file", Data: "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY|O_CLOEXEC"},
			}, wantFlags: []procfs.Flags{procfs.SlashFollows}},
		{name: "open-nofollow-write", sys: "open", args: [6]uint64{0x200, unix.O_WRONLY | unix.O_NOFOLLOW},
			want: []Facet{
				{Req: fileReq("/abs/file", true), Operation: "File", Resource: "/abs/file", Data: "syscall=SYS_OPEN flags=O_WRONLY|O_NOFOLLOW"},
				{Req: sysReq("open", "/abs/file"), Operation: "Syscall", Resource: "/abs/file", Data: "syscall=SYS_OPEN flags=O_WRONLY|O_NOFOLLOW"},
			}, wantFlags: []procfs.Flags{procfs.NoFollow | procfs.SlashFollows}},
		{name: "creat-excl-semantics", sys: "creat", args: [6]uint64{0x200, 0o644},
			want: []Facet{
				{Req: fileReq("/abs/file", true), Operation: "File", Resource: "/abs/file", Data: "syscall=SYS_CREAT flags=O_WRONLY|O_CREAT|O_TRUNC"},
				{Req: sysReq("creat", "/abs/file"), Operation: "Syscall", Resource: "/abs/file", Data: "syscall=SYS_CREAT flags=O_WRONLY|O_CREAT|O_TRUNC"},
			}, wantFlags: []procfs.Flags{procfs.SlashFollows}},
		{name: "openat2-in-root", sys: "openat2", args: [6]uint64{5, 0x200, 0x600, 24},
			want: []Facet{
				{Req: fileReq("/abs/file", false), Operation: "File", Resource: "/abs/file", Data: "syscall=SYS_OPENAT2 fd=5 flags=O_RDONLY"},
				{Req: sysReq("openat2", "/abs/file"), Operation: "Syscall", Resource: "/abs/file", Data: "syscall=SYS_OPENAT2 fd=5 flags=O_RDONLY"},
			}, wantFlags: []procfs.Flags{procfs.InRoot | procfs.SlashFollows}},
		{name: "openat2-unknown-resolve-denied", sys: "openat2", args: [6]uint64{5, 0x100, 0x700, 24}, deny: true,
			want: []Facet{
				{Req: fileReq("/d/rel/file", true), Operation: "File", Resource: "/d/rel/file", Data: "syscall=SYS_OPENAT2 fd=5 flags=O_WRONLY"},
				{Req: sysReq("openat2", "/d/rel/file"), Operation: "Syscall", Resource: "/d/rel/file", Data: "syscall=SYS_OPENAT2 fd=5 flags=O_WRONLY"},
			}, wantFlags: []procfs.Flags{procfs.SlashFollows}},
		{name: "openat2-unreadable-how", sys: "openat2", args: [6]uint64{5, 0x100, 0x999, 24}, fail: policy.OpFile},
		{name: "unreadable-path", sys: "openat", args: [6]uint64{u(unix.AT_FDCWD), 0xdead, 0}, fail: policy.OpFile},
		// A walk that failed (a loop, a link that changed under it) decides
		// nothing, lexical path or not: what the kernel meets may differ.
		{name: "resolve-error-open", sys: "open", args: [6]uint64{0x800, unix.O_RDONLY}, fail: policy.OpFile},
		{name: "resolve-error-exec", sys: "execve", args: [6]uint64{0x800, 0, 0}, fail: policy.OpProcess},
		{name: "unlinkat-removedir", sys: "unlinkat", args: [6]uint64{5, 0x100, unix.AT_REMOVEDIR},
			want: []Facet{
				{Req: fileReq("/d/rel/file", true), Operation: "File", Resource: "/d/rel/file", Data: "syscall=SYS_UNLINKAT flags=AT_REMOVEDIR"},
				{Req: sysReq("unlinkat", "/d/rel/file"), Operation: "Syscall", Resource: "/d/rel/file", Data: "syscall=SYS_UNLINKAT flags=AT_REMOVEDIR"},
			}, wantFlags: []procfs.Flags{procfs.NoFollow}},
		{name: "rename-both-names", sys: "rename", args: [6]uint64{0x100, 0x300},
			want: []Facet{
				{Req: fileReq("/w/rel/file", true), Operation: "File", Resource: "/w/rel/file", Data: "syscall=SYS_RENAME"},
				{Req: fileReq("/new", true), Operation: "File", Resource: "/new", Data: "syscall=SYS_RENAME"},
				{Req: sysReq("rename", "/w/rel/file"), Operation: "Syscall", Resource: "/w/rel/file", Data: "syscall=SYS_RENAME"},
			}, wantFlags: []procfs.Flags{procfs.NoFollow, procfs.NoFollow}},
		{name: "fchownat-empty-path", sys: "fchownat", args: [6]uint64{5, 0x400, 0, u(-1), unix.AT_EMPTY_PATH},
			want: []Facet{
				{Req: fileReq("/d", true), Operation: "File", Resource: "/d", Data: "syscall=SYS_FCHOWNAT userid=0 group=-1"},
				{Req: capReq("chown"), Operation: "Capabilities", Resource: "CAP_CHOWN", Data: "syscall=SYS_FCHOWNAT userid=0 group=-1"},
				{Req: sysReq("fchownat", "/d"), Operation: "Syscall", Resource: "/d", Data: "syscall=SYS_FCHOWNAT userid=0 group=-1"},
			}, wantFlags: []procfs.Flags{procfs.EmptyPath}},
		{name: "mknod-device-needs-cap", sys: "mknod", args: [6]uint64{0x200, unix.S_IFCHR | 0o600, 0},
			want: []Facet{
				{Req: fileReq("/abs/file", true), Operation: "File", Resource: "/abs/file", Data: "syscall=SYS_MKNOD"},
				{Req: capReq("mknod"), Operation: "Capabilities", Resource: "CAP_MKNOD", Data: "syscall=SYS_MKNOD"},
				{Req: sysReq("mknod", "/abs/file"), Operation: "Syscall", Resource: "/abs/file", Data: "syscall=SYS_MKNOD"},
			}, wantFlags: []procfs.Flags{procfs.NoFollow}},
		{name: "setuid", sys: "setuid", args: [6]uint64{0},
			want: []Facet{
				{Req: sysReq("setuid", ""), Operation: "Syscall", Data: "syscall=SYS_SETUID userid=0"},
				{Req: capReq("setuid"), Operation: "Capabilities", Resource: "CAP_SETUID", Data: "syscall=SYS_SETUID userid=0"},
			}},
		{name: "chroot", sys: "chroot", args: [6]uint64{0x100},
			want: []Facet{
				{Req: sysReq("chroot", "/w/rel/file"), Operation: "Syscall", Resource: "/w/rel/file", Data: "syscall=SYS_CHROOT"},
				{Req: capReq("sys_chroot"), Operation: "Capabilities", Resource: "CAP_SYS_CHROOT", Data: "syscall=SYS_CHROOT"},
			}, wantFlags: []procfs.Flags{0}},
		{name: "raw-socket", sys: "socket", args: [6]uint64{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP},
			want: []Facet{
				{Req: policy.Request{Op: policy.OpNetwork, Protocol: "icmp", Source: "/src", UID: 1000}, Operation: "Network",
					Resource: "domain=AF_INET type=SOCK_RAW protocol=ICMP", Data: "syscall=SYS_SOCKET"},
				{Req: capReq("net_raw"), Operation: "Capabilities", Resource: "CAP_NET_RAW", Data: "syscall=SYS_SOCKET"},
				{Req: sysReq("socket", ""), Operation: "Syscall", Data: "syscall=SYS_SOCKET"},
			}},
		{name: "bind-low-port", sys: "bind", args: [6]uint64{3, 0x500, 16},
			want: []Facet{
				{Req: policy.Request{Op: policy.OpNetwork, Protocol: "tcp", Source: "/src", UID: 1000}, Operation: "Network",
					Resource: "sa_family=AF_INET sin_port=80 sin_addr=10.0.0.1", Data: "syscall=SYS_BIND fd=3"},
				{Req: capReq("net_bind_service"), Operation: "Capabilities", Resource: "CAP_NET_BIND_SERVICE", Data: "syscall=SYS_BIND fd=3"},
				{Req: sysReq("bind", ""), Operation: "Syscall", Data: "syscall=SYS_BIND fd=3"},
			}},
		{name: "connect-unknown-socket", sys: "connect", args: [6]uint64{9, 0x500, 16}, fail: policy.OpNetwork},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeArgs{mem: mem, sock: map[int]SocketInfo{3: tcp}}
			got := decode(&call{}, c.sys, c.args, f, "/src", 1000)
			if c.fail != 0 {
				if got.unreadable == nil || got.unreadableOp != c.fail {
					t.Fatalf("want an unreadable %v argument, got %v (%v)", c.fail, got.unreadable, got.unreadableOp)
				}
				return
			}
			if got.unreadable != nil {
				t.Fatalf("unexpected unreadable: %v", got.unreadable)
			}
			if (got.denyAlways != "") != c.deny {
				t.Errorf("denyAlways = %q, want deny=%v", got.denyAlways, c.deny)
			}
			for i := range got.facets {
				got.facets[i].renderData() // as an event renders it
			}
			if !reflect.DeepEqual(got.facets, c.want) {
				t.Errorf("facets\n got %+v\nwant %+v", got.facets, c.want)
			}
			if !reflect.DeepEqual(f.flags, c.wantFlags) {
				t.Errorf("resolve flags %v, want %v", f.flags, c.wantFlags)
			}
		})
	}
}
