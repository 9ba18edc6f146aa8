package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/tracer"
)

func TestMain(m *testing.M) {
	tracer.MaybeStage2()
	os.Exit(m.Run())
}

func TestDispatchUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"no-command", nil, 2},
		{"only-flags", []string{"--visibility", "none"}, 2},
		{"unknown-flag", []string{"--no-such-flag", "true"}, 2},
		{"install-without-dir", []string{"install"}, 2},
		{"bad-visibility", []string{"--visibility", "bogus", "--", "true"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := dispatch(c.args, strings.NewReader(""), io.Discard, &stderr); got != c.want {
				t.Errorf("dispatch(%q) = %d, want %d; stderr:\n%s", c.args, got, c.want, stderr.String())
			}
		})
	}
}

func TestInstall(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	want := []byte("\x7fELF pretend binary")
	os.WriteFile(src, want, 0o600)
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	if err := install(src, out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, "bluelock"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("installed %q, %v", got, err)
	}
	st, _ := os.Stat(filepath.Join(out, "bluelock"))
	if st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := install(src, filepath.Join(dir, "missing")); err == nil {
		t.Error("install into a missing directory succeeded")
	}
}

func TestMetrics(t *testing.T) {
	s := tracer.NewStats()
	s.Unreadable.Add(2)
	s.Tracees.Add(3)
	s.PinnedOpens.Add(5)
	s.ParkedCalls.Add(7)
	s.SpinHits.Add(11)
	h, err := newMetricsHandler(s)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"bluelock_tracer_unreadable_arguments_total 2",
		"bluelock_tracer_tracees 3",
		`bluelock_tracer_decisions_total{verdict="Block"} 0`,
		"bluelock_tracer_failed_closed_total 0",
		"bluelock_tracer_pinned_opens_total 5",
		"bluelock_tracer_parked_calls_total 7",
		"bluelock_tracer_spin_hits_total 11",
		"bluelock_tracer_spin_misses_total 0",
		"bluelock_tracer_relocated_total 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// staticBinary finds the static tracer: $BLUELOCK_BIN (make test sets it),
// else bin/bluelock from make build.
func staticBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BLUELOCK_BIN"); p != "" {
		return p
	}
	p, _ := filepath.Abs("../../bin/bluelock")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Skip("no static tracer: run `make build` or set BLUELOCK_BIN")
	return ""
}

const blockSecret = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: block-secret
  namespace: default
spec:
  selector:
    matchLabels: {}
  file:
    matchPaths:
    - path: /secret
  action: Block
  severity: 8
  message: secret read
`

// TestStaticInEmptyRoot runs the static binary in a root holding nothing but
// itself, busybox and procfs, and checks that it traces and blocks there.
func TestStaticInEmptyRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chroot, mount proc, ptrace)")
	}
	bin := staticBinary(t)
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox-static not installed")
	}
	if out, _ := exec.Command("file", "-L", busybox).Output(); len(out) > 0 && !bytes.Contains(out, []byte("static")) {
		t.Skipf("%s is not static: %s", busybox, out)
	}
	root := t.TempDir()
	copyFile(t, bin, filepath.Join(root, "bluelock"), 0o755)
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	copyFile(t, busybox, filepath.Join(root, "bin", "busybox"), 0o755)
	for _, applet := range []string{"sh", "cat", "echo"} {
		os.Symlink("busybox", filepath.Join(root, "bin", applet))
	}
	os.WriteFile(filepath.Join(root, "secret"), []byte("s3cret\n"), 0o644)
	os.WriteFile(filepath.Join(root, "ok"), []byte("fine\n"), 0o644)
	os.WriteFile(filepath.Join(root, "policy.yaml"), []byte(blockSecret), 0o644)
	procDir := filepath.Join(root, "proc")
	os.Mkdir(procDir, 0o555)
	if err := unix.Mount("proc", procDir, "proc", 0, ""); err != nil {
		t.Skipf("cannot mount proc: %v", err)
	}
	defer unix.Unmount(procDir, unix.MNT_DETACH)

	cmd := exec.Command("/bluelock", "--policy", "/policy.yaml", "--policy-grpc", "off", "--policy-http", "off",
		"--emit", "stdout", "--visibility", "process,file", "--",
		"sh", "-c", "cat /secret; echo rc=$?; cat /ok")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Env = []string{"PATH=/bin", "POD_NAMESPACE=default"}
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bluelock in empty root: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "rc=1\n") || !strings.Contains(out, "fine\n") || strings.Contains(out, "s3cret") {
		t.Errorf("app output wrong:\n%s\nstderr:\n%s", out, stderr.String())
	}
	var blocked, tracedExec bool
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var ev schema.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("bad event line %q: %v", line, err)
		}
		if a := ev.Alert; a != nil && a.Resource == "/secret" && a.Action == "Block" && a.Result == "Permission denied" &&
			a.PolicyName == "block-secret" && a.Enforcer == schema.EnforcerPtrace {
			blocked = true
		}
		if l := ev.Log; l != nil && l.Operation == "Process" && strings.HasPrefix(l.Resource, "/bin/busybox /ok") {
			tracedExec = true
		}
	}
	if !blocked || !tracedExec {
		t.Errorf("want a block alert for /secret (%v) and a process log for cat /ok (%v):\n%s\nstderr:\n%s", blocked, tracedExec, out, stderr.String())
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}
