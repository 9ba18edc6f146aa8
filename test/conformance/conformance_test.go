package conformance_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a network client (see helper).
const helperEnv = "CONFORMANCE_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

// helper opens one socket of the named kind and reports the errno, so the
// suite can trigger network rules without arping, ping or curl installed.
func helper(mode string) int {
	var domain, typ, proto int
	switch mode {
	case "raw": // KubeArmor "raw" (arping's class): SOCK_RAW, IPPROTO_RAW
		domain, typ, proto = syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW
	case "icmp": // ping as root
		domain, typ, proto = syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_ICMP
	case "tcp":
		domain, typ, proto = syscall.AF_INET, syscall.SOCK_STREAM, 0
	case "udp":
		domain, typ, proto = syscall.AF_INET, syscall.SOCK_DGRAM, 0
	default:
		fmt.Fprintf(os.Stderr, "helper: unknown mode %q\n", mode)
		return 2
	}
	fd, err := syscall.Socket(domain, typ, proto)
	if err != nil {
		fmt.Fprintf(os.Stderr, "socket %s: %v\n", mode, err)
		return 1
	}
	syscall.Close(fd)
	fmt.Printf("socket %s: ok\n", mode)
	return 0
}

// containerName is the container identity every run gets (CONTAINER_NAME);
// the policies select it through kubearmor.io/container.name.
const containerName = "conformance"

// env is one fixture tree and the binary under test.
type env struct {
	bin  string // bluelock
	root string // R: the fixture tree
	self string // this test binary (the network helper)
}

// setup skips unless the real binary is there and we are root, then builds
// the fixture tree.
func setup(t *testing.T) *env {
	t.Helper()
	bin := os.Getenv("BLUELOCK_BIN")
	if bin == "" {
		t.Skip("BLUELOCK_BIN is not set: build with `make build` and run `BLUELOCK_BIN=$PWD/bin/bluelock go test ./test/conformance/` (make test sets it)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("BLUELOCK_BIN=%s: %v (run `make build` first)", bin, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("the conformance suite runs as root (ptrace of other users, chown of fixtures, raw sockets)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{bin: bin, root: t.TempDir(), self: self}
	// uid 1000 must reach R/home/user1 for the ownerOnly case.
	for _, d := range []string{filepath.Dir(e.root), e.root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Copies, so that executable paths are exact (no /bin -> /usr/bin link)
	// and fromSource rules can name them.
	for _, name := range []string{"dash", "cat", "head", "sleep", "ls", "unlink", "whoami"} {
		e.copyExe(t, name, filepath.Join("bin", name))
	}
	e.copyExe(t, "true", "sbin/route")
	e.copyExe(t, "true", "sbin/sub/tool")
	e.copyExe(t, "whoami", "usr/bin/whoami")
	e.copyExe(t, "true", "home/user1/hello")
	if err := os.Chown(e.path("home/user1/hello"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	e.copyExe(t, self, "bin/other-client") // a second network client
	for p, content := range map[string]string{
		"credentials/password":      "s3cr3t\n",
		"credentials/keys/priv.key": "KEY\n",
		"secret.txt":                "secret\n",
		"etc/shadow":                "root:*:\n",
		"etc/gshadow":               "root:*:\n",
		"etc/hostname":              "conformance\n",
		"run/secrets/kubernetes.io/serviceaccount/token": "token\n",
	} {
		e.write(t, p, content)
	}
	return e
}

func (e *env) path(rel string) string { return filepath.Join(e.root, rel) }

func (e *env) write(t *testing.T, rel, content string) {
	t.Helper()
	p := e.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyExe copies the executable name (looked up in PATH, symlinks resolved)
// to R/rel.
func (e *env) copyExe(t *testing.T, name, rel string) {
	t.Helper()
	src := name
	if !filepath.IsAbs(src) {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s not installed: %v", name, err)
		}
		src = p
	}
	src, err := filepath.EvalSymlinks(src)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := e.path(rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// result is what one run under bluelock produced.
type result struct {
	code           int
	stdout, stderr string
	events         []map[string]any
}

func (r result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "exit %d\nstdout: %s\nstderr: %s\nevents (%d):", r.code, r.stdout, r.stderr, len(r.events))
	for _, ev := range r.events {
		line, _ := json.Marshal(ev)
		b.WriteString("\n  ")
		b.Write(line)
	}
	return b.String()
}

// alerts returns the MatchedPolicy events.
func (r result) alerts() []map[string]any {
	var out []map[string]any
	for _, ev := range r.events {
		if ev["Type"] == "MatchedPolicy" {
			out = append(out, ev)
		}
	}
	return out
}

// run executes argv under bluelock with the given policy ("{R}" and
// "{SELF}" expanded), flags and extra environment for the app.
func (e *env) run(t *testing.T, policy string, flags, extraEnv []string, argv ...string) result {
	t.Helper()
	dir := t.TempDir()
	polFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(polFile, []byte(e.expand(policy)), 0o644); err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(dir, "events.jsonl")
	args := append([]string{"--policy", polFile, "--emit", "file:" + events, "--visibility", "none"}, flags...)
	args = append(args, "--")
	for _, a := range argv {
		args = append(args, e.expand(a))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = append(e.environ(), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("bluelock did not finish in time: %v\n%s", args, r)
	}
	r.events = readEvents(t, events)
	return r
}

func (e *env) expand(s string) string {
	s = strings.ReplaceAll(s, "{R}", e.root)
	return strings.ReplaceAll(s, "{SELF}", e.self)
}

// environ is the environment of every run: ours, minus anything that would
// send events elsewhere or change the container identity, plus the identity.
func (e *env) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "SIDEKICK_URL", k == "POD_NAME", k == "POD_NAMESPACE", k == "CONTAINER_NAME",
			k == "ECS_CONTAINER_METADATA_URI_V4", k == helperEnv, strings.HasPrefix(k, "BLUELOCK_"), k == "LANG", strings.HasPrefix(k, "LC_"):
			continue
		}
		out = append(out, kv)
	}
	return append(out, "CONTAINER_NAME="+containerName, "LANG=C", "BLUELOCK_PODINFO_DIR="+filepath.Join(e.root, "no-podinfo"),
		// Policies come from the file only: no listeners, so runs of this
		// suite and of other packages' tests cannot collide on the
		// PolicyService/HTTP ports (env, not flags: unknown variables are
		// harmless if the delivery flags change).
		"BLUELOCK_POLICY_GRPC=off", "BLUELOCK_POLICY_HTTP=off", "BLUELOCK_POLICY_K8S=false")
}

func readEvents(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("event is not JSON: %v: %s", err, line)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return out
}
