package procfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMayFollow checks fs.protected_symlinks as the kernel states it
// (fs/namei.c may_follow_link), on real links with real owners.
func TestMayFollow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give links and directories other owners; CI runs it as root")
	}
	d := t.TempDir()
	mk := func(dir string, mode os.FileMode, uid int) string {
		p := filepath.Join(d, dir)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ln := func(dir, name string, uid int) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink("/etc/hostname", p); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sticky := mk("sticky", 0o777|os.ModeSticky, 4241)
	plain := mk("plain", 0o777, 4241)
	notWorld := mk("notworld", 0o770|os.ModeSticky, 4241)
	cases := []struct {
		name  string
		link  string
		fsuid int
		deny  bool
	}{
		{"sticky-foreign-link", ln(sticky, "foreign", 4242), 0, true},
		{"sticky-link-of-follower", ln(sticky, "mine", 4243), 4243, false},
		{"sticky-link-of-dir-owner", ln(sticky, "owners", 4241), 0, false},
		{"not-sticky", ln(plain, "foreign", 4242), 0, false},
		{"sticky-not-world-writable", ln(notWorld, "foreign", 4242), 0, false},
	}
	p := Proc{Mount: "/proc"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			asked := false
			err := p.MayFollow(Task{TID: 1}, []string{c.link}, func() (int, error) { asked = true; return c.fsuid, nil })
			if got := err != nil; got != c.deny {
				t.Fatalf("MayFollow = %v, want deny %v", err, c.deny)
			}
			if c.deny && !errors.Is(err, unix.EACCES) {
				t.Fatalf("denied with %v, want EACCES (the kernel's errno)", err)
			}
			if c.name == "not-sticky" && asked {
				t.Error("asked for the fsuid where the directory alone decides (a status read per link)")
			}
		})
	}
}
