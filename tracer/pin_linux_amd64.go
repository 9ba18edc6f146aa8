package tracer

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/tracer/procfs"
	"github.com/bluelock/bluelock/tracer/sys"
)

// Pinned opens. Relocation fixes the bytes of a path, but the kernel walks
// the file system again after the check, and a symlink swapped in between
// (race-symlink-swap in the bypass suite) sends it to a file that was never
// checked. So an allowed open, openat or creat is handed to the kernel as
// openat2 of the path the check resolved, spelled without symlinks
// (procfs.Walked.Plain), with RESOLVE_NO_SYMLINKS: the kernel's walk can then
// only reach what was checked, or fail. A link swapped in fails with ELOOP;
// a link that changed target (a ConfigMap's ..data) leaves the old target,
// which is what was checked, or ENOENT if it is gone.
//
// What the kernel no longer does itself, because it follows no link:
//   - fs.protected_symlinks, applied here (procfs.MayFollow);
//   - nothing else: permissions are checked on the directories of the
//     spelled path, which the app could name itself, and the final
//     component keeps its meaning (the walk follows it only where the
//     syscall would; O_NOFOLLOW, O_CREAT|O_EXCL and trailing slashes are
//     kept).
//
// Not pinned, relocated as written and serialized instead (serial_linux.go;
// with pinning off they are not serialized either): paths through /proc/<pid>/fd, cwd, root, exe, ns and
// map_files (objects, not names); walks that started in a deleted
// directory; tracees after a chroot (their view is not ours); openat2 calls
// with resolve flags of their own or a larger open_how; processes that
// stacked a seccomp filter of their own (the kernel runs it again on the
// rewritten call and it may refuse openat2). Kernels or runtimes without
// openat2 turn pinning off.

// pinConfig is what the tracer learnt at start about pinning.
type pinConfig struct {
	enabled bool // openat2 with RESOLVE_NO_SYMLINKS works here
	// protectedSymlinks is fs.protected_symlinks.
	protectedSymlinks bool
}

// probePin tells whether openat2 with RESOLVE_NO_SYMLINKS works for us: the
// kernel has it (5.6) and no seccomp profile of the runtime refuses it. Our
// tracees run under the same profile.
func probePin(p procfs.Proc) (pinConfig, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return pinConfig{}, fmt.Errorf("openat2 RESOLVE_NO_SYMLINKS: %w", err)
	}
	_ = unix.Close(fd)
	return pinConfig{enabled: true, protectedSymlinks: p.ProtectedSymlinks()}, nil
}

// openHowSize is sizeof(struct open_how), version 0.
const openHowSize = 24

// Open flags the kernel keeps (include/linux/fcntl.h VALID_OPEN_FLAGS, as
// x86-64 spells them) and the ones it keeps with O_PATH (O_PATH_FLAGS).
const (
	validOpenFlags = unix.O_RDONLY | unix.O_WRONLY | unix.O_RDWR | unix.O_CREAT | unix.O_EXCL |
		unix.O_NOCTTY | unix.O_TRUNC | unix.O_APPEND | unix.O_NONBLOCK | unix.O_SYNC | unix.O_DSYNC |
		unix.O_ASYNC | unix.O_DIRECT | unix.O_LARGEFILE | unix.O_DIRECTORY | unix.O_NOFOLLOW |
		unix.O_NOATIME | unix.O_CLOEXEC | unix.O_PATH | unix.O_TMPFILE
	oPathFlags = unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_PATH | unix.O_CLOEXEC
	// willCreate: O_CREAT or __O_TMPFILE (O_TMPFILE without O_DIRECTORY).
	willCreate = unix.O_CREAT | (unix.O_TMPFILE &^ unix.O_DIRECTORY)
)

// legacyHow is the open_how that open(2) and openat(2) build from their
// flags and mode (fs/open.c build_open_how): openat2 refuses what they
// silently drop (unknown bits, a mode without O_CREAT, flags beside O_PATH),
// so a pinned call must be handed what they would have used.
func legacyHow(flags, mode uint64) unix.OpenHow {
	f := uint64(uint32(flags)) & validOpenFlags
	if f&unix.O_PATH != 0 {
		f &= oPathFlags
	}
	m := uint64(uint16(mode)) & 0o7777
	if f&willCreate == 0 {
		m = 0
	}
	return unix.OpenHow{Flags: f, Mode: m}
}

// mustBeDir reports whether path, as written, names a directory whatever
// its last component is ("dir/", "dir/.", "a/.."): the spelled path keeps
// that with a trailing slash.
func mustBeDir(path string) bool {
	return strings.HasSuffix(path, "/") || path == "." || path == ".." ||
		strings.HasSuffix(path, "/.") || strings.HasSuffix(path, "/..")
}

// pinPlan is what planPin decided for one call.
type pinPlan struct {
	res   pinResult
	err   error // why, for pinDenied
	plain string
	how   unix.OpenHow
}

// pinResult says what planPin found.
type pinResult uint8

const (
	pinSkipped pinResult = iota // not an open, or not pinnable: relocate as written
	pinReady                    // pinnable: applyPin will rewrite it
	pinDenied                   // fail the call; err says why
)

// isOpen reports whether name is one of the calls planPin may pin.
func isOpen(name string) bool {
	switch name {
	case "open", "openat", "creat", "openat2":
		return true
	}
	return false
}

// planPin works out how an allowed open-family call in th's seccomp stop is
// pinned, without changing anything: the serializer needs to know first
// whether it will be (serial_linux.go).
//
// Precondition: runs on the tracer's locked OS thread; th is in the seccomp
// stop whose arguments args are; cp is what its decoder read.
func (t *tracer) planPin(th *thread, name string, args [6]uint64, cp *capture) pinPlan {
	if !isOpen(name) || !t.pin.enabled || !t.rootsShared || th.proc.ownFilter {
		return pinPlan{}
	}
	dirfd, pathAddr := procfs.AtFdCwd, args[0]
	var how unix.OpenHow
	switch name {
	case "open":
		how = legacyHow(args[1], args[2])
	case "creat":
		how = legacyHow(unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, args[1])
	case "openat":
		dirfd, pathAddr = fdArg(args[0]), args[1]
		how = legacyHow(args[2], args[3])
	case "openat2":
		dirfd, pathAddr = fdArg(args[0]), args[1]
		b, ok := cp.bytesAt(args[2])
		if !ok || args[3] != openHowSize || len(b) < openHowSize {
			return pinPlan{}
		}
		how = unix.OpenHow{
			Flags:   binary.LittleEndian.Uint64(b[0:]),
			Mode:    binary.LittleEndian.Uint64(b[8:]),
			Resolve: binary.LittleEndian.Uint64(b[16:]),
		}
		if how.Resolve != 0 {
			// Its own rules (IN_ROOT, BENEATH, NO_XDEV) need its dirfd; and
			// a restarted pinned call is an openat2 with NO_SYMLINKS.
			return pinPlan{}
		}
	}
	s, ok := cp.strAt(pathAddr)
	if !ok || s == "" {
		return pinPlan{}
	}
	w, _, ok := cp.walkedAt(dirfd, s)
	if !ok || w.Plain == "" {
		return pinPlan{}
	}
	plain := w.Plain
	if mustBeDir(s) && !strings.HasSuffix(plain, "/") {
		plain += "/"
	}
	if len(plain) >= sys.PathMax {
		return pinPlan{res: pinDenied, err: fmt.Errorf("resolved path of %q is %d bytes, over PATH_MAX", s, len(plain))}
	}
	if t.pin.protectedSymlinks && len(w.Links) > 0 {
		err := t.proc.MayFollow(t.task(th), w.Links, func() (int, error) {
			st, err := t.proc.ReadStatus(th.tid)
			return st.FSUID, err
		})
		if err != nil {
			return pinPlan{res: pinDenied, err: err}
		}
	}
	how.Resolve = unix.RESOLVE_NO_SYMLINKS
	return pinPlan{res: pinReady, plain: plain, how: how}
}

// applyPin rewrites th's call to openat2(AT_FDCWD, plain, {flags, mode,
// RESOLVE_NO_SYMLINKS}) with both arguments in slot.
//
// Precondition: as planPin; pl.res is pinReady.
func (t *tracer) applyPin(th *thread, regs *sys.Regs, pl pinPlan, slot int) error {
	var hb [openHowSize]byte
	binary.LittleEndian.PutUint64(hb[0:], pl.how.Flags)
	binary.LittleEndian.PutUint64(hb[8:], pl.how.Mode)
	binary.LittleEndian.PutUint64(hb[16:], pl.how.Resolve)
	var ab [2]uint64
	addrs, err := t.region.Put(ab[:0], slot, append([]byte(pl.plain), 0), hb[:])
	if err != nil {
		return fmt.Errorf("argument region: %w", err)
	}
	// One register write: PTRACE_SETREGS measured cheaper than a
	// PTRACE_POKEUSER per changed register (three or four of them here),
	// 21.0 against 22.8 µs per open+close on one CPU, and SetSyscallRegs's
	// short regset is cheaper still (sys).
	regs.SetNr(unix.SYS_OPENAT2)
	regs.SetArg(0, atFdCwdReg)
	regs.SetArg(1, addrs[0])
	regs.SetArg(2, addrs[1])
	regs.SetArg(3, openHowSize)
	return sys.SetSyscallRegs(th.tid, regs)
}
