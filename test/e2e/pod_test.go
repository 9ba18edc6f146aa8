package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	appPort         = "8080"
	sidekickPort    = "2801"
	stopTimeoutSecs = 10
)

// group is what a Kubernetes pod or a Fargate task shares: a network namespace (held by a
// pause container), a hostname, and the volume the init container filled with bluelock.
type group struct {
	s        *suite
	name     string
	pause    string
	ip       string
	hostname string
	volume   string
	sink     *sink
	sidekick string
	// sidekickErr is why the sidekick is not serving; alert checks then fail at once.
	sidekickErr error
}

// waitAlert waits for the event match accepts at the webhook sink.
func (g *group) waitAlert(t *testing.T, what string, match func(event) bool) (event, bool) {
	t.Helper()
	if g.sidekickErr != nil {
		t.Errorf("no %s checked: the sidekick is not running: %v", what, g.sidekickErr)
		return event{}, false
	}
	return g.sink.waitEvent(t, 30*time.Second, what, match)
}

// newGroup starts the pause container (hostname = the pod's name, as on Fargate).
func newGroup(t *testing.T, s *suite) *group {
	t.Helper()
	g := &group{s: s, name: s.resName(t, "")}
	g.hostname = hostnameFor(g.name)
	g.pause = g.name + "-pause"
	removeOnCleanup(t, g.pause)
	docker(t, time.Minute, "run", "-d", "--name", g.pause, "--label", s.label,
		"--hostname", g.hostname, "--network", s.network, "--cap-drop", "ALL", s.img.tool, "pause")
	g.ip = inspect(t, g.pause, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
	if net.ParseIP(g.ip) == nil {
		t.Fatalf("pause container %s has no IP: %q", g.pause, g.ip)
	}
	return g
}

// hostnameFor keeps the name a valid hostname (at most 63 characters).
func hostnameFor(name string) string {
	h := strings.ReplaceAll(name, "_", "-")
	h = strings.ReplaceAll(h, ".", "-")
	if len(h) > 63 {
		h = h[len(h)-63:]
	}
	return strings.Trim(h, "-")
}

// emptyDir creates the pod's bluelock volume with an emptyDir's permissions (0777): the
// injected init container runs as 65532, not root.
func (g *group) emptyDir(t *testing.T) {
	t.Helper()
	g.volume = g.name + "-kubearmor"
	docker(t, time.Minute, "volume", "create", "--label", g.s.label, g.volume)
	t.Cleanup(func() { removeVolume(g.volume) })
	docker(t, time.Minute, "run", "--rm", "--label", g.s.label, "--network", "none",
		"-v", g.volume+":/v", g.s.img.app, "chmod", "0777", "/v")
}

// runInit runs the init container to completion (an initContainer) and requires exit 0.
// Its security context is the one `bluelock inject` writes: uid 65532, all capabilities
// dropped, read-only root, Docker's default seccomp profile.
func (g *group) runInit(t *testing.T) {
	t.Helper()
	name := g.name + "-init"
	removeOnCleanup(t, name)
	run := []string{"run", "--name", name, "--label", g.s.label, "--network", "none",
		"--user", "65532:65532", "--cap-drop", "ALL", "--read-only",
		"--security-opt", "no-new-privileges",
		"-v", g.volume + ":/kubearmor", g.s.img.init}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := dockerOut(ctx, run...)
	code := inspect(t, name, "{{.State.ExitCode}}")
	if err != nil || code != "0" {
		t.Fatalf("init container %s: exit %s (want 0, dependsOn COMPLETE): %v\n%s", name, code, err, out)
	}
}

// startSidekick starts the sidekick in the group's network namespace, posting to a new
// webhook sink, and waits until it listens on 2801.
func (g *group) startSidekick(t *testing.T, env ...string) {
	t.Helper()
	g.sink = newSink(t, g.s.gateway)
	g.sidekick = g.name + "-sidekick"
	removeOnCleanup(t, g.sidekick)
	run := []string{"run", "-d", "--name", g.sidekick, "--label", g.s.label,
		"--network", "container:" + g.pause, "--cap-drop", "ALL", "--read-only",
		"--security-opt", "no-new-privileges",
		"-e", "WEBHOOK_ADDRESS=" + g.sink.URL, "-e", "STDOUT_ENABLED=true"}
	for _, e := range env {
		run = append(run, "-e", e)
	}
	run = append(run, g.s.img.sidekick)
	docker(t, time.Minute, run...)
	// A sidekick that does not come up fails the test but not the tracer scenarios: the
	// app runs without it (the emitter drops what it cannot deliver), and the alert checks
	// then fail on their own with "no ... alert".
	if err := pollTCP(net.JoinHostPort(g.ip, sidekickPort), g.sidekick, 30*time.Second); err != nil {
		g.sidekickErr = err
		t.Errorf("sidekick: %v", err)
	}
}

// appOpts is one app container of the group.
type appOpts struct {
	suffix   string
	user     string // "" = root (the image's default), else "uid:gid"
	ptrace   bool   // add SYS_PTRACE, as an ECS task definition may
	policies string // host directory bind-mounted read-only at /policies ("" = none)
	podinfo  string // host directory bind-mounted read-only at /etc/podinfo ("" = none)
	flags    []string
	command  []string
	env      []string
}

func capAdds(caps []string) []string {
	var out []string
	for _, c := range caps {
		out = append(out, "--cap-add", c)
	}
	return out
}

// startApp starts `/kubearmor/bluelock <flags> -- <command>` in the group, with Fargate's
// capabilities and Docker's default seccomp profile, and returns the container's name.
func (g *group) startApp(t *testing.T, o appOpts) string {
	t.Helper()
	name := g.name + "-" + o.suffix
	removeOnCleanup(t, name)
	run := []string{"run", "-d", "--name", name, "--label", g.s.label,
		"--network", "container:" + g.pause,
		"--stop-timeout", strconv.Itoa(stopTimeoutSecs),
		"--cap-drop", "ALL"}
	caps := fargateCaps
	if o.ptrace {
		caps = append(append([]string(nil), caps...), "SYS_PTRACE")
	}
	run = append(run, capAdds(caps)...)
	if o.user != "" {
		run = append(run, "--user", o.user)
	}
	run = append(run, "-v", g.volume+":/kubearmor:ro")
	if o.policies != "" {
		run = append(run, "-v", o.policies+":/policies:ro")
	}
	if o.podinfo != "" {
		run = append(run, "-v", o.podinfo+":/etc/podinfo:ro")
	}
	run = append(run, "-e", "SIDEKICK_URL=http://localhost:"+sidekickPort+"/")
	for _, e := range o.env {
		run = append(run, "-e", e)
	}
	run = append(run, "--entrypoint", "/kubearmor/bluelock", g.s.img.app)
	run = append(run, o.flags...)
	run = append(run, "--")
	run = append(run, o.command...)
	docker(t, time.Minute, run...)
	return name
}

// waitServing waits until the app answers ping with pong.
func (g *group) waitServing(t *testing.T, app string, timeout time.Duration) {
	t.Helper()
	addr := net.JoinHostPort(g.ip, appPort)
	waitTCP(t, addr, app, timeout)
	out, err := request(addr, "ping")
	if err != nil || strings.TrimSpace(out) != "pong" {
		t.Fatalf("app %s: ping = %q, %v; want pong", app, out, err)
	}
}

func (g *group) request(t *testing.T, line string) string {
	t.Helper()
	out, err := request(net.JoinHostPort(g.ip, appPort), line)
	if err != nil {
		t.Fatalf("request %q: %v (got %q)", line, err, out)
	}
	return out
}

// variant is one way Fargate may run the app.
type variant struct {
	name   string
	user   string
	ptrace bool
}

var variants = []variant{
	{name: "root", user: ""},
	{name: "root+SYS_PTRACE", user: "", ptrace: true},
	{name: "uid1000", user: "1000:1000"},
	{name: "uid1000+SYS_PTRACE", user: "1000:1000", ptrace: true},
}

const (
	podNamespace  = "e2e"
	podContainer  = "app"
	podLabels     = "app=e2e,team=security" // KubeArmor's Labels field for podinfo/labels
	podLabelsFile = "app=\"e2e\"\nteam=\"security\"\n"
)

// podEnv is the app container's environment as `bluelock inject` writes it for a pod
// (POD_NAME and POD_NAMESPACE come from the downward API there).
func (g *group) podEnv() []string {
	return []string{"POD_NAME=" + g.hostname, "POD_NAMESPACE=" + podNamespace,
		"CONTAINER_NAME=" + podContainer, "CONTAINER_IMAGE=" + g.s.img.app}
}

// podInfoDir is the downward API volume: the pod's labels and annotations files.
func podInfoDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "labels"), []byte(podLabelsFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "annotations"), []byte("kubearmor-policy=\"enabled\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The app may run as uid 1000: the files must be readable by it, as the kubelet makes them.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPod is the EKS-like set-up, as `bluelock inject` writes it: an initContainer copying
// bluelock into an emptyDir, the sidekick sharing the pod's network, the app wrapped by
// /kubearmor/bluelock with the downward API (env and /etc/podinfo), policies from files
// (a ConfigMap volume in Kubernetes, a read-only bind mount here) selecting the pod by
// namespace and labels.
func TestPod(t *testing.T) {
	s := requireSuite(t)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			g := newGroup(t, s)
			g.emptyDir(t)
			g.runInit(t)
			g.startSidekick(t)
			base := appOpts{user: v.user, ptrace: v.ptrace, policies: s.testdata + "/policies",
				podinfo: podInfoDir(t), flags: []string{"--policy", "/policies"}, env: g.podEnv(),
				command: []string{"/app/app.sh"}}

			o := base
			o.suffix = "app"
			app := g.startApp(t, o)
			g.waitServing(t, app, 60*time.Second)
			want := expectedContext(t, g, app)
			want.pod = true
			want.uid = uidOf(v.user)
			t.Run("serves", func(t *testing.T) { checkServes(t, g, v, want) })
			t.Run("blocked-file-read", func(t *testing.T) { checkBlockedRead(t, g, want) })
			t.Run("blocked-exec", func(t *testing.T) { checkBlockedExec(t, g, want) })
			t.Run("pid1", func(t *testing.T) { checkPID1(t, g) })
			t.Run("docker-stop", func(t *testing.T) { checkStop(t, app) })

			t.Run("docker-kill", func(t *testing.T) {
				o := base
				o.suffix = "app-kill"
				app := g.startApp(t, o)
				g.waitServing(t, app, 60*time.Second)
				checkKill(t, app)
			})
			t.Run("exit-code", func(t *testing.T) {
				o := base
				o.suffix = "app-exit3"
				o.command = []string{"/bin/sh", "-c", "exit 3"}
				app := g.startApp(t, o)
				if code := waitExit(t, app, 60*time.Second); code != 3 {
					t.Errorf("app exits 3 under bluelock: container exit code %d, want 3", code)
				}
			})
		})
	}
}

// uidOf is the uid of a docker --user value ("" is the image's root).
func uidOf(user string) string {
	if user == "" {
		return "0"
	}
	return strings.SplitN(user, ":", 2)[0]
}

// wantContext is what every alert of an app container must carry.
type wantContext struct {
	containerID string
	hostname    string
	pod         bool   // the pod's identity (downward API) is expected too
	uid         string // the app's uid: the alert's UID
	image       string // the app's image (CONTAINER_IMAGE)
}

func expectedContext(t *testing.T, g *group, app string) wantContext {
	t.Helper()
	w := wantContext{
		containerID: inspect(t, app, "{{.Id}}"),
		hostname:    inspect(t, app, "{{.Config.Hostname}}"),
		image:       g.s.img.app,
	}
	if w.hostname != g.hostname {
		t.Fatalf("harness: app %s has hostname %q, want the pod's %q", app, w.hostname, g.hostname)
	}
	return w
}

func checkServes(t *testing.T, g *group, v variant, want wantContext) {
	if out := strings.TrimSpace(g.request(t, "ping")); out != "pong" {
		t.Errorf("ping = %q, want pong", out)
	}
	// An allowed read works: the tracer does not simply refuse everything.
	if out := g.request(t, "public"); !strings.Contains(out, "public data") || !strings.Contains(out, "rc=0") {
		t.Errorf("allowed read of /app/public.txt = %q, want its content and rc=0", out)
	}
	wantUID := uidOf(v.user)
	if out := strings.TrimSpace(g.request(t, "id")); out != wantUID {
		t.Errorf("app runs as uid %q, want %q (allowed exec of /usr/bin/id)", out, wantUID)
	}
	// Visibility (default process,file,network): the allowed exec is logged, not alerted.
	ev, ok := g.waitAlert(t, "ContainerLog for the exec of /usr/bin/id", func(e event) bool {
		return e.str("Operation") == "Process" && e.str("ProcessName") == "/usr/bin/id"
	})
	if !ok {
		return
	}
	for k, v := range map[string]string{"Type": "ContainerLog", "Result": "Passed", "Source": "/usr/bin/bash",
		"ContainerID": want.containerID, "PodName": want.hostname} {
		if got := ev.str(k); got != v {
			t.Errorf("log %s = %q, want %q; log: %s", k, got, v, ev.Raw)
		}
	}
	if _, ok := ev.Fields["PolicyName"]; ok {
		t.Errorf("a log carries PolicyName: %s", ev.Raw)
	}
}

func checkBlockedRead(t *testing.T, g *group, want wantContext) {
	out := g.request(t, "secret")
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("secret read was NOT blocked: the app got %q", out)
	}
	if !strings.Contains(out, "Permission denied") || !strings.Contains(out, "rc=1") {
		t.Errorf("cat /secret/api-token = %q, want 'Permission denied' and rc=1", out)
	}
	ev, ok := g.waitAlert(t, "File alert for /secret/api-token", func(e event) bool {
		return e.str("Operation") == "File" && e.str("Resource") == "/secret/api-token" && e.str("Type") != "ContainerLog"
	})
	if !ok {
		return
	}
	checkAlert(t, ev, want, map[string]string{
		"Type":              "MatchedPolicy",
		"PolicyName":        "e2e-block-secret-read",
		"Severity":          "7",
		"Tags":              "e2e,secrets",
		"Message":           "e2e: secret read blocked",
		"Action":            "Block",
		"Result":            "Permission denied",
		"Operation":         "File",
		"Resource":          "/secret/api-token",
		"ProcessName":       "/usr/bin/cat",
		"ParentProcessName": "/usr/bin/bash",
		"ATags":             `["e2e","secrets"]`,
		"Data":              "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY",
	})
	// Source is the process's exe path, or its command line starting with it (KubeArmor §3).
	if src := ev.str("Source"); src != "/usr/bin/cat" && !strings.HasPrefix(src, "/usr/bin/cat ") {
		t.Errorf("alert Source = %q, want /usr/bin/cat[ args]", src)
	}
}

func checkBlockedExec(t *testing.T, g *group, want wantContext) {
	out := g.request(t, "exec-apt")
	if strings.Contains(out, "Usage:") || strings.Contains(out, "apt 2.") {
		t.Errorf("exec of /usr/bin/apt was NOT blocked: the app got %q", out)
	}
	if !strings.Contains(out, "Permission denied") || !strings.Contains(out, "rc=126") {
		t.Errorf("/usr/bin/apt = %q, want 'Permission denied' and rc=126", out)
	}
	ev, ok := g.waitAlert(t, "Process alert for /usr/bin/apt", func(e event) bool {
		return e.str("Operation") == "Process" && strings.HasPrefix(e.str("Resource"), "/usr/bin/apt") && e.str("Type") != "ContainerLog"
	})
	if !ok {
		return
	}
	checkAlert(t, ev, want, map[string]string{
		"Type":        "MatchedPolicy",
		"PolicyName":  "e2e-block-pkg-mngr-exec",
		"Severity":    "5",
		"Tags":        "e2e,process",
		"Message":     "e2e: package manager exec blocked",
		"Action":      "Block",
		"Result":      "Permission denied",
		"Operation":   "Process",
		"Resource":    "/usr/bin/apt",
		"ProcessName": "/usr/bin/apt",
		// For exec, KubeArmor's Source is the exe of the process calling execve.
		"Source":            "/usr/bin/bash",
		"ParentProcessName": "/usr/bin/bash",
		"ATags":             `["e2e","process"]`,
		"Data":              "syscall=SYS_EXECVE",
	})
}

// checkAlert compares the alert with the expected fields and the container context.
func checkAlert(t *testing.T, ev event, want wantContext, fields map[string]string) {
	t.Helper()
	for k, v := range fields {
		if got := ev.str(k); got != v {
			t.Errorf("alert %s = %q, want %q", k, got, v)
		}
	}
	if got := ev.str("ContainerID"); got != want.containerID {
		t.Errorf("alert ContainerID = %q, want the container's ID %q", got, want.containerID)
	}
	if got := ev.str("HostName"); got != want.hostname {
		t.Errorf("alert HostName = %q, want %q", got, want.hostname)
	}
	if want.pod {
		for k, v := range map[string]string{
			"PodName":        want.hostname,
			"NamespaceName":  podNamespace,
			"ContainerName":  podContainer,
			"ContainerImage": want.image,
			"Labels":         podLabels,
		} {
			if got := ev.str(k); got != v {
				t.Errorf("alert %s = %q, want %q (downward API)", k, got, v)
			}
		}
	}
	if got := ev.str("UID"); want.uid != "" && got != want.uid {
		t.Errorf("alert UID = %s, want %s", got, want.uid)
	}
	if ev.num("PID") <= 0 || ev.num("Timestamp") <= 0 {
		t.Errorf("alert PID = %d, Timestamp = %d; want both > 0", ev.num("PID"), ev.num("Timestamp"))
	}
	for _, k := range []string{"PPID", "UID"} {
		if _, ok := ev.Fields[k]; !ok {
			t.Errorf("alert has no %s key (KubeArmor always writes PPID and UID)", k)
		}
	}
	t.Logf("alert: %s", ev.Raw)
}

// checkPID1: inside the container bluelock is PID 1 and the app is its descendant.
func checkPID1(t *testing.T, g *group) {
	out := g.request(t, "ps")
	var pid1 string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "1" {
			pid1 = f[1]
		}
	}
	if pid1 != "bluelock" {
		t.Errorf("PID 1 in the container is %q, want bluelock; ps:\n%s", pid1, out)
	}
	for _, p := range []string{"app.sh", "socat"} {
		if !strings.Contains(out, p) {
			t.Errorf("ps has no %s:\n%s", p, out)
		}
	}
}

// topPIDs is `docker top`: the host PIDs and commands of the container's processes.
func topPIDs(t *testing.T, name string) ([]int, string) {
	t.Helper()
	out := docker(t, 30*time.Second, "top", name, "-eo", "pid,comm")
	var pids []int
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 1 {
			continue
		}
		if p, err := strconv.Atoi(f[0]); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, out
}

// checkStop: docker stop sends SIGTERM to PID 1 (bluelock), which forwards it; the app
// traps it and exits 42 at once, and the container's exit code is 42.
func checkStop(t *testing.T, app string) {
	pids, top := topPIDs(t, app)
	if len(pids) < 3 {
		t.Fatalf("docker top %s: want bluelock, app.sh and socat, got:\n%s", app, top)
	}
	start := time.Now()
	docker(t, time.Duration(stopTimeoutSecs+30)*time.Second, "stop", app)
	took := time.Since(start)
	code := inspect(t, app, "{{.State.ExitCode}}")
	if code != "42" {
		t.Errorf("after docker stop: exit code %s, want 42 (the app's own code on SIGTERM; 137 means "+
			"SIGTERM never reached the app and Docker killed it after %ds, 143 means it died of the signal)", code, stopTimeoutSecs)
	}
	if took >= stopTimeoutSecs*time.Second {
		t.Errorf("docker stop took %v: the app did not exit within the stop timeout", took)
	}
	logs, _ := dockerStdin(30*time.Second, nil, "logs", app)
	if !strings.Contains(logs, "SIGTERM received") {
		t.Errorf("app did not log its SIGTERM handler; logs:\n%s", logs)
	}
	if alive := hostPIDsAlive(pids); len(alive) > 0 {
		t.Errorf("after docker stop, processes of %s still alive on the host: %v", app, alive)
	}
}

// checkKill: docker kill (SIGKILL to bluelock) leaves nothing behind.
func checkKill(t *testing.T, app string) {
	pids, top := topPIDs(t, app)
	if len(pids) < 3 {
		t.Fatalf("docker top %s: want bluelock, app.sh and socat, got:\n%s", app, top)
	}
	cg := cgroupProcs(inspect(t, app, "{{.Id}}"))
	if cg == "" {
		t.Logf("no pids cgroup found for %s; checking host PIDs only", app)
	}
	if cg != "" {
		// Every process docker saw and that still lives is in the container's
		// cgroup (docker top and this read are not one instant: a short-lived
		// child, such as socat's for the serving probe, may be gone by now).
		b, _ := os.ReadFile(cg)
		in := map[string]bool{}
		for _, f := range strings.Fields(string(b)) {
			in[f] = true
		}
		for _, p := range hostPIDsAlive(pids) {
			if !in[strconv.Itoa(p)] {
				t.Errorf("process %d of %s (docker top) is alive outside its cgroup %s:\n%s", p, app, cg, top)
			}
		}
	}
	docker(t, 30*time.Second, "kill", app)
	if code := waitExit(t, app, 30*time.Second); code != 137 {
		t.Errorf("after docker kill: exit code %d, want 137 (SIGKILL)", code)
	}
	if alive := hostPIDsAlive(pids); len(alive) > 0 {
		t.Errorf("after docker kill, processes of %s still alive on the host: %v (docker top before:\n%s)", app, alive, top)
	}
	if n, ok := countLines(cg); ok && n > 0 {
		t.Errorf("after docker kill, cgroup %s still has %d processes", cg, n)
	}
	running := docker(t, 30*time.Second, "ps", "-q", "--filter", "name=^"+app+"$", "--filter", "status=running")
	if running != "" {
		t.Errorf("docker ps still lists %s as running", app)
	}
}

// cgroupProcs is the container's pids-cgroup process list (cgroup v1, cgroupfs driver; the
// cgroup v2 path as a fallback).
func cgroupProcs(id string) string {
	for _, p := range []string{
		"/sys/fs/cgroup/pids/docker/" + id + "/cgroup.procs",
		"/sys/fs/cgroup/system.slice/docker-" + id + ".scope/cgroup.procs",
	} {
		if _, err := os.ReadFile(p); err == nil {
			return p
		}
	}
	return ""
}

// countLines counts the lines of a cgroup.procs file; a removed cgroup counts as 0.
func countLines(path string) (int, bool) {
	if path == "" {
		return 0, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, true
	}
	return len(strings.Fields(string(b))), true
}
