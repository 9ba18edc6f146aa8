package procfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Task names the thread whose view a path is resolved in.
type Task struct {
	PID, TID int
	// SharedRoot says the thread's root is the tracer's own, so paths can be
	// looked up directly instead of through the /proc/<tid>/root magic link
	// (which costs a procfs lookup and an access check per component). Only
	// the caller can know this; see tracer.rootsShared.
	SharedRoot bool
}

// Proc reads a tracee's state from a mounted procfs.
type Proc struct {
	// Mount is where procfs is mounted in the tracer's view ("/proc").
	Mount string
	// Openat2 says openat2 with RESOLVE_NO_SYMLINKS works here (the
	// caller probed it): lookups may then take its shortcut (plainLookup).
	Openat2 bool
	// RootLinks, if set, remembers which names in the root were symlinks
	// (viaRootLink). Only the stop loop resolves paths, so it is not
	// locked.
	RootLinks *RootLinks
}

// RootLinks are the names directly under the root that lookups met as
// symlinks: /bin, /lib, /lib64 and /sbin under a merged /usr, which every
// exec and every library load goes through. A hint only says which lookup
// to try first: each use reads the link again, so a hint gone stale costs
// one readlink and changes no answer.
type RootLinks struct{ names map[string]bool }

// maxRootLinks bounds the hints (a root has a handful of such links).
const maxRootLinks = 32

func (l *RootLinks) has(name string) bool { return l != nil && l.names[name] }

func (l *RootLinks) learn(links []string) {
	if l == nil {
		return
	}
	for _, k := range links {
		if name := strings.TrimPrefix(k, "/"); name != k && name != "" && !strings.Contains(name, "/") &&
			!l.names[name] && len(l.names) < maxRootLinks {
			if l.names == nil {
				l.names = map[string]bool{}
			}
			l.names[name] = true
		}
	}
}

func (l *RootLinks) forget(name string) {
	if l != nil {
		delete(l.names, name)
	}
}

func (p Proc) path(parts ...string) string {
	return p.Mount + "/" + strings.Join(parts, "/")
}

// Cwd is the thread's working directory (threads created without CLONE_FS
// can differ from their process).
func (p Proc) Cwd(t Task) (string, error) {
	s, err := os.Readlink(p.path(strconv.Itoa(t.TID), "cwd"))
	return strings.TrimSuffix(s, " (deleted)"), err
}

// FdPath is what the thread's descriptor fd refers to.
func (p Proc) FdPath(t Task, fd int) (string, error) {
	s, err := os.Readlink(p.path(strconv.Itoa(t.TID), "fd", strconv.Itoa(fd)))
	return s, err
}

// Exe is the process's executable path.
func (p Proc) Exe(pid int) (string, error) {
	return os.Readlink(p.path(strconv.Itoa(pid), "exe"))
}

// ReadStatus parses /proc/<tid>/status.
func (p Proc) ReadStatus(tid int) (Status, error) {
	b, err := ReadFile(p.path(strconv.Itoa(tid), "status"))
	if err != nil {
		return Status{}, err
	}
	return ParseStatus(b)
}

// VDSO is where process pid's vDSO starts (AT_SYSINFO_EHDR in
// /proc/<pid>/auxv), or 0 if it has none (booted with vdso=0). After an exec
// the file already describes the new image.
func (p Proc) VDSO(pid int) (uint64, error) {
	b, err := ReadFile(p.path(strconv.Itoa(pid), "auxv"))
	if err != nil {
		return 0, err
	}
	return ParseAuxv(b, AtSysinfoEhdr)
}

// AtSysinfoEhdr is AT_SYSINFO_EHDR (include/uapi/linux/auxvec.h): where
// the vDSO starts.
const AtSysinfoEhdr = 33

// ParseAuxv returns the value of entry typ in an auxiliary vector as
// /proc/<pid>/auxv holds it (pairs of native words ending with AT_NULL),
// or 0 if typ is absent.
func ParseAuxv(b []byte, typ uint64) (uint64, error) {
	for ; len(b) >= 16; b = b[16:] {
		k, v := binary.NativeEndian.Uint64(b), binary.NativeEndian.Uint64(b[8:])
		switch k {
		case typ:
			return v, nil
		case 0: // AT_NULL
			return 0, nil
		}
	}
	return 0, errors.New("auxv: no AT_NULL")
}

// Flags say how a syscall resolves its path.
type Flags uint8

const (
	// NoFollow keeps a final symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW,
	// unlink, rename, mkdir, O_CREAT|O_EXCL, ...).
	NoFollow Flags = 1 << iota
	// EmptyPath with an empty path names the dirfd itself (AT_EMPTY_PATH).
	EmptyPath
	// InRoot treats dirfd as the root (openat2 RESOLVE_IN_ROOT).
	InRoot
	// Beneath refuses to leave dirfd (openat2 RESOLVE_BENEATH); a path that
	// would is failed by the kernel with EXDEV, so resolving as InRoot gives
	// the only file it could open.
	Beneath
	// SlashFollows: a trailing slash follows the final link whatever
	// NoFollow says (open's rule; unlink and rename fail instead).
	SlashFollows
)

// AtFdCwd is AT_FDCWD as a tracee passes it (an int, sign-extended).
const AtFdCwd = unix.AT_FDCWD

// Resolve returns the absolute path the kernel would use for (dirfd, path)
// in thread t's view.
func (p Proc) Resolve(t Task, dirfd int, path string, flags Flags) (string, error) {
	r, err := p.ResolvePlain(t, dirfd, path, flags)
	return r.Path, err
}

// ResolvePlain is Resolve, and also how to spell the result without
// symlinks (Walked.Plain). A walk that starts at a deleted directory has no
// such spelling: its old name is no longer where it is.
func (p Proc) ResolvePlain(t Task, dirfd int, path string, flags Flags) (Walked, error) {
	var start string
	var err error
	switch {
	case strings.HasPrefix(path, "/") && flags&(InRoot|Beneath) == 0:
		// An absolute path starts at the root whatever dirfd is: reading
		// the cwd or the dirfd would cost a readlink for nothing.
	case dirfd == AtFdCwd:
		start, err = os.Readlink(p.path(strconv.Itoa(t.TID), "cwd"))
	default:
		start, err = p.FdPath(t, dirfd)
	}
	if err != nil {
		return Walked{}, fmt.Errorf("resolve %q at fd %d of %d: %w", path, dirfd, t.TID, err)
	}
	start, deleted := strings.CutSuffix(start, " (deleted)")
	if path == "" {
		if flags&EmptyPath != 0 {
			return Walked{Path: start}, nil
		}
		return Walked{}, fmt.Errorf("resolve empty path of %d: %w", t.TID, unix.ENOENT)
	}
	if flags&SlashFollows != 0 && strings.HasSuffix(path, "/") {
		// open(2) follows a final link written with a trailing slash even
		// under O_NOFOLLOW (it must be a directory then).
		flags &^= NoFollow
	}
	root := "/"
	if flags&(InRoot|Beneath) != 0 {
		root = start
	}
	shortcuts := p.Openat2 && t.SharedRoot && root == "/" && !deleted
	if shortcuts {
		if r, ok := p.viaRootLink(path, flags&NoFollow == 0); ok {
			return r, nil
		}
		if r, ok := plainLookup(start, path, flags&NoFollow == 0); ok {
			return r, nil
		}
	}
	// Built only for the walk: its interfaces cost two allocations per
	// call, which the shortcuts above answer most of.
	fsys := rootFS{proc: p}
	if !t.SharedRoot {
		fsys.root = p.path(strconv.Itoa(t.TID), "root")
	}
	w := Walker{
		FS:    fsys,
		Magic: magic{proc: p, task: t},
	}
	if shortcuts {
		w.Plain = plainLookup
	}
	r, err := w.WalkPlain(root, start, path, flags&NoFollow == 0)
	if deleted {
		r.Plain = ""
	}
	if shortcuts && err == nil {
		p.RootLinks.learn(r.Links)
	}
	return r, err
}

// viaRootLink is the lookup of an absolute path whose first name was a
// symlink last time (RootLinks): /lib/x86_64-linux-gnu/libc.so.6 is a
// readlink of /lib and one openat2 of /usr/lib/x86_64-linux-gnu/libc.so.6
// with RESOLVE_NO_SYMLINKS, where plainLookup would first fail on the link
// (ELOOP) and the walk then lstat the link before reading it. It answers
// what the walk would: the link read now, then a rest that follows no
// symlink. ok false means only that the usual lookups must answer.
func (p Proc) viaRootLink(path string, followFinal bool) (Walked, bool) {
	if !strings.HasPrefix(path, "/") || underProc(path) {
		return Walked{}, false
	}
	name, rest, more := strings.Cut(strings.TrimLeft(path, "/"), "/")
	if !more || strings.Trim(rest, "/") == "" || !p.RootLinks.has(name) {
		// The link itself is the last name: O_NOFOLLOW and a trailing
		// slash mean things there; the walk handles them.
		return Walked{}, false
	}
	target, err := os.Readlink("/" + name)
	if err != nil {
		p.RootLinks.forget(name)
		return Walked{}, false
	}
	// A relative target starts at the link's directory, the root.
	r, ok := plainLookup("/", strings.TrimPrefix(target, "/")+"/"+rest, followFinal)
	if !ok {
		return Walked{}, false
	}
	r.Links = []string{"/" + name}
	return r, true
}

// plainLookup is the walk's shortcut for the common case: a path in the
// tracer's own root with no symlink in it. One openat2 with O_PATH and
// RESOLVE_NO_SYMLINKS walks it in the kernel, where the walker pays an
// lstat per component (5.5 against 2.1 µs for a path of five components,
// 1.9 against 1.7 for two, on the bench VM). If it succeeds, every
// component exists and none is a link (the final one may be, opened as
// itself with O_NOFOLLOW, when the call does not follow it), so the walk
// would have gone exactly where the path says: the cleaned path is both
// what to judge and how to spell it. If only the final component is
// missing (a create), the parent is looked up the same way, and the walk's
// answer is again the cleaned path. Anything else, a link on the way, a
// component that is no directory, /proc (its links are magic, and it is
// looked up in the tracer's own procfs), is left to the walker. ok false
// means only that: nothing is decided here.
func plainLookup(start, path string, followFinal bool) (Walked, bool) {
	abs := path
	if !strings.HasPrefix(path, "/") {
		if !strings.HasPrefix(start, "/") {
			return Walked{}, false // "(unreachable)" and the like
		}
		abs = strings.TrimSuffix(start, "/") + "/" + path
	}
	clean := filepath.Clean(abs)
	if underProc(abs) || underProc(clean) || len(abs) >= unix.PathMax {
		return Walked{}, false
	}
	flags := uint64(unix.O_PATH | unix.O_CLOEXEC)
	if !followFinal {
		flags |= unix.O_NOFOLLOW
	}
	err := openPath(abs, flags)
	if errors.Is(err, unix.ENOENT) && !strings.HasSuffix(abs, "/") && !hasDots(abs) {
		// The kernel walks left to right and, with RESOLVE_NO_SYMLINKS,
		// fails at the first link it meets (ELOOP) or the first name that
		// is missing (ENOENT). So ENOENT says: every name up to the missing
		// one is there and no link, and the walk would keep the rest as
		// written, which without dots is the cleaned path. Where the
		// missing name is does not matter, so no lookup of a parent: a
		// compiler's header probes (/usr/local/include/bits/...) cost one
		// openat2 each, where the walk paid an lstat per name.
		return Walked{Path: clean, Plain: clean}, true
	}
	if errors.Is(err, unix.ENOENT) {
		// A create: is it only the final name that is missing? That name
		// must be a plain one for the parent to be where the path ends.
		dir, base := filepath.Split(abs)
		if base == "" || base == "." || base == ".." {
			return Walked{}, false
		}
		err = openPath(dir, unix.O_PATH|unix.O_CLOEXEC|unix.O_DIRECTORY)
	}
	if err != nil {
		return Walked{}, false
	}
	return Walked{Path: clean, Plain: clean}, true
}

// hasDots reports whether p has a "." or ".." component.
func hasDots(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if c == "." || c == ".." {
			return true
		}
	}
	return false
}

// openPath opens and closes p with RESOLVE_NO_SYMLINKS, for its error.
func openPath(p string, flags uint64) error {
	how := unix.OpenHow{Flags: flags, Resolve: unix.RESOLVE_NO_SYMLINKS}
	for {
		fd, err := unix.Openat2(unix.AT_FDCWD, p, &how)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
}

// underProc reports whether p, read as written, starts in /proc.
func underProc(p string) bool {
	return p == "/proc" || strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "//")
}

// rootFS looks paths up under /proc/<tid>/root: the tracee's own root and
// mounts, whatever the tracer's are (root "" when they are the tracer's own).
// Paths under /proc go to the tracer's procfs (the same one in a container)
// because procfs entries depend on who looks.
type rootFS struct {
	proc Proc
	root string
}

func (r rootFS) Readlink(path string) (string, bool, bool, error) {
	host := r.root + path
	if path == "/proc" || strings.HasPrefix(path, "/proc/") {
		host = r.proc.Mount + strings.TrimPrefix(path, "/proc")
	}
	// A link can become something else between the lstat and the readlink
	// (a rename over it, RENAME_EXCHANGE): readlink then fails with EINVAL.
	// Look again rather than fail; each answer is a state the path really
	// had, and a pinned open holds the kernel to the one the walk used.
	for try := 0; ; try++ {
		var st unix.Stat_t
		if err := unix.Lstat(host, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return "", false, false, fs.ErrNotExist
			}
			return "", false, false, err
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
		case unix.S_IFDIR:
			return "", false, true, nil
		default:
			return "", false, false, nil
		}
		t, err := os.Readlink(host)
		if err == nil {
			return t, true, false, nil
		}
		if errors.Is(err, unix.ENOENT) {
			return "", false, false, fs.ErrNotExist
		}
		if !errors.Is(err, unix.EINVAL) || try == 3 {
			return "", false, false, err
		}
	}
}

// magic resolves /proc/self, /proc/thread-self and the per-process magic
// links as the tracee would see them.
type magic struct {
	proc Proc
	task Task
}

func (m magic) Resolve(path string) (string, MagicKind, error) {
	rest, ok := strings.CutPrefix(path, "/proc/")
	if !ok {
		return "", NotMagic, nil
	}
	switch rest {
	case "self":
		return "/proc/" + strconv.Itoa(m.task.PID), SelfLink, nil
	case "thread-self":
		return "/proc/" + strconv.Itoa(m.task.PID) + "/task/" + strconv.Itoa(m.task.TID), SelfLink, nil
	}
	parts := strings.Split(rest, "/")
	if _, err := strconv.Atoi(parts[0]); err != nil {
		return "", NotMagic, nil
	}
	// /proc/<n>/task/<m>/... is the same set of links as /proc/<n>/...
	links := parts[1:]
	if len(links) >= 2 && links[0] == "task" {
		if _, err := strconv.Atoi(links[1]); err == nil {
			links = links[2:]
		}
	}
	isMagic := false
	switch {
	case len(links) == 1 && (links[0] == "cwd" || links[0] == "root" || links[0] == "exe"):
		isMagic = true
	case len(links) == 2 && links[0] == "fd":
		_, err := strconv.Atoi(links[1])
		isMagic = err == nil
	case len(links) == 2 && (links[0] == "ns" || links[0] == "map_files"):
		// Objects too ("net:[4026531840]", a mapped file), but named, for
		// the policy, by where they sit under /proc.
		return path, ObjectLink, nil
	}
	if !isMagic {
		return "", NotMagic, nil
	}
	t, err := os.Readlink(m.proc.Mount + "/" + rest)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			// No such fd or process: the kernel fails with ENOENT too.
			return "", NotMagic, nil
		}
		return "", NotMagic, err
	}
	return t, ObjectLink, nil
}
