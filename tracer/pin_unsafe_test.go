//go:build linux && amd64

package tracer

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/tracer/procfs"
)

// TestLegacyHowMatchesKernel checks legacyHow against the kernel itself:
// for each flags/mode pair, open(2) and openat2(2) of legacyHow's open_how
// must fail alike or give descriptors with the same status flags and
// create files with the same mode. A pinned open is this openat2.
func TestLegacyHowMatchesKernel(t *testing.T) {
	if _, err := probePin(procfsForTest()); err != nil {
		t.Skipf("openat2 unavailable here: %v", err)
	}
	old := unix.Umask(0)
	defer unix.Umask(old)
	const garbage = 0x80000000 | 0x40000000 // bits open(2) ignores
	cases := []struct {
		name  string
		file  bool // the path exists as a file (else: a directory)
		flags uint64
		mode  uint64
	}{
		{"rdonly", true, unix.O_RDONLY, 0},
		{"rdwr-append-cloexec", true, unix.O_RDWR | unix.O_APPEND | unix.O_CLOEXEC, 0},
		{"mode-without-creat", true, unix.O_RDONLY, 0o777},
		{"garbage-bits", true, unix.O_RDONLY | garbage, 0},
		{"high-half-of-register", true, 1<<40 | unix.O_RDONLY, 0},
		{"opath-with-rdwr-creat", true, unix.O_PATH | unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC, 0o644},
		{"opath-nofollow-cloexec", true, unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, 0},
		{"creat-new", false, unix.O_CREAT | unix.O_WRONLY, 0o640},
		{"creat-mode-garbage", false, unix.O_CREAT | unix.O_WRONLY, 0o170640},
		{"creat-excl-existing", true, unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY, 0o600},
		{"directory-on-file", true, unix.O_RDONLY | unix.O_DIRECTORY, 0},
		{"tmpfile", false, unix.O_TMPFILE | unix.O_RDWR, 0o600},
		{"tmpfile-rdonly", false, unix.O_TMPFILE | unix.O_RDONLY, 0o600},
		{"nonblock-dsync-noatime", true, unix.O_RDONLY | unix.O_NONBLOCK | unix.O_DSYNC | unix.O_NOATIME, 0},
		{"accmode-3", true, 3, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got [2]string
			for i := range got {
				dir := t.TempDir()
				path := filepath.Join(dir, "f")
				if c.file {
					if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if c.flags&unix.O_TMPFILE == unix.O_TMPFILE {
					path = dir
				}
				var fd int
				var err error
				if i == 0 {
					fd, err = rawOpen(path, c.flags, c.mode)
				} else {
					how := legacyHow(c.flags, c.mode)
					fd, err = unix.Openat2(unix.AT_FDCWD, path, &how)
				}
				got[i] = describeFd(fd, err, path)
			}
			if got[0] != got[1] {
				t.Fatalf("open(2): %s\nopenat2(legacyHow): %s", got[0], got[1])
			}
		})
	}
}

// rawOpen is open(2) with the registers as given (x/sys truncates flags).
func rawOpen(path string, flags, mode uint64) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	fd, _, e := unix.Syscall(unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flags), uintptr(mode))
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// describeFd closes fd and says what it was: its status flags, file type and
// the mode of the file at path.
func describeFd(fd int, err error, path string) string {
	if err != nil {
		return "error " + err.Error()
	}
	defer unix.Close(fd)
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return "F_GETFL " + err.Error()
	}
	fdfl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	var st unix.Stat_t
	_ = unix.Fstat(fd, &st)
	return fmt.Sprintf("ok flags=%#o fdflags=%d type=%#o mode=%#o", fl, fdfl, st.Mode&unix.S_IFMT, st.Mode&0o7777)
}

// TestPinnedOpensKeepSemantics runs one script of opens natively and under
// the tracer and wants the same result, line for line: the pinned openat2
// must mean what the app's call meant (final links, trailing slashes,
// creation through a dangling link, magic links, ConfigMap-style
// indirection, fs.protected_symlinks) — and pinning must have happened.
func TestPinnedOpensKeepSemantics(t *testing.T) {
	requirePtrace(t)
	if _, err := probePin(procfsForTest()); err != nil {
		t.Skipf("openat2 unavailable here: %v", err)
	}
	// Debian turns fs.protected_symlinks on, containers often leave it off
	// (this CI does): turn it on for this test, so the sticky cases show
	// the tracer applying it. Other packages' tests running meanwhile make
	// no links in sticky directories of other users.
	if !protectedSymlinksOn() {
		const knob = "/proc/sys/fs/protected_symlinks"
		if err := os.WriteFile(knob, []byte("1"), 0); err != nil {
			t.Logf("fs.protected_symlinks is off and stays off (%v): the sticky cases only check that both runs agree", err)
		} else {
			t.Cleanup(func() { _ = os.WriteFile(knob, []byte("0"), 0) })
		}
	}
	mk := func() string {
		d := t.TempDir()
		d, _ = filepath.EvalSymlinks(d)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.WriteFile(filepath.Join(d, "f"), []byte("content-f"), 0o644))
		must(os.MkdirAll(filepath.Join(d, "d"), 0o755))
		must(os.WriteFile(filepath.Join(d, "d", "g"), []byte("content-g"), 0o644))
		must(os.Symlink("f", filepath.Join(d, "lf")))
		must(os.Symlink("d", filepath.Join(d, "ld")))
		must(os.Symlink(filepath.Join(d, "new-target"), filepath.Join(d, "dangling")))
		// A ConfigMap volume: key -> ..data/key, ..data -> ..v1.
		must(os.MkdirAll(filepath.Join(d, "cm", "..v1"), 0o755))
		must(os.WriteFile(filepath.Join(d, "cm", "..v1", "key"), []byte("content-key"), 0o644))
		must(os.Symlink("..v1", filepath.Join(d, "cm", "..data")))
		must(os.Symlink("..data/key", filepath.Join(d, "cm", "key")))
		// fs.protected_symlinks: another user's link in a sticky,
		// world-writable directory we (root) do not own either.
		must(os.Mkdir(filepath.Join(d, "sticky"), 0o777))
		must(os.Chmod(filepath.Join(d, "sticky"), 0o1777|os.ModeSticky))
		must(os.Chown(filepath.Join(d, "sticky"), 4241, 4241))
		must(os.Symlink(filepath.Join(d, "f"), filepath.Join(d, "sticky", "foreign")))
		must(os.Lchown(filepath.Join(d, "sticky", "foreign"), 4242, 4242))
		must(os.Symlink(filepath.Join(d, "f"), filepath.Join(d, "sticky", "owners")))
		must(os.Lchown(filepath.Join(d, "sticky", "owners"), 4241, 4241))
		return d
	}
	native := mk()
	cmd := exec.Command(testSelf(t), "open-semantics")
	cmd.Dir = native
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("native run: %v\n%s", err, want)
	}
	if protectedSymlinksOn() && !bytes.Contains(want, []byte("sticky-foreign: error permission denied")) {
		t.Fatalf("fs.protected_symlinks is on but the native run followed a foreign link in a sticky directory:\n%s", want)
	}

	traced := mk()
	stats := NewStats()
	args, env := helper(t, "open-semantics")
	pol := fakePolicy{mayBlock: true, rules: []fakeRule{{op: policy.OpFile, match: "/nonexistent/blocked", d: block("x")}}}
	res := traceRunInStats(t, traced, pol, stats, env, args...)
	if res.code != 0 {
		t.Fatalf("traced run exit %d:\n%s", res.code, res.stdout)
	}
	if res.stdout != string(want) {
		t.Errorf("under the tracer the opens meant something else.\nnative:\n%s\ntraced:\n%s", want, res.stdout)
	}
	// The runtime and loader make about 10 opens; the script has more than
	// 30 pinnable ones.
	if n := stats.PinnedOpens.Load(); n < 35 {
		t.Errorf("only %d opens were pinned: the script's opens were not", n)
	}
	t.Logf("%d opens pinned", stats.PinnedOpens.Load())
}

// TestOwnFilterIsNotPinned: a process that stacks a seccomp filter of its
// own refusing openat2 must still open files (the kernel runs that filter
// again on a pinned open, which would fail with its errno).
func TestOwnFilterIsNotPinned(t *testing.T) {
	requirePtrace(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	stats := NewStats()
	args, env := helper(t, "own-filter-open", f)
	res := traceRunStats(t, fakePolicy{}, stats, env, args...)
	if res.code != 0 {
		t.Fatalf("open after the app's own filter: exit %d (38: its filter refused a pinned openat2)", res.code)
	}
	if n := stats.PinnedOpens.Load(); n == 0 {
		t.Errorf("no open was pinned before the filter went in: the run proves nothing")
	}
}

func procfsForTest() procfs.Proc { return procfs.Proc{Mount: "/proc"} }

func protectedSymlinksOn() bool {
	b, err := os.ReadFile("/proc/sys/fs/protected_symlinks")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// openSemantics is the helper's script (cwd: the tree TestPinnedOpensKeepSemantics
// makes). One line per case: its name and what came of it.
func openSemantics() int {
	wd, _ := os.Getwd()
	dirfd, err := unix.Open(".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		fmt.Println("setup:", err)
		return 2
	}
	ffd, _ := unix.Open("f", unix.O_RDONLY, 0)
	var p [2]int
	_ = unix.Pipe(p[:])
	_, _ = unix.Write(p[1], []byte("piped"))
	_ = unix.Close(p[1])
	_ = unix.Dup2(p[0], 0)
	type tc struct {
		name  string
		sys   string // open, openat (dirfd of cwd), openat2 (dirfd, resolve), creat
		path  string
		flags uint64
		mode  uint64
		res   uint64
	}
	cases := []tc{
		{"file", "open", "f", unix.O_RDONLY, 0, 0},
		{"abs-file", "open", wd + "/f", unix.O_RDONLY, 0, 0},
		{"final-link", "open", "lf", unix.O_RDONLY, 0, 0},
		{"final-link-nofollow", "open", "lf", unix.O_RDONLY | unix.O_NOFOLLOW, 0, 0},
		{"final-link-opath-nofollow", "open", "lf", unix.O_PATH | unix.O_NOFOLLOW, 0, 0},
		{"dir-link", "open", "ld/g", unix.O_RDONLY, 0, 0},
		{"dir-link-slash-nofollow", "open", "ld/", unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW, 0, 0},
		{"file-slash", "open", "f/", unix.O_RDONLY, 0, 0},
		{"dir-dot", "open", "d/.", unix.O_RDONLY, 0, 0},
		{"file-dot", "open", "f/.", unix.O_RDONLY, 0, 0},
		{"file-dotdot", "open", "d/g/..", unix.O_RDONLY, 0, 0},
		{"dir-dotdot", "open", "d/..", unix.O_RDONLY, 0, 0},
		{"link-dotdot-physical", "open", "ld/../f", unix.O_RDONLY, 0, 0},
		{"missing", "open", "missing/x", unix.O_RDONLY, 0, 0},
		{"missing-dotdot", "open", "missing/../f", unix.O_RDONLY, 0, 0},
		{"create-through-dangling", "open", "dangling", unix.O_CREAT | unix.O_WRONLY, 0o640, 0},
		{"created-target", "open", "new-target", unix.O_RDONLY, 0, 0},
		{"excl-on-link", "open", "lf", unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY, 0o600, 0},
		{"creat-slash", "open", "newdir/", unix.O_CREAT | unix.O_WRONLY, 0o600, 0},
		{"creat", "creat", "created", 0, 0o600, 0},
		{"garbage-flags-mode", "open", "f", unix.O_RDONLY | 0x80000000, 0o777, 0},
		{"opath-rdwr", "open", "f", unix.O_PATH | unix.O_RDWR, 0, 0},
		{"tmpfile-via-link", "open", "ld", unix.O_TMPFILE | unix.O_RDWR, 0o600, 0},
		{"directory-on-file", "open", "f", unix.O_RDONLY | unix.O_DIRECTORY, 0, 0},
		{"dot", "open", ".", unix.O_RDONLY | unix.O_DIRECTORY, 0, 0},
		{"empty", "open", "", unix.O_RDONLY, 0, 0},
		{"root", "open", "/", unix.O_RDONLY, 0, 0},
		{"dev-stdin-pipe", "open", "/dev/stdin", unix.O_RDONLY, 0, 0},
		{"proc-self-status", "open", "/proc/self/status", unix.O_RDONLY, 0, 0},
		{"proc-self-fd-reopen", "open", "/proc/self/fd/" + strconv.Itoa(ffd), unix.O_RDONLY, 0, 0},
		{"proc-self-ns", "open", "/proc/self/ns/net", unix.O_RDONLY, 0, 0},
		{"configmap-key", "open", "cm/key", unix.O_RDONLY, 0, 0},
		{"sticky-foreign", "open", "sticky/foreign", unix.O_RDONLY, 0, 0},
		{"sticky-owners", "open", "sticky/owners", unix.O_RDONLY, 0, 0},
		{"sticky-foreign-nofollow", "open", "sticky/foreign", unix.O_PATH | unix.O_NOFOLLOW, 0, 0},
		{"openat-link", "openat", "lf", unix.O_RDONLY, 0, 0},
		{"openat-dir-link", "openat", "ld/g", unix.O_RDONLY, 0, 0},
		{"openat2-link", "openat2", "lf", unix.O_RDONLY, 0, 0},
		{"openat2-own-no-symlinks", "openat2", "lf", unix.O_RDONLY, 0, unix.RESOLVE_NO_SYMLINKS},
		{"openat2-own-beneath", "openat2", "ld/g", unix.O_RDONLY, 0, unix.RESOLVE_BENEATH},
	}
	for _, c := range cases {
		var fd int
		var err error
		switch c.sys {
		case "open":
			fd, err = rawOpen(c.path, c.flags, c.mode)
		case "creat":
			fd, err = rawCreat(c.path, c.mode)
		case "openat":
			fd, err = unix.Openat(dirfd, c.path, int(c.flags), uint32(c.mode))
		case "openat2":
			fd, err = unix.Openat2(dirfd, c.path, &unix.OpenHow{Flags: c.flags, Mode: c.mode, Resolve: c.res})
		}
		fmt.Printf("%s: %s\n", c.name, describeOpen(fd, err))
	}
	return 0
}

func rawCreat(path string, mode uint64) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	fd, _, e := unix.Syscall(unix.SYS_CREAT, uintptr(unsafe.Pointer(p)), uintptr(mode), 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// describeOpen is describeFd plus the first bytes of what the descriptor
// reads, so two runs show they opened the same thing.
func describeOpen(fd int, err error) string {
	if err != nil {
		return "error " + err.Error()
	}
	var head [12]byte
	n, rerr := unix.Pread(fd, head[:], 0)
	if rerr == unix.ESPIPE {
		n, rerr = unix.Read(fd, head[:])
	}
	got := "-"
	if rerr == nil {
		got = strconv.Quote(string(head[:max(n, 0)]))
	} else if errno, ok := rerr.(syscall.Errno); ok {
		got = errno.Error()
	}
	return describeFd(fd, nil, "") + " read=" + got
}

// ownFilterOpen installs a filter that fails openat2 with ENOSYS (what
// older sandboxes do with calls they do not know), then opens path.
func ownFilterOpen(path string) error {
	if fd, err := unix.Open(path, unix.O_RDONLY, 0); err != nil {
		return fmt.Errorf("open before the filter: %w", err)
	} else {
		unix.Close(fd)
	}
	// BPF: load nr; if nr == openat2 return ERRNO(ENOSYS) else ALLOW.
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_OPENAT2},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}
