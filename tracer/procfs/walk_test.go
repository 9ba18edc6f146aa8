package procfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// dirFS looks paths up under a real temporary directory standing in for a
// tracee's root.
type dirFS string

func (d dirFS) Readlink(p string) (string, bool, error) {
	host := string(d) + p
	st, err := os.Lstat(host)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", false, fs.ErrNotExist
		}
		return "", false, err
	}
	if st.Mode()&fs.ModeSymlink == 0 {
		return "", false, nil
	}
	t, err := os.Readlink(host)
	return t, true, err
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
	st, err := ParseStatus([]byte("Name:\tcat\nTgid:\t42\nPid:\t43\nPPid:\t7\nUid:\t1000\t1001\t1002\t1003\n"))
	if err != nil || st != (Status{Tgid: 42, PPid: 7, UID: 1000}) {
		t.Fatalf("got %+v, %v", st, err)
	}
	if _, err := ParseStatus([]byte("Name:\tx\n")); err == nil {
		t.Fatal("want an error for a status without ids")
	}
}
