package tracer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/tracer/procfs"
)

// This file turns a trapped syscall's name and raw arguments into facets
// (what a policy can match and what KubeArmor prints). It reads the tracee
// only through argReader, so tests can feed it fakes.

// argReader reads a stopped tracee's arguments.
type argReader interface {
	String(addr uint64) (string, error)
	Bytes(addr uint64, n int) ([]byte, error)
	// Resolve gives the absolute path the kernel would use.
	Resolve(dirfd int, path string, flags procfs.Flags) (string, error)
	// Socket describes the tracee's socket descriptor fd; its local
	// address only if withLocal (it costs a getsockname, and connect and
	// bind take their address from their argument).
	Socket(fd int, withLocal bool) (SocketInfo, error)
	// Owner returns the lookup of a path's owner in the tracee's view, for
	// policy.Request.Owner (ownerOnly rules; most decisions never call it).
	Owner() func(path string) (uid int, ok bool)
}

// SocketInfo is what getsockopt/getsockname say about a socket.
type SocketInfo struct {
	Domain, Type, Protocol int
	Local                  Sockaddr
}

// call is a decoded trapped syscall.
type call struct {
	name   string
	facets []Facet // primary first
	// facetBuf holds the facets of most calls (one or two) without a
	// second allocation.
	facetBuf [2]Facet
	// unreadable is set when an argument the decision needs could not be
	// read; op is the domain it was needed for.
	unreadable   error
	unreadableOp policy.Operation
	// denyAlways is set when the call must be refused whatever the policy
	// (unknown openat2 resolve bits).
	denyAlways string
	// acceptAddr is accept's output sockaddr, read at the exit stop.
	acceptAddr, acceptLen uint64
	// connectTo is connect's destination, for the protected-port check.
	connectTo *Sockaddr
}

func (c *call) fail(op policy.Operation, err error) {
	if c.unreadable == nil {
		c.unreadable, c.unreadableOp = err, op
	}
}

func sysName(name string) string { return "SYS_" + strings.ToUpper(name) }

// dataPrefixes holds "syscall=SYS_NAME" for every traced syscall, built once:
// it starts the Data of every event, and building it per stop showed in the
// profile. Read-only after init.
var dataPrefixes = func() map[string]string {
	m := make(map[string]string, len(syscallNames))
	for _, name := range syscallNames {
		m[name] = "syscall=" + sysName(name)
	}
	return m
}()

// dataPrefix is "syscall=SYS_NAME" for name.
func dataPrefix(name string) string {
	if p, ok := dataPrefixes[name]; ok {
		return p
	}
	return "syscall=" + sysName(name)
}

// renderData completes f.Data where decode left an open's to be rendered
// (Facet.open). Called on a facet that is reported, before it is encoded.
func (f *Facet) renderData() {
	if o := f.open; o.set {
		f.Data, f.open = openData(f.Data, o.withFd, o.dirfd, o.flags), openArgs{}
	}
}

// openData is the Data of an open-family call: prefix, then " fd=N" when
// withFd, then " flags=...", built in one buffer.
func openData(prefix string, withFd bool, dirfd, flags int) string {
	var b strings.Builder
	b.Grow(len(prefix) + 64)
	b.WriteString(prefix)
	if withFd {
		b.WriteString(" fd=")
		b.WriteString(strconv.Itoa(dirfd))
	}
	b.WriteString(" flags=")
	writeOpenFlags(&b, flags)
	return b.String()
}

// fd renders a descriptor argument as the int the tracee passed.
func fdArg(v uint64) int { return int(int32(v)) }

// decode decodes a trapped call into c, which it clears first (the stop
// loop reuses one), and returns c.
func decode(c *call, name string, a [6]uint64, r argReader, source string, uid int) *call {
	*c = call{name: name}
	c.facets = c.facetBuf[:0]
	file := func(dirfd int, pathAddr uint64, flags procfs.Flags, write bool, data string) string {
		path, err := r.String(pathAddr)
		if err != nil && !(pathAddr == 0 && flags&procfs.EmptyPath != 0) {
			c.fail(policy.OpFile, fmt.Errorf("%s path: %w", name, err))
			return ""
		}
		if path == "" && flags&procfs.EmptyPath == 0 {
			// Names nothing: the kernel fails it with ENOENT. Relocation
			// still pins the empty string, so a thread cannot fill it in.
			return ""
		}
		abs, err := r.Resolve(dirfd, path, flags)
		if err != nil {
			// Even with a lexical path to show (ELOOP): the walk did not
			// reach what the kernel would, and a link that was a loop or
			// changed under the walk can be something else when the kernel
			// looks, so the lexical name is no basis for a decision.
			c.fail(policy.OpFile, fmt.Errorf("%s resolve %q: %w", name, path, err))
			return ""
		}
		c.facets = append(c.facets, Facet{
			Req:       policy.Request{Op: policy.OpFile, Path: abs, Source: source, Write: write, UID: uid, Owner: r.Owner()},
			Operation: opName(policy.OpFile), Resource: abs, Data: data,
		})
		return abs
	}
	capability := func(capName, resource, data string) {
		c.facets = append(c.facets, Facet{
			Req:       policy.Request{Op: policy.OpCapabilities, Capability: capName, Source: source, UID: uid},
			Operation: opName(policy.OpCapabilities), Resource: resource, Data: data,
		})
	}
	syscallFacet := func(path, data string) {
		c.facets = append(c.facets, Facet{
			Req:       policy.Request{Op: policy.OpSyscall, Syscall: name, Path: path, Source: source, UID: uid},
			Operation: opName(policy.OpSyscall), Resource: path, Data: data,
		})
	}
	data := dataPrefix(name)
	var path string
	switch name {
	case "execve", "execveat":
		dirfd, pathAddr, argv, flags := procfs.AtFdCwd, a[0], a[1], 0
		if name == "execveat" {
			dirfd, pathAddr, argv, flags = fdArg(a[0]), a[1], a[2], int(int32(a[4]))
			data += " fd=" + strconv.Itoa(dirfd) + " flags=" + strconv.Itoa(flags)
		}
		var rf procfs.Flags
		if flags&unix.AT_EMPTY_PATH != 0 {
			rf |= procfs.EmptyPath
		}
		if flags&unix.AT_SYMLINK_NOFOLLOW != 0 {
			rf |= procfs.NoFollow
		}
		p, err := r.String(pathAddr)
		if err != nil && rf&procfs.EmptyPath == 0 {
			c.fail(policy.OpProcess, fmt.Errorf("%s path: %w", name, err))
			break
		}
		abs, err := r.Resolve(dirfd, p, rf)
		if err != nil {
			c.fail(policy.OpProcess, fmt.Errorf("%s resolve %q: %w", name, p, err))
			break
		}
		path = abs
		f := Facet{
			Req:       policy.Request{Op: policy.OpProcess, Path: abs, Source: source, UID: uid, Owner: r.Owner()},
			Operation: opName(policy.OpProcess), Resource: abs, Data: data,
		}
		if !isLoader(abs) && !isLoader(p) {
			// The arguments decide nothing: read them if the call is
			// reported (withArgv).
			f.argv = argv
			c.facets = append(c.facets, f)
			break
		}
		// ld.so PROGRAM: judge PROGRAM too (ldso.go), which takes the
		// arguments now.
		args := readArgv(r, argv)
		f.Resource = withArgs(abs, args)
		c.facets = append(c.facets, f)
		c.facets = append(c.facets, loaderFacets(r, append([]string{abs}, args...), source, uid, data)...)
	case "open", "openat", "creat":
		dirfd, pathAddr, flags := procfs.AtFdCwd, a[0], int(int32(a[1]))
		switch name {
		case "openat":
			dirfd, pathAddr, flags = fdArg(a[0]), a[1], int(int32(a[2]))
		case "creat":
			flags = unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC
		}
		n := len(c.facets)
		path = file(dirfd, pathAddr, openResolveFlags(flags), OpenWrites(flags), data)
		if len(c.facets) > n {
			c.facets[n].open = openArgs{set: true, withFd: name == "openat", dirfd: dirfd, flags: flags}
		}
	case "openat2":
		dirfd := fdArg(a[0])
		how, err := readOpenHow(r, a[2], a[3])
		if err != nil {
			// Cannot tell what it opens nor how: treat it as a write.
			c.fail(policy.OpFile, fmt.Errorf("openat2 open_how: %w", err))
			break
		}
		data += " fd=" + strconv.Itoa(dirfd) + " flags=" + OpenFlags(int(how.Flags))
		rf := openResolveFlags(int(how.Flags))
		const known = unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS |
			unix.RESOLVE_BENEATH | unix.RESOLVE_IN_ROOT | resolveCached
		if how.Resolve&^known != 0 {
			c.denyAlways = fmt.Sprintf("openat2 resolve bits %#x unknown to the tracer", how.Resolve&^known)
		}
		if how.Resolve&unix.RESOLVE_IN_ROOT != 0 {
			rf |= procfs.InRoot
		}
		if how.Resolve&unix.RESOLVE_BENEATH != 0 {
			rf |= procfs.Beneath
		}
		path = file(dirfd, a[1], rf, OpenWrites(int(how.Flags)), data)
	case "unlink", "rmdir":
		path = file(procfs.AtFdCwd, a[0], procfs.NoFollow, true, data)
	case "unlinkat":
		flags := int(int32(a[2]))
		data += " flags="
		if flags&unix.AT_REMOVEDIR != 0 {
			data += "AT_REMOVEDIR"
		}
		path = file(fdArg(a[0]), a[1], procfs.NoFollow, true, data)
	case "rename", "link":
		// rename and link act on both names; neither follows a final link.
		path = file(procfs.AtFdCwd, a[0], procfs.NoFollow, true, data)
		file(procfs.AtFdCwd, a[1], procfs.NoFollow, true, data)
	case "renameat", "renameat2":
		path = file(fdArg(a[0]), a[1], procfs.NoFollow, true, data)
		file(fdArg(a[2]), a[3], procfs.NoFollow, true, data)
	case "linkat":
		flags := int(int32(a[4]))
		var rf procfs.Flags
		if flags&unix.AT_SYMLINK_FOLLOW == 0 {
			rf |= procfs.NoFollow
		}
		if flags&unix.AT_EMPTY_PATH != 0 {
			rf |= procfs.EmptyPath
		}
		path = file(fdArg(a[0]), a[1], rf, true, data)
		file(fdArg(a[2]), a[3], procfs.NoFollow, true, data)
	case "symlink":
		path = file(procfs.AtFdCwd, a[1], procfs.NoFollow, true, data)
	case "symlinkat":
		path = file(fdArg(a[1]), a[2], procfs.NoFollow, true, data)
	case "mkdir":
		path = file(procfs.AtFdCwd, a[0], procfs.NoFollow, true, data)
	case "mkdirat":
		path = file(fdArg(a[0]), a[1], procfs.NoFollow, true, data)
	case "truncate":
		path = file(procfs.AtFdCwd, a[0], 0, true, data)
	case "mknod", "mknodat":
		dirfd, pathAddr, mode := procfs.AtFdCwd, a[0], uint32(a[1])
		if name == "mknodat" {
			dirfd, pathAddr, mode = fdArg(a[0]), a[1], uint32(a[2])
		}
		path = file(dirfd, pathAddr, procfs.NoFollow, true, data)
		if t := mode & unix.S_IFMT; t == unix.S_IFCHR || t == unix.S_IFBLK {
			capability("mknod", "CAP_MKNOD", data)
		}
	case "chown", "lchown", "fchownat":
		dirfd, pathAddr, owner, group, rf := procfs.AtFdCwd, a[0], int32(a[1]), int32(a[2]), procfs.Flags(0)
		switch name {
		case "lchown":
			rf = procfs.NoFollow
		case "fchownat":
			dirfd, pathAddr, owner, group = fdArg(a[0]), a[1], int32(a[2]), int32(a[3])
			flags := int(int32(a[4]))
			if flags&unix.AT_SYMLINK_NOFOLLOW != 0 {
				rf |= procfs.NoFollow
			}
			if flags&unix.AT_EMPTY_PATH != 0 {
				rf |= procfs.EmptyPath
			}
		}
		data += " userid=" + strconv.Itoa(int(owner)) + " group=" + strconv.Itoa(int(group))
		path = file(dirfd, pathAddr, rf, true, data)
		if owner != -1 || group != -1 {
			capability("chown", "CAP_CHOWN", data)
		}
	case "chroot":
		p, err := r.String(a[0])
		if err != nil {
			c.fail(policy.OpSyscall, fmt.Errorf("chroot path: %w", err))
			break
		}
		abs, err := r.Resolve(procfs.AtFdCwd, p, 0)
		if err != nil {
			c.fail(policy.OpSyscall, fmt.Errorf("chroot resolve %q: %w", p, err))
			break
		}
		path = abs
		syscallFacet(abs, data)
		capability("sys_chroot", "CAP_SYS_CHROOT", data)
		return c
	case "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid":
		key := "userid"
		capName := "setuid"
		if strings.Contains(name, "gid") {
			key, capName = "groupid", "setgid"
		}
		data += " " + key + "=" + strconv.Itoa(int(int32(a[0])))
		syscallFacet("", data)
		capability(capName, "CAP_"+strings.ToUpper(capName), data)
		return c
	case "socket":
		domain, typ, proto := int(int32(a[0])), int(int32(a[1])), int(int32(a[2]))
		p := SocketProtocol(domain, typ, proto)
		c.facets = append(c.facets, Facet{
			Req:       policy.Request{Op: policy.OpNetwork, Protocol: p.Policy, Source: source, UID: uid},
			Operation: opName(policy.OpNetwork), Resource: SocketResource(domain, typ, p), Data: data,
		})
		if p.Raw {
			capability("net_raw", "CAP_NET_RAW", data)
		}
	case "connect", "bind":
		fd := fdArg(a[0])
		data += " fd=" + strconv.Itoa(fd)
		b, err := r.Bytes(a[1], min(int(int32(a[2])), 128))
		if err != nil {
			c.fail(policy.OpNetwork, fmt.Errorf("%s sockaddr: %w", name, err))
			break
		}
		sa, _ := ParseSockaddr(b)
		if name == "connect" {
			c.connectTo = &sa
		}
		si, err := r.Socket(fd, false)
		if err != nil {
			c.fail(policy.OpNetwork, fmt.Errorf("%s socket %d: %w", name, fd, err))
			break
		}
		p := SocketProtocol(si.Domain, si.Type, si.Protocol)
		c.facets = append(c.facets, Facet{
			Req:       policy.Request{Op: policy.OpNetwork, Protocol: p.Policy, Source: source, UID: uid},
			Operation: opName(policy.OpNetwork), Resource: sa.Resource(), Data: data,
		})
		if name == "bind" && (sa.Family == unix.AF_INET || sa.Family == unix.AF_INET6) && sa.Port > 0 && sa.Port < 1024 {
			capability("net_bind_service", "CAP_NET_BIND_SERVICE", data)
		}
	case "listen", "accept", "accept4":
		fd := fdArg(a[0])
		data += " fd=" + strconv.Itoa(fd)
		si, err := r.Socket(fd, true)
		if err != nil {
			c.fail(policy.OpNetwork, fmt.Errorf("%s socket %d: %w", name, fd, err))
			break
		}
		p := SocketProtocol(si.Domain, si.Type, si.Protocol)
		c.facets = append(c.facets, Facet{
			Req:       policy.Request{Op: policy.OpNetwork, Protocol: p.Policy, Source: source, UID: uid},
			Operation: opName(policy.OpNetwork), Resource: si.Local.Resource(), Data: data,
		})
		if name != "listen" {
			c.acceptAddr, c.acceptLen = a[1], a[2]
		}
	case "chdir", "fchdir":
		// Nothing to decide: traced so the working directory kept for
		// events is read again afterwards (tracer.cwdOf).
	default:
		c.fail(policy.OpSyscall, errors.New("no decoder for traced syscall "+name))
		return c
	}
	if len(c.facets) > 0 {
		// The syscall facet (appended last) shows the primary facet's Data,
		// an open's still to be rendered (Facet.open).
		syscallFacet(path, c.facets[0].Data)
		c.facets[len(c.facets)-1].open = c.facets[0].open
	}
	return c
}

// openResolveFlags: O_NOFOLLOW keeps a final symlink, and so does
// O_CREAT|O_EXCL (the kernel refuses to create through a link); a trailing
// slash follows it anyway.
func openResolveFlags(flags int) procfs.Flags {
	if flags&unix.O_NOFOLLOW != 0 || flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL {
		return procfs.NoFollow | procfs.SlashFollows
	}
	return procfs.SlashFollows
}

// withArgs is an exec's Resource: the path, then the arguments after argv[0].
func withArgs(path string, args []string) string {
	for _, a := range args {
		path += " " + a
	}
	return path
}

// readArgv reads up to 32 argv strings for the exec Resource, best effort:
// they are not needed for the decision.
func readArgv(r argReader, argv uint64) []string {
	if argv == 0 {
		return nil
	}
	var out []string
	total := 0
	for i := range 33 {
		b, err := r.Bytes(argv+uint64(8*i), 8)
		if err != nil {
			return out
		}
		p := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if p == 0 {
			return out
		}
		if i == 0 {
			continue // argv[0] is the program; Resource starts with the resolved path
		}
		s, err := r.String(p)
		if err != nil || total+len(s) > 4096 {
			return out
		}
		total += len(s)
		out = append(out, s)
	}
	return out
}

type openHow struct{ Flags, Mode, Resolve uint64 }

// readOpenHow reads struct open_how (size bytes; the first 24 are known).
// Bytes past 24 must be zero, as the kernel demands (E2BIG otherwise), so a
// nonzero tail means fields we do not understand: unknown resolve bits.
func readOpenHow(r argReader, addr, size uint64) (openHow, error) {
	if size < 24 || size > 4096 {
		return openHow{}, fmt.Errorf("open_how size %d", size)
	}
	b, err := r.Bytes(addr, int(size))
	if err != nil {
		return openHow{}, err
	}
	le := func(o int) uint64 {
		var v uint64
		for i := 7; i >= 0; i-- {
			v = v<<8 | uint64(b[o+i])
		}
		return v
	}
	how := openHow{Flags: le(0), Mode: le(8), Resolve: le(16)}
	for _, x := range b[24:] {
		if x != 0 {
			how.Resolve |= 1 << 63 // an extension we cannot judge
			break
		}
	}
	return how, nil
}

// resolveCached is RESOLVE_CACHED (5.12), missing from x/sys: it only makes
// the lookup fail with EAGAIN when not cached.
const resolveCached = 0x20
