package procfs

import (
	"os"
	"path/filepath"
	"strconv"
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
