//go:build linux

package sys

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// caught reports whether this process has a handler for sig, as the kernel
// says in /proc/self/status (SigCgt).
func caught(t *testing.T, sig unix.Signal) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("SigCgt %q: %v", v, err)
			}
			return mask&(1<<(uint(sig)-1)) != 0
		}
	}
	t.Fatal("no SigCgt in /proc/self/status")
	return false
}

// While QuietChildStops is in force the kernel must see SIGCHLD as not
// caught (so it drops it at generation), children must still be reapable,
// and restore must hand SIGCHLD back to the Go runtime.
func TestQuietChildStops(t *testing.T) {
	if !caught(t, unix.SIGCHLD) {
		t.Fatal("precondition: the Go runtime catches SIGCHLD")
	}
	restore, err := QuietChildStops()
	if err != nil {
		t.Fatal(err)
	}
	if caught(t, unix.SIGCHLD) {
		t.Error("SIGCHLD still caught while quiet")
	}
	// SIG_DFL, not SIG_IGN: an exited child stays a zombie for wait4, so its
	// status (the app's exit code) is not lost.
	cmd := exec.Command("/bin/sh", "-c", "exit 7")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(cmd.Process.Pid, &ws, 0, nil); err != nil {
		t.Fatalf("wait4: %v (auto-reaped?)", err)
	}
	if ws.ExitStatus() != 7 {
		t.Errorf("exit status %d, want 7", ws.ExitStatus())
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if !caught(t, unix.SIGCHLD) {
		t.Error("SIGCHLD handler not restored")
	}
}
