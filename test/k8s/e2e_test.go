package k8s

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/bluelock/bluelock/internal/kubetest"
)

const (
	ns       = "bluelock-e2e"
	crdPath  = "../../deploy/eks/crd-kubearmorpolicy.yaml"
	rbacPath = "testdata/rbac.yaml"
	// applyWithin is how fast a policy change must take effect.
	applyWithin = 2 * time.Second
)

func bluelockBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("BLUELOCK_BIN")
	if bin == "" {
		t.Skip("BLUELOCK_BIN is not set (make test sets it to bin/bluelock after make build)")
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Skipf("BLUELOCK_BIN=%s is not a file: %v", bin, err)
	}
	return bin
}

// policy renders a KubeArmorPolicy blocking reads of path for pods labelled app=<app>.
func policy(name, app, path string) string {
	return fmt.Sprintf(`apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: %s
  namespace: %s
spec:
  selector:
    matchLabels:
      app: %s
  file:
    matchPaths:
    - path: %s
  action: Block
`, name, ns, app, path)
}

// invalidPolicy passes the CRD's schema (every field exists and matches its
// pattern) but the engine refuses it: path and execname are mutually exclusive.
func invalidPolicy(name, app, path string) string {
	return policy(name, app, path) + `  process:
    matchPaths:
    - path: /bin/true
      execname: "true"
`
}

// tracee is the bluelock process running a shell loop: each line written to
// its stdin makes it try to read the file named on that line, and it answers
// "OK <file>" or "DENIED <file>".
type tracee struct {
	stdin  io.WriteCloser
	lines  chan string
	stderr *syncBuffer
	mu     sync.Mutex
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const loop = `while read f; do if cat "$f" >/dev/null 2>&1; then echo "OK $f"; else echo "DENIED $f"; fi; done`

func startTracee(t *testing.T, ctx context.Context, bin, kubeconfig, podinfo string) *tracee {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin,
		"--kubeconfig", kubeconfig,
		"--podinfo-dir", podinfo,
		"--policy-grpc", "off", "--policy-http", "off",
		"--policy-wait", "30s", "--policy-fail-closed",
		"--emit", "file:"+filepath.Join(t.TempDir(), "events.json"), "--visibility", "none",
		"--", "/bin/sh", "-c", loop)
	cmd.Env = append(os.Environ(), "POD_NAME=web-0", "POD_NAMESPACE="+ns, "BLUELOCK_PODINFO_DIR="+podinfo)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tr := &tracee{stdin: stdin, lines: make(chan string, 16), stderr: &syncBuffer{}}
	cmd.Stderr = tr.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			tr.lines <- sc.Text()
		}
		close(tr.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("bluelock stderr:\n%s", tr.stderr.String())
		}
	})
	return tr
}

// try asks the tracee to read path and returns "OK" or "DENIED".
func (tr *tracee) try(t *testing.T, ctx context.Context, path string) string {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if _, err := fmt.Fprintln(tr.stdin, path); err != nil {
		t.Fatalf("write to tracee: %v\nstderr:\n%s", err, tr.stderr.String())
	}
	select {
	case line, ok := <-tr.lines:
		if !ok {
			t.Fatalf("tracee exited\nstderr:\n%s", tr.stderr.String())
		}
		verdict, file, _ := strings.Cut(line, " ")
		if file != path {
			t.Fatalf("tracee answered %q for %s", line, path)
		}
		return verdict
	case <-ctx.Done():
		t.Fatalf("tracee did not answer for %s", path)
	}
	return ""
}

// eventually retries try until it returns want, within d. Each try is a
// round trip through the tracee; there is no event for "the tracer swapped
// its rule set".
func (tr *tracee) eventually(t *testing.T, ctx context.Context, path, want string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	for {
		got := tr.try(t, ctx, path)
		if got == want {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("read of %s: %s after %s, want %s", path, got, d, want)
		}
	}
}

func TestPolicyDeliveryEndToEnd(t *testing.T) {
	bin := bluelockBin(t)
	crd, err := os.ReadFile(crdPath)
	if err != nil {
		t.Fatalf("the upstream-compatible CRD: %v", err)
	}
	rbac, err := os.ReadFile(rbacPath)
	if err != nil {
		t.Fatal(err)
	}
	c := kubetest.Start(t)
	c.Apply(t, string(crd))
	c.Apply(t, strings.ReplaceAll(string(rbac), "NS", ns))
	restricted := c.ServiceAccount(t, ns, "bluelock")
	kubeconfig := c.Kubeconfig(t, restricted)

	dir := t.TempDir()
	files := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d"} {
		files[n] = filepath.Join(dir, n+".txt")
		if err := os.WriteFile(files[n], []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	podinfo := filepath.Join(dir, "podinfo")
	if err := os.Mkdir(podinfo, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(podinfo, "labels"), []byte("app=\"web\"\npod-template-hash=\"7d9f\"\n"), 0o644)
	os.WriteFile(filepath.Join(podinfo, "annotations"), []byte("kubearmor-policy=\"enabled\"\n"), 0o644)

	// The policy exists before the tracer starts: the gate must hold the app
	// until it is in force, so the very first read is already blocked.
	c.Apply(t, policy("e2e-block", "web", files["a"]))

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	tr := startTracee(t, ctx, bin, kubeconfig, podinfo)

	t.Run("blocked from the first access", func(t *testing.T) {
		if got := tr.try(t, ctx, files["a"]); got != "DENIED" {
			t.Fatalf("read of the blocked file: %s", got)
		}
		if got := tr.try(t, ctx, files["b"]); got != "OK" {
			t.Fatalf("read of another file: %s", got)
		}
	})
	t.Run("update takes effect within 2s", func(t *testing.T) {
		c.Apply(t, policy("e2e-block", "web", files["b"]))
		took := tr.eventually(t, ctx, files["b"], "DENIED", applyWithin)
		t.Logf("update in force after %s", took)
		tr.eventually(t, ctx, files["a"], "OK", applyWithin)
	})
	t.Run("invalid update is reported and the old version stays", func(t *testing.T) {
		w, err := c.Clientset().CoreV1().Events(ns).Watch(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "e2e-block").String(),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if err := c.DryRun(ctx, invalidPolicy("e2e-block", "web", files["c"])); err != nil {
			t.Fatalf("the invalid policy must pass the CRD schema for this test: %v", err)
		}
		c.Apply(t, invalidPolicy("e2e-block", "web", files["c"]))
		var ev *corev1.Event
		for ev == nil {
			select {
			case e := <-w.ResultChan():
				if x, ok := e.Object.(*corev1.Event); ok && x.Reason == "InvalidPolicy" {
					ev = x
				}
			case <-ctx.Done():
				t.Fatal("no InvalidPolicy Event on the KubeArmorPolicy")
			}
		}
		if ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Message, "mutually exclusive") {
			t.Errorf("event %s %q: want a Warning naming the field error", ev.Type, ev.Message)
		}
		if got := tr.try(t, ctx, files["b"]); got != "DENIED" {
			t.Fatalf("the last good version (block b) is no longer enforced: %s", got)
		}
		if got := tr.try(t, ctx, files["c"]); got != "OK" {
			t.Fatalf("the refused version (block c) is enforced: %s", got)
		}
		if !strings.Contains(tr.stderr.String(), ns+"/e2e-block") {
			t.Errorf("bluelock's log does not name %s/e2e-block", ns)
		}
	})
	t.Run("a policy for other labels has no effect", func(t *testing.T) {
		c.Apply(t, policy("e2e-other", "not-web", files["c"]))
		// A later policy for our labels proves the tracer has processed the
		// one before it (the watch delivers in order).
		c.Apply(t, policy("e2e-marker", "web", files["d"]))
		tr.eventually(t, ctx, files["d"], "DENIED", applyWithin)
		if got := tr.try(t, ctx, files["c"]); got != "OK" {
			t.Fatalf("a policy selecting app=not-web blocked this pod: %s", got)
		}
	})
	t.Run("delete lifts", func(t *testing.T) {
		c.Delete(t, policy("e2e-block", "web", files["b"]))
		took := tr.eventually(t, ctx, files["b"], "OK", applyWithin)
		t.Logf("delete in force after %s", took)
		if got := tr.try(t, ctx, files["d"]); got != "DENIED" {
			t.Fatalf("deleting one policy lifted another: %s", got)
		}
	})
}

// TestGateWithoutRBAC: a tracer whose identity may not read policies must
// refuse to start the app (fail closed, the default), or start it in the
// default posture when told so.
func TestGateWithoutRBAC(t *testing.T) {
	bin := bluelockBin(t)
	crd, err := os.ReadFile(crdPath)
	if err != nil {
		t.Fatal(err)
	}
	c := kubetest.Start(t)
	c.Apply(t, string(crd))
	kubeconfig := c.Kubeconfig(t, c.ServiceAccount(t, ns, "nobody"))
	podinfo := t.TempDir()
	os.WriteFile(filepath.Join(podinfo, "labels"), []byte("app=\"web\"\n"), 0o644)
	os.WriteFile(filepath.Join(podinfo, "annotations"), nil, 0o644)

	cases := []struct {
		name    string
		flags   []string
		wantRun bool
		want    []string
	}{
		{name: "fail closed (default)", want: []string{"kubernetes", "forbidden", "refusing to start the app"}},
		{name: "fail open", flags: []string{"--policy-fail-closed=false"}, wantRun: true, want: []string{"default posture"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "app-ran")
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			args := []string{"--kubeconfig", kubeconfig, "--podinfo-dir", podinfo,
				"--policy-grpc", "off", "--policy-http", "off", "--policy-wait", "2s",
				"--emit", "file:" + filepath.Join(t.TempDir(), "events.json")}
			args = append(append(args, tc.flags...), "--", "/bin/sh", "-c", "touch "+marker)
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), "POD_NAME=web-0", "POD_NAMESPACE="+ns, "BLUELOCK_PODINFO_DIR="+podinfo)
			out, err := cmd.CombinedOutput()
			_, serr := os.Stat(marker)
			ran := serr == nil
			if ran != tc.wantRun || (err == nil) != tc.wantRun {
				t.Fatalf("app ran=%v exit err=%v, want ran=%v\n%s", ran, err, tc.wantRun, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output does not mention %q:\n%s", w, out)
				}
			}
		})
	}
}
