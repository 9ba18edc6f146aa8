package tracer

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/tracer/procfs"
	"github.com/bluelock/bluelock/tracer/reloc"
	"github.com/bluelock/bluelock/tracer/sys"
)

// Argument relocation (issue 9; the mechanics are in tracer/reloc). After an
// allowed decision, every pointer argument the decision read is copied — the
// exact bytes checked — into the calling thread's slot of the read-only
// region, and the register is pointed there. A second thread rewriting its
// buffer after the check then changes nothing the kernel reads.
//
// Relative paths get one more step: their starting directory (cwd or dirfd)
// could also be swapped by another thread (fchdir, dup2) between the check
// and the kernel's lookup. So the directory the check started from is
// prefixed and the dirfd set to AT_FDCWD; the result is resolved again and
// must name what was checked, or the call fails closed. We prefix rather
// than write the fully resolved path: without RESOLVE_* flags that only
// moves the file-system race, and it changes what the final component means
// (O_NOFOLLOW and O_CREAT|O_EXCL on a symlink, a trailing slash, a magic
// link under /proc). Opens, which have RESOLVE_NO_SYMLINKS, are pinned
// instead (pin_linux_amd64.go).

// regionState is where a process stands with the region.
type regionState uint8

const (
	// regionUnknown: met by fork/clone; it inherited the mapping or shares
	// its parent's, which /proc/<pid>/maps tells.
	regionUnknown regionState = iota
	// regionNeeded: a new image (exec); the region must be injected.
	regionNeeded
	regionMapped
	// regionFailed: the address was taken; relocatable calls fail closed.
	regionFailed
	// regionStub: the new image was started in the exec-time stub, which
	// maps the region before the image's first instruction; the thread's
	// next stop tells whether it did (stubStop).
	regionStub
)

// relocArg is one pointer argument a decision reads.
type relocArg struct {
	arg   int // register holding the pointer
	dirfd int // register holding its dirfd; atCwd: implied AT_FDCWD; noDir: keep the path as written
	size  int // byte arguments: register holding the length; 0 for strings
}

const (
	atCwd = -1
	noDir = -2
)

// relocTable lists, per traced syscall, the pointer arguments its decoder
// reads. execve's argv/envp stay: they do not decide anything (the exec
// post-check at PTRACE_EVENT_EXEC judges the image), and its path is not
// made absolute: for a #! script the kernel hands the path as written to the
// interpreter, and $0 would change.
var relocTable = map[string][]relocArg{
	"execve":   {{arg: 0, dirfd: noDir}},
	"execveat": {{arg: 1, dirfd: noDir}},
	"open":     {{arg: 0, dirfd: atCwd}}, "creat": {{arg: 0, dirfd: atCwd}},
	"openat":  {{arg: 1, dirfd: 0}},
	"openat2": {{arg: 1, dirfd: 0}, {arg: 2, dirfd: noDir, size: 3}},
	"unlink":  {{arg: 0, dirfd: atCwd}}, "rmdir": {{arg: 0, dirfd: atCwd}}, "mkdir": {{arg: 0, dirfd: atCwd}},
	"truncate": {{arg: 0, dirfd: atCwd}}, "chroot": {{arg: 0, dirfd: atCwd}}, "mknod": {{arg: 0, dirfd: atCwd}},
	"chown": {{arg: 0, dirfd: atCwd}}, "lchown": {{arg: 0, dirfd: atCwd}},
	"unlinkat": {{arg: 1, dirfd: 0}}, "mkdirat": {{arg: 1, dirfd: 0}}, "mknodat": {{arg: 1, dirfd: 0}},
	"fchownat": {{arg: 1, dirfd: 0}},
	"rename":   {{arg: 0, dirfd: atCwd}, {arg: 1, dirfd: atCwd}},
	"link":     {{arg: 0, dirfd: atCwd}, {arg: 1, dirfd: atCwd}},
	"renameat": {{arg: 1, dirfd: 0}, {arg: 3, dirfd: 2}}, "renameat2": {{arg: 1, dirfd: 0}, {arg: 3, dirfd: 2}},
	"linkat":    {{arg: 1, dirfd: 0}, {arg: 3, dirfd: 2}},
	"symlink":   {{arg: 1, dirfd: atCwd}},
	"symlinkat": {{arg: 2, dirfd: 1}},
	"connect":   {{arg: 1, dirfd: noDir, size: 2}}, "bind": {{arg: 1, dirfd: noDir, size: 2}},
}

// capture is what the decoder read from one stopped thread, so relocation
// copies exactly what was checked. A call reads a handful of arguments, so
// these are short lists, not maps (a map per stop showed in the profile).
type capture struct {
	strs     []capturedStr
	bytes    []capturedMem
	resolved []capturedResolve
}

type capturedStr struct {
	addr uint64
	s    string
}

type capturedMem struct {
	addr uint64
	b    []byte
}

type capturedResolve struct {
	key    resolveKey
	walked procfs.Walked
}

type resolveKey struct {
	dirfd int
	path  string
	flags procfs.Flags
}

func (c *capture) str(addr uint64, s string) {
	for i := range c.strs {
		if c.strs[i].addr == addr {
			c.strs[i].s = s
			return
		}
	}
	c.strs = append(c.strs, capturedStr{addr, s})
}

// strAt is the string read at addr, if one was.
func (c *capture) strAt(addr uint64) (string, bool) {
	for _, e := range c.strs {
		if e.addr == addr {
			return e.s, true
		}
	}
	return "", false
}

// mem records b read at addr; of two reads at one address the longer wins.
func (c *capture) mem(addr uint64, b []byte) {
	for i := range c.bytes {
		if c.bytes[i].addr == addr {
			if len(b) > len(c.bytes[i].b) {
				c.bytes[i].b = b
			}
			return
		}
	}
	c.bytes = append(c.bytes, capturedMem{addr, b})
}

// bytesAt is what was read at addr, if anything was.
func (c *capture) bytesAt(addr uint64) ([]byte, bool) {
	for _, e := range c.bytes {
		if e.addr == addr {
			return e.b, true
		}
	}
	return nil, false
}

func (c *capture) resolve(dirfd int, path string, flags procfs.Flags, w procfs.Walked) {
	k := resolveKey{dirfd, path, flags}
	for i := range c.resolved {
		if c.resolved[i].key == k {
			c.resolved[i].walked = w
			return
		}
	}
	c.resolved = append(c.resolved, capturedResolve{k, w})
}

// walkedAt is the resolution the decoder made of (dirfd, path), if it made
// one.
func (c *capture) walkedAt(dirfd int, path string) (procfs.Walked, procfs.Flags, bool) {
	for _, r := range c.resolved {
		if r.key.dirfd == dirfd && r.key.path == path {
			return r.walked, r.key.flags, true
		}
	}
	return procfs.Walked{}, 0, false
}

// relocResult says what relocate did.
type relocResult uint8

const (
	// relocDone: arguments relocated (or nothing to relocate); go on.
	relocDone relocResult = iota
	// relocRestarted: the region was injected and the thread resumed; it
	// re-issues the syscall, which is decided again. Do nothing more.
	relocRestarted
	// relocDenied: relocation impossible; fail the call closed.
	relocDenied
)

// forked records what a fork (or vfork, or clone) event tells about the
// child's region: parent is the thread that made it, which had last stopped
// at stop number before. A thread of the same process needs nothing; a
// child already placed (its own stops came first) keeps what it has.
func (t *tracer) forked(parent, child *thread, before uint64) {
	c := child.proc
	if c == parent.proc || c.region != regionUnknown {
		return
	}
	if c.region = inheritRegion(parent.proc, before); c.region == regionMapped {
		c.mappedAt = t.stops
	}
}

// inheritRegion is the region state of a process that parent's thread
// forked (or cloned without CLONE_THREAD) some time after its stop number
// forkerStopped. Knowing it saves reading the child's maps at its first
// relocatable call, which is its execve in a fork+exec: 54 µs of a 1.9 ms
// iteration on the bench VM.
//
//   - Mapped before forkerStopped: the fork copied the mapping, since
//     nothing can have removed it (the filter refuses munmap, mremap,
//     madvise and mmap over the block), and with CLONE_VM the child shares
//     it. Mapped later, by another thread of the parent, may be after the
//     fork copied the address space: unknown.
//   - Needed: there was no region when the parent was last seen. Should a
//     sibling thread's injection have raced the fork, the child's own meets
//     the mapping (EEXIST) and finds it (relocate's ErrTaken case).
//   - Anything else: unknown, and the child's maps say.
func inheritRegion(parent *process, forkerStopped uint64) regionState {
	switch {
	case parent.region == regionMapped && parent.mappedAt <= forkerStopped:
		return regionMapped
	case parent.region == regionNeeded:
		return regionNeeded
	}
	return regionUnknown
}

// mapAtExec starts th, in its exec stop, in the region's exec-time stub
// (reloc.Stub): the new image then has the region before its first
// instruction, where Inject at its first relocatable call costs two more
// stops and decides that call twice. Where the stub cannot be used the
// region stays needed, for Inject.
//
// Precondition: runs on the tracer's locked OS thread; th is in its exec
// stop.
func (t *tracer) mapAtExec(th *thread) {
	p := th.proc
	if t.stub == nil || p.region != regionNeeded {
		return
	}
	var err error
	if th.stub, err = t.stub.Start(th.tid, t.proc); err != nil {
		t.log.Debug("argument region not mapped at exec; it will be at the first relocatable call", "pid", p.pid, "err", err)
		return
	}
	p.region, th.stubAt = regionStub, t.stops
}

// stubStop settles, at th's first stop after mapAtExec, whether the stub
// mapped the region, and reports whether it handled the stop itself.
//
//   - A stop a syscall makes (seccomp, fork, vfork, clone, exec): th has
//     left the stub into its program, which it only does with the region
//     mapped, and mapped since before the image's first instruction: so as
//     of the exec stop (stubAt), for inheritRegion.
//   - SIGTRAP at the stub's int3: the mmap failed. The stub put the
//     registers back; the trap is swallowed. The region is needed again:
//     Inject tries at the first relocatable call, which fails closed if it
//     cannot map it either.
//   - Anything else (a signal before the stub ran, a group stop) settles
//     nothing yet.
//
// Precondition: runs on the tracer's locked OS thread; th is stopped.
func (t *tracer) stubStop(th *thread, event int, sig unix.Signal) bool {
	p := th.proc
	switch {
	case event == unix.PTRACE_EVENT_SECCOMP || event == unix.PTRACE_EVENT_FORK || event == unix.PTRACE_EVENT_VFORK ||
		event == unix.PTRACE_EVENT_CLONE || event == unix.PTRACE_EVENT_EXEC:
		th.stub = nil
		p.region, p.mappedAt = regionMapped, th.stubAt
		t.stats.RegionInjected.Add(1)
		t.stats.RegionAtExec.Add(1)
	case event == 0 && sig == unix.SIGTRAP:
		trapped, why, err := th.stub.Trapped(th.tid)
		if !trapped && err == nil {
			return false // a SIGTRAP of its own; delivered as usual
		}
		th.stub = nil
		p.region = regionNeeded
		if err != nil {
			// The registers may point into the stub still: it must not run on.
			t.log.Error("cannot put back registers after the argument region's exec stub; killing the process", "pid", p.pid, "err", err)
			_ = unix.Kill(p.pid, unix.SIGKILL)
			return true
		}
		t.log.Debug("argument region not mapped at exec; it will be at the first relocatable call", "pid", p.pid, "why", why)
		if err := sys.Cont(th.tid, 0); err != nil && !errors.Is(err, sys.ErrGone) {
			t.log.Error("cannot resume a tracee after the argument region's exec stub; killing it", "pid", p.pid, "err", err)
			_ = unix.Kill(p.pid, unix.SIGKILL)
		}
		return true
	}
	return false
}

// regionThere reports whether pid has the region mapped as it must be.
func (t *tracer) regionThere(pid int) bool {
	ok, _ := t.region.Mapped(t.cfg.Proc, pid)
	return ok
}

// relocate moves the checked arguments of an allowed call into th's slot.
//
// Precondition: runs on the tracer's locked OS thread; th is in the seccomp
// stop regs were read at.
func (t *tracer) relocate(th *thread, name string, regs *sys.Regs, cp *capture, pin pinPlan) relocResult {
	spec, ok := relocTable[name]
	if !ok || t.region == nil {
		return relocDone
	}
	p := th.proc
	if p.region == regionUnknown {
		if t.regionThere(p.pid) {
			p.region, p.mappedAt = regionMapped, t.stops
		} else {
			p.region = regionNeeded
		}
	}
	switch p.region {
	case regionFailed:
		return relocDenied
	case regionStub:
		// Not reached: stubStop settles it at this very stop, first. Should
		// it not have, nothing says the region is there.
		return relocDenied
	case regionNeeded:
		resumed, other, err := reloc.Inject(th.tid)
		switch {
		case err == nil:
			p.region, p.mappedAt = regionMapped, t.stops
			t.stats.RegionInjected.Add(1)
		case errors.Is(err, reloc.ErrTaken) && t.regionThere(p.pid):
			// A vfork child (or CLONE_VM task) sharing this address space
			// made a relocatable call first and mapped it for both, or a
			// forked child inherited regionNeeded while a sibling thread's
			// injection raced the fork (inheritRegion).
			p.region, p.mappedAt = regionMapped, t.stops
		default:
			p.region = regionFailed
			t.stats.RelocFailedClosed.Add(1)
			t.log.Warn("cannot map the argument region; this process's file and network calls fail closed",
				"pid", p.pid, "exe", p.exe, "err", err)
		}
		switch {
		case resumed:
			return relocRestarted
		case other != nil:
			t.handle(th.tid, *other)
			return relocRestarted
		}
		return relocDenied
	}
	slot, ok := t.slots.Get(th.tid)
	if !ok {
		t.stats.RelocFailedClosed.Add(1)
		t.log.Warn("argument region slots exhausted; failing the call closed", "tid", th.tid, "slots", reloc.NumSlots)
		return relocDenied
	}
	switch pin.res {
	case pinReady:
		if err := t.applyPin(th, regs, pin, slot); err != nil {
			pin = pinPlan{res: pinDenied, err: err}
			break
		}
		t.stats.Relocated.Add(1)
		t.stats.PinnedOpens.Add(1)
		return relocDone
	}
	if pin.res == pinDenied {
		t.stats.RelocFailedClosed.Add(1)
		t.log.Debug("open cannot be pinned; denying", "tid", th.tid, "err", pin.err)
		return relocDenied
	}
	type move struct {
		arg, dirfd int
		b          []byte
	}
	if restarted(spec, regs, cp, slot) {
		// Every checked argument already lies in this thread's own slot: a
		// restarted call (ERESTARTSYS), or an app pointing there itself.
		// What is there is what the decoder read, and nothing rewrites it
		// before this thread's next stop. Nothing to move.
		return relocDone
	}
	var moves []move
	for _, ra := range spec {
		ptr := regs.Arg(ra.arg)
		if ra.size > 0 {
			b, ok := cp.bytesAt(ptr)
			if !ok {
				continue // not read, so not checked: the decision did not use it
			}
			moves = append(moves, move{arg: ra.arg, dirfd: noDir, b: b})
			continue
		}
		s, ok := cp.strAt(ptr)
		if !ok {
			continue
		}
		dirfd := ra.dirfd
		if dirfd != noDir && s != "" && !strings.HasPrefix(s, "/") {
			abs, anchored, ok := t.anchor(th, regs, ra, s, cp)
			if !ok {
				t.stats.RelocFailedClosed.Add(1)
				return relocDenied
			}
			if !anchored {
				dirfd = noDir // the path stays relative to its dirfd
			}
			s = abs
		} else {
			dirfd = noDir
		}
		moves = append(moves, move{arg: ra.arg, dirfd: dirfd, b: append([]byte(s), 0)})
	}
	if len(moves) == 0 {
		return relocDone
	}
	parts := make([][]byte, len(moves))
	for i, m := range moves {
		parts[i] = m.b
	}
	addrs, err := t.region.Put(nil, slot, parts...)
	if err != nil {
		t.stats.RelocFailedClosed.Add(1)
		return relocDenied
	}
	for i, m := range moves {
		regs.SetArg(m.arg, addrs[i])
		if m.dirfd >= 0 {
			regs.SetArg(m.dirfd, atFdCwdReg)
		}
	}
	if len(moves) == 1 && moves[0].dirfd < 0 {
		// The common case (one absolute path): one register changes.
		err = sys.SetArgReg(th.tid, moves[0].arg, addrs[0])
	} else {
		err = sys.SetSyscallRegs(th.tid, regs)
	}
	if err != nil {
		return relocDenied
	}
	t.stats.Relocated.Add(1)
	return relocDone
}

// restarted reports whether every argument of spec that the decoder read
// lies, as read, inside slot. Then the call needs no move; otherwise every
// read argument is copied, those inside slot too, since the copies are laid
// out from the slot's start and would overwrite them. A pointer into another
// thread's slot is copied like any other.
func restarted(spec []relocArg, regs *sys.Regs, cp *capture, slot int) bool {
	read := 0
	for _, ra := range spec {
		ptr := regs.Arg(ra.arg)
		var n uint64
		if ra.size > 0 {
			b, ok := cp.bytesAt(ptr)
			if !ok {
				continue
			}
			n = uint64(len(b))
		} else {
			s, ok := cp.strAt(ptr)
			if !ok {
				continue
			}
			n = uint64(len(s)) + 1
		}
		read++
		if !reloc.InSlot(slot, ptr, n) {
			return false
		}
	}
	return read > 0
}

// anchor turns relative path s of argument ra into an absolute path that
// names what the check resolved, from the directory the check started at
// (anchored true: the caller sets the dirfd to AT_FDCWD). anchored false:
// keep s and its dirfd. ok is false when neither is sound (the call then
// fails closed).
func (t *tracer) anchor(th *thread, regs *sys.Regs, ra relocArg, s string, cp *capture) (abs string, anchored, ok bool) {
	dirfd := procfs.AtFdCwd
	if ra.dirfd >= 0 {
		dirfd = fdArg(regs.Arg(ra.dirfd))
	}
	w, flags, found := cp.walkedAt(dirfd, s)
	if !found {
		return "", false, false
	}
	checked := w.Path
	if flags&(procfs.InRoot|procfs.Beneath) != 0 {
		// openat2 RESOLVE_IN_ROOT/BENEATH need their dirfd; such a lookup
		// cannot leave it anyway, and the dirfd swap is the remaining race.
		return s, false, true
	}
	task := t.task(th)
	var base string
	var err error
	if dirfd == procfs.AtFdCwd {
		base, err = t.proc.Cwd(task)
	} else {
		base, err = t.proc.FdPath(task, dirfd)
	}
	if err != nil || !strings.HasPrefix(base, "/") || strings.HasSuffix(base, " (deleted)") {
		return "", false, false
	}
	abs = strings.TrimSuffix(base, "/") + "/" + s
	if len(abs) >= sys.PathMax {
		return "", false, false
	}
	again, err := t.proc.Resolve(task, procfs.AtFdCwd, abs, flags)
	if again != checked {
		// The directory changed between the check and now: a race, or a
		// directory renamed. Refuse rather than run something unchecked.
		t.log.Debug("relative path no longer names what was checked; denying",
			"tid", th.tid, "path", s, "checked", checked, "now", again, "err", err)
		return "", false, false
	}
	return abs, true, true
}

// memoryStop decides a trapped memory syscall (mmap, munmap, ...): the filter
// only sends those that could touch the region's block; the ones that do are
// refused with EPERM, the rest run.
//
// Precondition: runs on the tracer's locked OS thread; th is in a seccomp stop.
func (t *tracer) memoryStop(th *thread, regs *sys.Regs) error {
	var a [6]uint64
	for i := range a {
		a[i] = regs.Arg(i)
	}
	if !reloc.Touches(regs.Nr(), a) {
		return sys.Cont(th.tid, 0)
	}
	t.stats.RegionRefusals.Add(1)
	t.log.Debug("memory call touching the argument region's block refused", "tid", th.tid, "nr", regs.Nr(),
		"addr", a[0], "len", a[1])
	regs.SkipWithErrno(unix.EPERM)
	if err := sys.SetSyscallRegs(th.tid, regs); err != nil {
		_ = unix.Kill(th.tid, unix.SIGKILL)
		return err
	}
	return sys.Cont(th.tid, 0)
}

// atFdCwdReg is AT_FDCWD as a register holds it (sign-extended int).
var atFdCwdReg = func() uint64 { v := int64(unix.AT_FDCWD); return uint64(v) }()

// errNoRegion is returned by Run when the region cannot be made: without it
// every pointer argument would be racy, so the app does not start.
var errNoRegion = errors.New("cannot create the argument region")
