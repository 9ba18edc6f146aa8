package procfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dirFS looks paths up under a real temporary directory standing in for a
// tracee's root.
type dirFS string

func (d dirFS) Readlink(p string) (string, bool, bool, error) {
	host := string(d) + p
	st, err := os.Lstat(host)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", false, false, fs.ErrNotExist
		}
		return "", false, false, err
	}
	if st.Mode()&fs.ModeSymlink == 0 {
		return "", false, st.IsDir(), nil
	}
	t, err := os.Readlink(host)
	return t, true, false, err
}

func TestWalk(t *testing.T) {
	root := t.TempDir()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ln := func(target, p string) {
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	mk("etc")
	mk("srv/app/data")
	mk("var/lib")
	os.WriteFile(filepath.Join(root, "etc/shadow"), nil, 0o600)
	ln("/etc", "cfg")                   // absolute link to a dir
	ln("../../etc/shadow", "srv/app/s") // relative link, climbs
	ln("/srv/app/data", "var/lib/d")    // link then ".." is physical
	ln("loop2", "loop1")
	ln("loop1", "loop2")
	ln("/etc/shadow", "srv/app/data/abs")
	ln("nonexistent/x", "dangling")
	w := Walker{FS: dirFS(root)}
	cases := []struct {
		name, root, start, path string
		follow                  bool
		want                    string
		wantErr                 error
	}{
		{name: "absolute", start: "/", path: "/etc/shadow", follow: true, want: "/etc/shadow"},
		{name: "relative-to-cwd", start: "/etc", path: "shadow", follow: true, want: "/etc/shadow"},
		{name: "dot-and-slashes", start: "/", path: "//etc/./shadow", follow: true, want: "/etc/shadow"},
		{name: "dotdot-lexical-dir", start: "/srv/app", path: "../../etc/shadow", follow: true, want: "/etc/shadow"},
		{name: "dotdot-above-root", start: "/", path: "/../../etc/shadow", follow: true, want: "/etc/shadow"},
		{name: "abs-symlink-dir", start: "/", path: "/cfg/shadow", follow: true, want: "/etc/shadow"},
		{name: "rel-symlink-final", start: "/", path: "/srv/app/s", follow: true, want: "/etc/shadow"},
		{name: "nofollow-keeps-final-link", start: "/", path: "/srv/app/s", follow: false, want: "/srv/app/s"},
		{name: "nofollow-still-follows-dirs", start: "/", path: "/cfg/shadow", follow: false, want: "/etc/shadow"},
		{name: "dotdot-is-physical", start: "/", path: "/var/lib/d/../data/abs", follow: true, want: "/etc/shadow"},
		{name: "create-missing", start: "/srv", path: "app/new/../file", follow: true, want: "/srv/app/file"},
		{name: "dangling-link", start: "/", path: "/dangling", follow: true, want: "/nonexistent/x"},
		{name: "loop", start: "/", path: "/loop1", follow: true, want: "/loop1", wantErr: ErrLoop},
		{name: "in-root-absolute", root: "/srv", start: "/srv", path: "/app/data", follow: true, want: "/srv/app/data"},
		{name: "in-root-dotdot-clamped", root: "/srv", start: "/srv", path: "../../../app", follow: true, want: "/srv/app"},
		{name: "in-root-abs-link-stays-inside", root: "/srv/app", start: "/srv/app", path: "data/abs", follow: true, want: "/srv/app/etc/shadow"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := w.Walk(c.root, c.start, c.path, c.follow)
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if got != c.want {
				t.Errorf("Walk(%q, %q, %q) = %q, want %q", c.root, c.start, c.path, got, c.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	cases := []struct {
		name, text string
		want       Status
		err        bool
	}{
		{"all four", "Name:\tcat\nTgid:\t42\nPid:\t43\nPPid:\t7\nUid:\t1000\t1001\t1002\t1003\n", Status{Tgid: 42, PPid: 7, UID: 1000, FSUID: 1003}, false},
		{"later lines ignored", "Tgid:\t1\nPPid:\t0\nUid:\t0\t0\t0\t0\nTgid:\t99\n", Status{Tgid: 1, UID: 0}, false},
		{"short Uid line: fsuid is the uid", "Tgid:\t5\nPPid:\t1\nUid:\t7\n", Status{Tgid: 5, PPid: 1, UID: 7, FSUID: 7}, false},
		{"no trailing newline", "Tgid:\t5\nPPid:\t1\nUid:\t7\t7\t7\t8", Status{Tgid: 5, PPid: 1, UID: 7, FSUID: 8}, false},
		{"no ids", "Name:\tx\n", Status{}, true},
		{"a non-numeric id", "Tgid:\tx\nPPid:\t1\nUid:\t7\n", Status{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := ParseStatus([]byte(c.text))
			if (err != nil) != c.err || (!c.err && st != c.want) {
				t.Errorf("got %+v, %v; want %+v, error %v", st, err, c.want, c.err)
			}
		})
	}
	t.Run("this process", func(t *testing.T) {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Skip(err)
		}
		st, err := ParseStatus(b)
		want := Status{Tgid: os.Getpid(), PPid: os.Getppid(), UID: os.Getuid(), FSUID: os.Geteuid()}
		if err != nil || st != want {
			t.Errorf("got %+v, %v; want %+v", st, err, want)
		}
	})
}

// fakeMagic stands in for procfs's magic links: /proc/self is a SelfLink,
// /proc/1/fd/3 an ObjectLink to /srv/app/data, /proc/1/fd/4 a pipe.
type fakeMagic struct{}

func (fakeMagic) Resolve(p string) (string, MagicKind, error) {
	switch p {
	case "/proc/self":
		return "/proc/1", SelfLink, nil
	case "/proc/1/fd/3":
		return "/srv/app/data", ObjectLink, nil
	case "/proc/1/fd/4":
		return "pipe:[12]", ObjectLink, nil
	}
	return "", NotMagic, nil
}

// TestWalkPlain checks the symlink-free spelling a pinned open is handed:
// it may only ever reach Path, and where Path does not exist it must fail
// where the kernel's own walk would.
func TestWalkPlain(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc", "srv/app/data", "var/lib", "proc/1/fd"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "etc/shadow"), nil, 0o600)
	os.Symlink("/etc", filepath.Join(root, "cfg"))
	os.Symlink("../../etc/shadow", filepath.Join(root, "srv/app/s"))
	os.Symlink("/srv/app/data", filepath.Join(root, "var/lib/d"))
	w := Walker{FS: dirFS(root), Magic: fakeMagic{}}
	cases := []struct {
		name, start, path string
		follow            bool
		plain             string
		links             []string
	}{
		{"no-links", "/", "/etc/shadow", true, "/etc/shadow", nil},
		{"relative", "/srv/app", "s", true, "/etc/shadow", []string{"/srv/app/s"}},
		{"dir-link", "/", "/cfg/shadow", true, "/etc/shadow", []string{"/cfg"}},
		{"final-link-kept", "/", "/srv/app/s", false, "/srv/app/s", nil},
		{"dotdot-after-link", "/", "/var/lib/d/../data", true, "/srv/app/data", []string{"/var/lib/d"}},
		{"missing-keeps-dots", "/srv", "app/new/../../x", true, "/srv/app/new/../../x", nil},
		{"file-as-dir-fails-there", "/", "/etc/shadow/../x", true, "/etc/shadow/../x", nil},
		{"self-link", "/", "/proc/self/fd", true, "/proc/1/fd", nil},
		{"object-link", "/", "/proc/self/fd/3/x", true, "", nil},
		{"object-pipe", "/", "/proc/self/fd/4", true, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := w.WalkPlain("/", c.start, c.path, c.follow)
			if err != nil {
				t.Fatal(err)
			}
			if got.Plain != c.plain {
				t.Errorf("Plain = %q, want %q (Path %q)", got.Plain, c.plain, got.Path)
			}
			if strings.Join(got.Links, ",") != strings.Join(c.links, ",") {
				t.Errorf("Links = %q, want %q", got.Links, c.links)
			}
		})
	}
}
