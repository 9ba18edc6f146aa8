package tracer

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/policy"
)

// notifyHelper runs the helper actions of the fast-path tests.
func notifyHelper(args []string, errnoExit func(error) int) (int, bool) {
	switch args[0] {
	case "setfsuid-open": // setfsuid-open UID PATH: open PATH, then as fsuid UID on the same thread
		runtime.LockOSThread()
		fd, err := unix.Open(args[2], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errnoExit(err), true
		}
		unix.Close(fd)
		uid, _ := strconv.Atoi(args[1])
		// Raw: setfsuid changes this thread only, and returns the old fsuid.
		unix.RawSyscall(unix.SYS_SETFSUID, uintptr(uid), 0, 0)
		fd, err = unix.Open(args[2], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return errnoExit(err), true
	case "fifo-pair": // fifo-pair PATH: mkfifo PATH; a thread opens it to write, this one to read; pass a byte
		if err := unix.Mkfifo(args[1], 0o600); err != nil {
			return errnoExit(err), true
		}
		errc := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			fd, err := unix.Open(args[1], unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				_, err = unix.Write(fd, []byte{'x'})
				unix.Close(fd)
			}
			errc <- err
		}()
		fd, err := unix.Open(args[1], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errnoExit(err), true
		}
		var b [1]byte
		n, err := unix.Read(fd, b[:])
		unix.Close(fd)
		if err == nil && (n != 1 || b[0] != 'x') {
			err = errors.New("fifo: wrong byte")
		}
		if err == nil {
			err = <-errc
		}
		return errnoExit(err), true
	case "emfile": // emfile PATH: lower RLIMIT_NOFILE, open PATH until it fails
		lim := unix.Rlimit{Cur: 16, Max: 16}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return errnoExit(err), true
		}
		for range 64 {
			if _, err := unix.Open(args[1], unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
				return errnoExit(err), true
			}
		}
		return 3, true
	}
	return 0, false
}

// fastRun is traceRunTuned with the fast path on, whatever the test mode.
func fastRun(t *testing.T, pol Policy, vis Visibility, stats *Stats, args []string, env []string) runResult {
	t.Helper()
	return traceRunTuned(t, pol, vis, stats, env, func(c *Config) { c.FastOpens = true }, args...)
}

// TestFastOpens: what the supervisor answers itself, and what it hands
// back to ptrace, with the result the app sees either way.
func TestFastOpens(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	plain := filepath.Join(dir, "plain")
	rootOnly := filepath.Join(dir, "root-only")
	for p, mode := range map[string]os.FileMode{secret: 0o644, plain: 0o644, rootOnly: 0o600} {
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	pol := fakePolicy{mayBlock: true, rules: []fakeRule{{op: policy.OpFile, match: secret, d: block("secret")}}}
	cases := []struct {
		name     string
		action   []string
		code     int
		notified bool // the supervisor answered at least one open of the action
		handed   bool // at least one open went back to ptrace
	}{
		{"allowed", []string{"open", plain}, 0, true, false},
		{"missing", []string{"open", filepath.Join(dir, "missing")}, 2, true, false},
		{"blocked", []string{"open", secret}, 13, true, false},
		{"proc", []string{"open", "/proc/self/status"}, 0, false, true},
		{"dev-null", []string{"open", "/dev/null"}, 0, true, false},
		{"fifo", []string{"fifo-pair", filepath.Join(dir, "fifo")}, 0, false, true},
		{"tty", []string{"open", "/dev/tty"}, -1, false, true},
		// The second open runs as fsuid 65534, who may not read the file:
		// the supervisor (root) must not open it for them.
		{"setfsuid", []string{"setfsuid-open", "65534", rootOnly}, 13, true, true},
		{"emfile", []string{"emfile", plain}, 24, true, false},
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: the setfsuid case and the tracer's own identity")
	}
	// The helper's runtime makes opens of its own (some in /proc, handed
	// back): each case is measured against a run that does nothing else.
	base := NewStats()
	args, env := helper(t, "exit", "0")
	fastRun(t, pol, 0, base, args, env)
	n0, h0 := base.NotifiedOpens.Load(), base.HandedBack.Load()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args, env := helper(t, c.action...)
			stats := NewStats()
			r := fastRun(t, pol, 0, stats, args, env)
			if c.code >= 0 && r.code != c.code {
				t.Errorf("exit %d, want %d\n%s", r.code, c.code, r.stdout)
			}
			if c.name == "tty" {
				// No controlling terminal in CI (ENXIO), one at a desk: only
				// the route is checked.
				t.Logf("exit %d", r.code)
			}
			n, h := stats.NotifiedOpens.Load(), stats.HandedBack.Load()
			t.Logf("notified %d, handed back %d (a bare run: %d, %d)", n, h, n0, h0)
			if c.notified && n <= n0 {
				t.Error("the supervisor answered none of the action's opens: the fast path is not in use")
			}
			if c.handed && h <= h0 {
				t.Error("none of the action's opens was handed back to ptrace")
			}
			if !c.handed && h != h0 {
				t.Errorf("%d opens handed back, want the bare run's %d", h, h0)
			}
		})
	}
}

// TestFastOpensEvents: a notified open's alert and log carry the caller and
// the result, like a ptrace stop's.
func TestFastOpensEvents(t *testing.T) {
	dir := t.TempDir()
	secret, plain := filepath.Join(dir, "secret"), filepath.Join(dir, "plain")
	for _, p := range []string{secret, plain} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pol := fakePolicy{mayBlock: true, rules: []fakeRule{
		{op: policy.OpFile, match: secret, d: block("secret")},
		{op: policy.OpFile, match: plain, d: audit("plain")},
	}}
	for _, c := range []struct {
		path, typ, result string
	}{{secret, "MatchedPolicy", "Permission denied"}, {plain, "MatchedPolicy", "Passed"}} {
		args, env := helper(t, "open", c.path)
		r := fastRun(t, pol, VisFile, NewStats(), args, env)
		evs := find(r.events, "File", c.path)
		if len(evs) != 1 || evs[0].Alert == nil {
			t.Fatalf("%s: want one alert, got:\n%s", c.path, dump(r.events))
		}
		a := evs[0].Alert
		if a.Type != c.typ || a.Result != c.result || a.Cwd == "" || a.PID == 0 || a.ProcessName == "" {
			t.Errorf("%s: alert %+v; want Type %s, Result %s, a caller and its cwd", c.path, a, c.typ, c.result)
		}
	}
}

// TestFastOpensVforkRegion: dash runs /bin/true through vfork, and the
// child's execve, a relocated call, maps the argument region into the
// address space it shares with dash. The supervisor took all of dash's
// opens before, so dash never mapped it itself: its first relocated call
// (the redirection's O_CREAT open) must find the region there, not fail
// closed. (Under ptrace alone a program's loader opens map it first.)
func TestFastOpensVforkRegion(t *testing.T) {
	if _, err := os.Stat("/usr/bin/dash"); err != nil {
		t.Skip("needs dash, which spawns with vfork")
	}
	out := filepath.Join(t.TempDir(), "out")
	stats := NewStats()
	r := fastRun(t, fakePolicy{mayBlock: true}, 0, stats,
		[]string{"/usr/bin/dash", "-c", "/bin/true; echo ok > " + out}, nil)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stdout)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "ok\n" {
		t.Fatalf("redirection: %q, %v", b, err)
	}
	if n := stats.RelocFailedClosed.Load(); n != 0 {
		t.Errorf("%d calls failed closed for want of the region", n)
	}
}
