package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// images are the tags hack/e2e.sh built for this run: bluelock-init:<tag> and so on, with
// tag BLUELOCK_E2E_TAG (e2e-<run id> in a full run, so concurrent runs do not share tags;
// "e2e" after `hack/e2e.sh images`).
type images struct {
	init, sidekick, app, tool string
}

func imagesFor(tag string) images {
	if tag == "" {
		tag = "e2e"
	}
	return images{
		init:     "bluelock-init:" + tag,
		sidekick: "bluelock-sidekick:" + tag,
		app:      "bluelock-app:" + tag,
		tool:     "bluelock-e2etool:" + tag,
	}
}

// fargateCaps are the capabilities a Fargate container gets by default (ECS and EKS alike);
// ECS lets a task add SYS_PTRACE and nothing else, EKS can only drop.
var fargateCaps = []string{
	"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
	"NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP",
}

// suite is the per-run state: the run's label, its Docker network and where things are.
type suite struct {
	runID    string
	label    string // label=value put on every container, volume and network of the run
	network  string
	gateway  string // the network's gateway: the host, as containers see it
	testdata string
	repo     string
	img      images
	// securityOptions is `docker info`'s SecurityOptions: the default seccomp profile must
	// be on, or the suite would prove nothing about it.
	securityOptions string
}

var theSuite *suite // set once by TestMain, read-only afterwards

func TestMain(m *testing.M) {
	code, err := runMain(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func runMain(m *testing.M) (int, error) {
	if os.Getenv("BLUELOCK_E2E") != "1" {
		// Plain `go test ./...`: the images are not built. Tests skip with the reason.
		return m.Run(), nil
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		return m.Run(), nil // requireSuite skips with the reason
	}
	s, err := newSuite()
	if err != nil {
		return 1, err
	}
	theSuite = s
	defer s.close()
	return m.Run(), nil
}

func newSuite() (*suite, error) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	s := &suite{
		runID:    os.Getenv("BLUELOCK_E2E_RUN"),
		testdata: filepath.Join(dir, "testdata"),
		repo:     filepath.Join(dir, "..", ".."),
	}
	if s.runID == "" {
		s.runID = randID()
	}
	s.label = "bluelock-e2e.run=" + s.runID
	if opts, err := dockerOut(context.Background(), "info", "-f", "{{json .SecurityOptions}}"); err == nil {
		s.securityOptions = opts
	}
	s.img = imagesFor(os.Getenv("BLUELOCK_E2E_TAG"))
	for _, img := range []string{s.img.init, s.img.sidekick, s.img.app, s.img.tool} {
		if _, err := dockerOut(context.Background(), "image", "inspect", "-f", "{{.Id}}", img); err != nil {
			return nil, fmt.Errorf("image %s missing: run hack/e2e.sh (make e2e), which builds it: %w", img, err)
		}
	}
	s.network = "bluelock-e2e-" + s.runID
	ctx := context.Background()
	if _, err := dockerOut(ctx, "network", "create", "--label", s.label, s.network); err != nil {
		return nil, err
	}
	gw, err := dockerOut(ctx, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", s.network)
	if err != nil || net.ParseIP(gw) == nil {
		s.close()
		return nil, fmt.Errorf("gateway of %s: %q %v", s.network, gw, err)
	}
	s.gateway = gw
	return s, nil
}

// close removes whatever the run left (tests clean up after themselves; this catches what
// a crashed test could not). hack/e2e.sh does the same by label on exit.
func (s *suite) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ids, _ := dockerOut(ctx, "ps", "-aq", "--filter", "label="+s.label); ids != "" {
		_, _ = dockerOut(ctx, append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...)
	}
	if vols, _ := dockerOut(ctx, "volume", "ls", "-q", "--filter", "label="+s.label); vols != "" {
		_, _ = dockerOut(ctx, append([]string{"volume", "rm", "-f"}, strings.Fields(vols)...)...)
	}
	_, _ = dockerOut(ctx, "network", "rm", s.network)
}

// requireSuite skips unless hack/e2e.sh prepared the run.
func requireSuite(t *testing.T) *suite {
	t.Helper()
	if os.Getenv("BLUELOCK_E2E") != "1" {
		t.Skip("Docker e2e: run `make e2e` (hack/e2e.sh builds the images and sets BLUELOCK_E2E=1)")
	}
	if theSuite == nil {
		t.Skip("Docker e2e: Docker is not available (docker info failed)")
	}
	return theSuite
}

func randID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// resName is a Docker-safe, run-unique name for something a test creates.
func (s *suite) resName(t *testing.T, what string) string {
	n := strings.ToLower(unsafeName.ReplaceAllString(t.Name(), "-"))
	if len(n) > 40 {
		n = n[len(n)-40:]
	}
	return strings.Trim(fmt.Sprintf("ble2e-%s-%s-%s", s.runID, n, what), "-")
}

// dockerOut runs the docker CLI and returns its trimmed stdout; the error carries stderr.
func dockerOut(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// docker runs the docker CLI with a deadline and fails the test on error.
func docker(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := dockerOut(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dockerStdin is docker with stdin; it returns stdout+stderr and the exit error.
func dockerStdin(timeout time.Duration, stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// removeOnCleanup removes the container at the end of the test, after printing its logs
// and state if the test failed.
func removeOnCleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if t.Failed() {
			state, _ := dockerOut(ctx, "inspect", "-f", "status={{.State.Status}} exit={{.State.ExitCode}} oom={{.State.OOMKilled}} error={{.State.Error}}", name)
			logs, _ := exec.CommandContext(ctx, "docker", "logs", "--tail", "40", name).CombinedOutput()
			t.Logf("container %s: %s\n--- logs ---\n%s", name, state, logs)
		}
		_, _ = dockerOut(ctx, "rm", "-f", "-v", name)
	})
}

func inspect(t *testing.T, name, format string) string {
	t.Helper()
	return docker(t, 30*time.Second, "inspect", "-f", format, name)
}

// waitExit is `docker wait` with a deadline: the container's exit code.
func waitExit(t *testing.T, name string, timeout time.Duration) int {
	t.Helper()
	out := docker(t, timeout, "wait", name)
	code, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("docker wait %s: %q", name, out)
	}
	return code
}

// waitTCP polls addr until it accepts a connection, the container dies, or the deadline.
// The container being gone is checked on every turn so that a crash fails fast.
func waitTCP(t *testing.T, addr, container string, timeout time.Duration) {
	t.Helper()
	if err := pollTCP(addr, container, timeout); err != nil {
		t.Fatal(err)
	}
}

func pollTCP(addr, container string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if st, _ := dockerOut(context.Background(), "inspect", "-f", "{{.State.Status}}", container); st != "running" {
			return fmt.Errorf("%s is %q before %s accepted a connection", container, st, addr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no listener within %v: %v", addr, timeout, err)
		}
		// A port in another network namespace cannot be waited on; poll it, bounded by the
		// deadline above.
		time.Sleep(100 * time.Millisecond)
	}
}

// request sends one request line to the app and returns its whole answer.
func request(addr, line string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(c)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return buf.String(), err
	}
	return buf.String(), nil
}

// hostPIDsAlive returns those of pids that still exist on the host.
func hostPIDsAlive(pids []int) []int {
	var alive []int
	for _, p := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
			alive = append(alive, p)
		}
	}
	return alive
}

func removeVolume(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = dockerOut(ctx, "volume", "rm", "-f", name)
}

// TestDockerSeccompProfile: the containers run under Docker's default seccomp profile (no
// test passes seccomp=unconfined), so the daemon must have it on.
func TestDockerSeccompProfile(t *testing.T) {
	s := requireSuite(t)
	if !strings.Contains(s.securityOptions, "name=seccomp,profile=default") {
		t.Errorf("docker info SecurityOptions = %s: the default seccomp profile is not active; "+
			"the e2e suite is meant to run under it", s.securityOptions)
	}
}
