package procfs

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestResolveSelf resolves paths in this very process's view: cwd, dirfds,
// magic links and openat2-style roots, against the real /proc.
func TestResolveSelf(t *testing.T) {
	dir := t.TempDir()
	dir, _ = filepath.EvalSymlinks(dir)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "f"), nil, 0o644)
	os.Symlink(filepath.Join(dir, "sub", "f"), filepath.Join(dir, "link"))
	dfd, err := unix.Open(filepath.Join(dir, "sub"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	ffd, err := unix.Open(filepath.Join(dir, "sub", "f"), unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ffd)
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)

	pid := os.Getpid()
	tid := unix.Gettid()
	task := Task{PID: pid, TID: tid}
	p := Proc{Mount: "/proc"}
	f := filepath.Join(dir, "sub", "f")
	cases := []struct {
		name  string
		dirfd int
		path  string
		flags Flags
		want  string
	}{
		{"cwd-relative", AtFdCwd, "sub/f", 0, f},
		{"dirfd-relative", dfd, "f", 0, f},
		{"dirfd-ignored-for-absolute", dfd, f, 0, f},
		{"symlink-followed", AtFdCwd, "link", 0, f},
		{"symlink-nofollow", AtFdCwd, "link", NoFollow, filepath.Join(dir, "link")},
		{"empty-path-is-dirfd", ffd, "", EmptyPath, f},
		{"proc-self-fd", AtFdCwd, "/proc/self/fd/" + strconv.Itoa(ffd), 0, f},
		{"dev-fd", AtFdCwd, "/dev/fd/" + strconv.Itoa(ffd), 0, f},
		{"proc-self-cwd", AtFdCwd, "/proc/self/cwd/sub/f", 0, f},
		{"thread-self-fd", AtFdCwd, "/proc/thread-self/fd/" + strconv.Itoa(dfd) + "/f", 0, f},
		{"proc-pid-fd", AtFdCwd, "/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(ffd), 0, f},
		{"proc-self-fd-nofollow", AtFdCwd, "/proc/self/fd/" + strconv.Itoa(ffd), NoFollow, "/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(ffd)},
		{"in-root", dfd, "/f", InRoot, f},
		{"beneath", dfd, "f", Beneath, f},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := p.Resolve(task, c.dirfd, c.path, c.flags)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got != c.want {
				t.Errorf("Resolve(%d, %q, %b) = %q, want %q", c.dirfd, c.path, c.flags, got, c.want)
			}
		})
	}
}

// TestPlainLookupAgreesWithWalk: wherever the openat2 shortcut answers, its
// answer is the walker's, for paths with dots, doubled and trailing
// slashes, links on the way and at the end, missing and non-directory
// components, creates, a FIFO, and both follow modes. It must also answer
// somewhere, or it is not tested.
func TestPlainLookupAgreesWithWalk(t *testing.T) {
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "f"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "sub", "deeper", "g"), nil, 0o644)
	os.Symlink(filepath.Join(dir, "sub", "f"), filepath.Join(dir, "link"))
	os.Symlink("sub", filepath.Join(dir, "rel"))
	os.Symlink("nowhere", filepath.Join(dir, "dangling"))
	os.Symlink("loop", filepath.Join(dir, "loop"))
	// Links on the way, where the walk's own shortcut (Walker.Plain) takes
	// over after each link: to a link, absolute, into /proc, and a second
	// link further on.
	os.Symlink("rel", filepath.Join(dir, "chain"))
	os.Symlink(filepath.Join(dir, "sub"), filepath.Join(dir, "absdir"))
	os.Symlink("/proc/self", filepath.Join(dir, "proclink"))
	os.Symlink("../rel", filepath.Join(dir, "sub", "back"))
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if err := os.Chdir(filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)

	rel := []string{
		"f", "./f", "../sub/f", "deeper/../f", "deeper/g", "deeper/", "deeper/.", "deeper/..", ".", "..", "./",
		"deeper//g", "new", "new/", "deeper/new", "nodir/new", "nodir/../f", "new/../f", "f/x", "f/", "f/.",
		"../link", "../link/", "../rel/f", "../rel/../sub/f", "../rel/", "../dangling", "../loop", "../fifo",
		"../../" + filepath.Base(dir) + "/sub/f",
		"../rel/deeper/g", "../rel/deeper/../f", "../rel/new", "../rel/./new", "../rel/nodir/new", "../rel/f/x",
		"../rel/deeper/", "../chain/f", "../chain/deeper/g", "../absdir/f", "../absdir/deeper/../deeper/g",
		"../proclink/status", "../rel/back/f", "../rel/back/back/deeper/g", "../rel/../link", "../rel/dangling",
		// Names missing further up (a compiler's header probes): one lookup.
		"nodir/deeper/new", "deeper/nodir/x/y", "nodir/new/", "nodir//new", "deeper/nodir/../g", "../rel/nodir/x/y",
		"../dangling/x", "../fifo/x", "f/x/y",
	}
	var paths []string
	for _, r := range rel {
		paths = append(paths, r, filepath.Join(dir, "sub")+"/"+r)
	}
	paths = append(paths, "/", "/..", "/../etc", "/etc/hostname", "/proc/self/status", "/proc/../etc/hostname", "//etc/hostname",
		"/nonexistent-bluelock/x/y", "/usr/nonexistent-bluelock/x")

	pid := os.Getpid()
	task := Task{PID: pid, TID: unix.Gettid(), SharedRoot: true}
	p := Proc{Mount: "/proc", Openat2: true}
	start := filepath.Join(dir, "sub")
	walker := Walker{FS: rootFS{proc: p}, Magic: magic{proc: p, task: task}}
	// The walk with its shortcut after links, against the walk alone.
	afterLink := 0
	short := walker
	short.Plain = func(start, rest string, followFinal bool) (Walked, bool) {
		r, ok := plainLookup(start, rest, followFinal)
		if ok {
			afterLink++
		}
		return r, ok
	}
	hits := 0
	for _, path := range paths {
		for _, flags := range []Flags{0, NoFollow, SlashFollows, NoFollow | SlashFollows} {
			follow := flags&NoFollow == 0 || (flags&SlashFollows != 0 && strings.HasSuffix(path, "/"))
			from := start
			if strings.HasPrefix(path, "/") {
				from = ""
			}
			want, werr := walker.WalkPlain("/", from, path, follow)
			got, gerr := p.ResolvePlain(task, AtFdCwd, path, flags)
			if _, ok := plainLookup(start, path, follow); ok {
				hits++
			}
			if (gerr != nil) != (werr != nil) || got.Path != want.Path || got.Plain != want.Plain || !slices.Equal(got.Links, want.Links) {
				t.Errorf("%q flags %b: ResolvePlain = %+v, %v; the walk alone = %+v, %v", path, flags, got, gerr, want, werr)
			}
			if got, gerr := short.WalkPlain("/", from, path, follow); (gerr != nil) != (werr != nil) || got.Path != want.Path || got.Plain != want.Plain || !slices.Equal(got.Links, want.Links) {
				t.Errorf("%q flags %b: the walk with its shortcut = %+v, %v; the walk alone = %+v, %v", path, flags, got, gerr, want, werr)
			}
		}
	}
	if hits < len(paths) {
		t.Errorf("the shortcut answered %d of %d lookups: not exercised", hits, 4*len(paths))
	}
	if afterLink < 20 {
		t.Errorf("the shortcut after a link answered %d lookups: not exercised", afterLink)
	}
}

// TestRootLinksAgreeWithWalk: with hints of the root's symlinks (/bin,
// /lib under a merged /usr), ResolvePlain answers as the walk alone, the
// first time (when it learns them) and the second (when it uses them); a
// hint whose link is gone is dropped.
func TestRootLinksAgreeWithWalk(t *testing.T) {
	var links []string
	for _, n := range []string{"bin", "lib", "lib64", "sbin"} {
		if fi, err := os.Lstat("/" + n); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			links = append(links, n)
		}
	}
	if len(links) == 0 {
		t.Skip("no symlinks directly under / here (not a merged /usr)")
	}
	paths := []string{"/etc/hostname", "/etc/../etc/hostname"}
	for _, n := range links {
		paths = append(paths, "/"+n, "/"+n+"/", "/"+n+"/.", "/"+n+"/..", "/"+n+"/../etc/hostname", "/"+n+"/nonexistent",
			"/"+n+"/nodir/x", "/"+n+"//x", "/"+n+"/./", "//"+n+"/x")
		if es, _ := os.ReadDir("/" + n); len(es) > 0 {
			for _, e := range es[:min(len(es), 8)] {
				paths = append(paths, "/"+n+"/"+e.Name(), "/"+n+"/"+e.Name()+"/", "/"+n+"/./"+e.Name())
			}
		}
	}
	task := Task{PID: os.Getpid(), TID: unix.Gettid(), SharedRoot: true}
	p := Proc{Mount: "/proc", Openat2: true, RootLinks: &RootLinks{}}
	walker := Walker{FS: rootFS{proc: p}, Magic: magic{proc: p, task: task}}
	for round := 0; round < 2; round++ {
		for _, path := range paths {
			for _, flags := range []Flags{0, NoFollow, SlashFollows, NoFollow | SlashFollows} {
				follow := flags&NoFollow == 0 || (flags&SlashFollows != 0 && strings.HasSuffix(path, "/"))
				want, werr := walker.WalkPlain("/", "", path, follow)
				got, gerr := p.ResolvePlain(task, AtFdCwd, path, flags)
				if (gerr != nil) != (werr != nil) || got.Path != want.Path || got.Plain != want.Plain || !slices.Equal(got.Links, want.Links) {
					t.Errorf("round %d, %q flags %b: ResolvePlain = %+v, %v; the walk alone = %+v, %v", round, path, flags, got, gerr, want, werr)
				}
			}
		}
	}
	for _, n := range links {
		if !p.RootLinks.has(n) {
			t.Errorf("/%s was not learned as a link", n)
		}
	}
	if _, ok := p.viaRootLink("/"+links[0]+"/../etc/hostname", true); !ok {
		t.Errorf("the hint for /%s did not answer", links[0])
	}
	// A hint for a name that is no link (any more): dropped at its use.
	p.RootLinks.learn([]string{"/etc"})
	if _, ok := p.viaRootLink("/etc/hostname", true); ok || p.RootLinks.has("etc") {
		t.Error("a hint for /etc, no link, answered or stayed")
	}
}

func TestParseAuxv(t *testing.T) {
	words := func(w ...uint64) []byte {
		b := make([]byte, 0, 8*len(w))
		for _, x := range w {
			b = binary.NativeEndian.AppendUint64(b, x)
		}
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want uint64
		err  bool
	}{
		{"present", words(6, 4096, 33, 0x7fff1000, 0, 0), 0x7fff1000, false},
		{"absent", words(6, 4096, 0, 0), 0, false},
		{"after AT_NULL is not read", words(0, 0, 33, 0x7fff1000), 0, false},
		{"truncated", words(6, 4096, 25), 0, true},
		{"empty", nil, 0, true},
	}
	for _, c := range cases {
		got, err := ParseAuxv(c.b, AtSysinfoEhdr)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("%s: got %#x, %v; want %#x (error %v)", c.name, got, err, c.want, c.err)
		}
	}
}

// TestVDSOSelf: our own vDSO, as the kernel maps it, is what auxv names.
func TestVDSOSelf(t *testing.T) {
	got, err := (Proc{Mount: "/proc"}).VDSO(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(maps), "\n") {
		if strings.HasSuffix(l, "[vdso]") {
			start, _, _ := strings.Cut(l, "-")
			if want, _ := strconv.ParseUint(start, 16, 64); got != want {
				t.Fatalf("VDSO %#x, maps says %s", got, l)
			}
			return
		}
	}
	if got != 0 {
		t.Fatalf("VDSO %#x but no [vdso] in maps", got)
	}
}
