package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// An ECS task definition, the part a Fargate task's containers are made of.
type taskDef struct {
	Family               string         `json:"family"`
	NetworkMode          string         `json:"networkMode"`
	ContainerDefinitions []containerDef `json:"containerDefinitions"`
	Volumes              []struct {
		Name string `json:"name"`
	} `json:"volumes"`
}

type containerDef struct {
	Name                   string   `json:"name"`
	Image                  string   `json:"image"`
	Essential              *bool    `json:"essential"`
	EntryPoint             []string `json:"entryPoint"`
	Command                []string `json:"command"`
	User                   string   `json:"user"`
	ReadonlyRootFilesystem bool     `json:"readonlyRootFilesystem"`
	StopTimeout            int      `json:"stopTimeout"`
	Environment            []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"environment"`
	Secrets []struct {
		Name string `json:"name"`
	} `json:"secrets"`
	MountPoints []struct {
		SourceVolume  string `json:"sourceVolume"`
		ContainerPath string `json:"containerPath"`
		ReadOnly      bool   `json:"readOnly"`
	} `json:"mountPoints"`
	DependsOn []struct {
		ContainerName string `json:"containerName"`
		Condition     string `json:"condition"`
	} `json:"dependsOn"`
	LinuxParameters *struct {
		Capabilities *struct {
			Add  []string `json:"add"`
			Drop []string `json:"drop"`
		} `json:"capabilities"`
		InitProcessEnabled bool `json:"initProcessEnabled"`
	} `json:"linuxParameters"`
}

func (c containerDef) essential() bool { return c.Essential == nil || *c.Essential }

// role says which e2e image plays a container of the task definition.
type role int

const (
	roleOther role = iota
	roleInit
	roleSidekick
	roleApp
)

func (c containerDef) role() role {
	argv := append(slices.Clone(c.EntryPoint), c.Command...)
	switch {
	case len(argv) >= 2 && strings.HasSuffix(argv[0], "/bluelock") && argv[1] == "install":
		return roleInit
	case len(argv) > 0 && argv[0] == "/kubearmor/bluelock":
		return roleApp
	case strings.Contains(c.Image, "sidekick") || strings.Contains(c.Name, "sidekick"):
		return roleSidekick
	}
	return roleOther
}

// appArgv keeps the task's tracer command line (wrapper and its flags, up to "--") and puts
// the e2e app after it: the deploy's flags are what is tested, not its example app.
func appArgv(c containerDef, app []string, extraFlags []string) ([]string, error) {
	argv := append(slices.Clone(c.EntryPoint), c.Command...)
	i := slices.Index(argv, "--")
	if len(argv) == 0 || argv[0] != "/kubearmor/bluelock" || i < 0 {
		return nil, fmt.Errorf("container %s: command %q is not `/kubearmor/bluelock [flags] -- <app...>`", c.Name, argv)
	}
	out := slices.Clone(argv[:i])
	for _, f := range extraFlags {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	out = append(out, "--")
	return append(out, app...), nil
}

// startOrder sorts containers so that every dependsOn target comes first (ECS does the
// same), keeping the task definition's order otherwise.
func startOrder(td taskDef) ([]containerDef, error) {
	byName := map[string]containerDef{}
	for _, c := range td.ContainerDefinitions {
		byName[c.Name] = c
	}
	var out []containerDef
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(c containerDef) error
	visit = func(c containerDef) error {
		switch state[c.Name] {
		case 1:
			return fmt.Errorf("dependsOn cycle at %s", c.Name)
		case 2:
			return nil
		}
		state[c.Name] = 1
		for _, d := range c.DependsOn {
			dc, ok := byName[d.ContainerName]
			if !ok {
				return fmt.Errorf("%s dependsOn unknown container %s", c.Name, d.ContainerName)
			}
			if err := visit(dc); err != nil {
				return err
			}
		}
		state[c.Name] = 2
		out = append(out, c)
		return nil
	}
	for _, c := range td.ContainerDefinitions {
		if err := visit(c); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadTaskDef reads the deploy engineer's task definition from deploy/ecs (the first JSON
// file there with an app container wrapped by /kubearmor/bluelock). If there is none, it
// protects test/e2e/testdata/ecs-task.json with `bluelock inject`, which writes the same
// shape, and says so.
func loadTaskDef(t *testing.T, s *suite) (taskDef, string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.repo, "deploy", "ecs", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var td taskDef
		if json.Unmarshal(b, &td) != nil {
			continue
		}
		for _, c := range td.ContainerDefinitions {
			if c.role() == roleApp {
				return td, f
			}
		}
	}
	bin := os.Getenv("BLUELOCK_BIN")
	if bin == "" {
		t.Fatal("no task definition in deploy/ecs and BLUELOCK_BIN unset (cannot run bluelock inject)")
	}
	in := filepath.Join(s.testdata, "ecs-task.json")
	out, err := exec.Command(bin, "inject", "--image", s.img.init, "--sidekick-image", s.img.sidekick, in).Output()
	if err != nil {
		t.Fatalf("no task definition in deploy/ecs; `bluelock inject %s` failed: %v", in, err)
	}
	var td taskDef
	if err := json.Unmarshal(out, &td); err != nil {
		t.Fatalf("bluelock inject output: %v\n%s", err, out)
	}
	t.Logf("NOTE: deploy/ecs has no task definition yet; using `bluelock inject %s`", in)
	return td, "bluelock inject " + in
}

// task is a running ECS-like task: a group plus its containers by task-definition name.
type task struct {
	*group
	containers map[string]string // task container name → docker container name
	app        string
	// containerName is the app's CONTAINER_NAME (its name in the task definition).
	containerName string
	appUID        string // the uid the app runs as ("0" unless the definition sets user)
}

// startTask translates the task definition into docker commands and runs them in
// dependency order: volumes, then each container with its mount points, environment,
// entryPoint/command, user, read-only root, Fargate's capabilities plus linuxParameters
// (ECS accepts only SYS_PTRACE there) and its dependsOn conditions.
func startTask(t *testing.T, s *suite, td taskDef, appCmd, extraFlags []string) *task {
	t.Helper()
	if td.NetworkMode != "" && td.NetworkMode != "awsvpc" {
		t.Fatalf("task networkMode %q: Fargate requires awsvpc", td.NetworkMode)
	}
	order, err := startOrder(td)
	if err != nil {
		t.Fatal(err)
	}
	g := newGroup(t, s)
	tk := &task{group: g, containers: map[string]string{}}
	volumes := map[string]string{}
	for _, v := range td.Volumes {
		name := g.name + "-vol-" + unsafeName.ReplaceAllString(v.Name, "-")
		docker(t, time.Minute, "volume", "create", "--label", s.label, name)
		t.Cleanup(func() { removeVolume(name) })
		volumes[v.Name] = name
	}
	g.sink = newSink(t, s.gateway)
	exited := map[string]int{}
	for _, c := range order {
		var image string
		switch c.role() {
		case roleInit:
			image = s.img.init
		case roleSidekick:
			image = s.img.sidekick
		case roleApp:
			image = s.img.app
		default:
			if c.essential() {
				t.Fatalf("essential container %s (%s) has no e2e image", c.Name, c.Image)
			}
			t.Logf("skipping non-essential container %s (%s)", c.Name, c.Image)
			continue
		}
		for _, d := range c.DependsOn {
			dep, ok := tk.containers[d.ContainerName]
			if !ok {
				t.Fatalf("%s dependsOn %s, which was not started", c.Name, d.ContainerName)
			}
			switch d.Condition {
			case "START":
			case "COMPLETE", "SUCCESS":
				if _, ok := exited[d.ContainerName]; !ok {
					exited[d.ContainerName] = waitExit(t, dep, 2*time.Minute)
				}
				if code := exited[d.ContainerName]; code != 0 {
					// COMPLETE accepts any code, but an init container that failed leaves
					// no tracer behind; say so here rather than as a confusing app failure.
					t.Fatalf("%s: dependency %s exited %d", c.Name, d.ContainerName, code)
				}
			default:
				t.Fatalf("%s dependsOn %s with condition %s: not supported by the e2e translation", c.Name, d.ContainerName, d.Condition)
			}
		}
		name := g.name + "-" + unsafeName.ReplaceAllString(c.Name, "-")
		removeOnCleanup(t, name)
		run := []string{"run", "-d", "--name", name, "--label", s.label,
			"--network", "container:" + g.pause, "--cap-drop", "ALL"}
		caps := slices.Clone(fargateCaps)
		if lp := c.LinuxParameters; lp != nil && lp.Capabilities != nil {
			for _, a := range lp.Capabilities.Add {
				if strings.TrimPrefix(strings.ToUpper(a), "CAP_") != "SYS_PTRACE" {
					t.Fatalf("%s adds capability %s: Fargate accepts only SYS_PTRACE", c.Name, a)
				}
				caps = append(caps, "SYS_PTRACE")
			}
			for _, d := range lp.Capabilities.Drop {
				caps = slices.DeleteFunc(caps, func(x string) bool { return x == strings.TrimPrefix(strings.ToUpper(d), "CAP_") })
			}
		}
		run = append(run, capAdds(caps)...)
		if c.User != "" {
			run = append(run, "--user", c.User)
		}
		if c.ReadonlyRootFilesystem {
			run = append(run, "--read-only")
		}
		stop := c.StopTimeout
		if stop == 0 {
			stop = 30 // ECS's default stopTimeout on Fargate
		}
		if c.role() == roleApp {
			stop = stopTimeoutSecs
		}
		run = append(run, "--stop-timeout", fmt.Sprint(stop))
		for _, m := range c.MountPoints {
			vol, ok := volumes[m.SourceVolume]
			if !ok {
				t.Fatalf("%s mounts unknown volume %s", c.Name, m.SourceVolume)
			}
			spec := vol + ":" + m.ContainerPath
			if m.ReadOnly {
				spec += ":ro"
			}
			run = append(run, "-v", spec)
		}
		for _, e := range c.Environment {
			if c.role() == roleSidekick && strings.HasPrefix(e.Name, "AWS_") {
				// No AWS account here: an output that needs one (CloudWatch) cannot work.
				t.Logf("%s: leaving out %s (needs AWS)", c.Name, e.Name)
				continue
			}
			run = append(run, "-e", e.Name+"="+e.Value)
			if c.role() == roleApp && e.Name == "CONTAINER_NAME" {
				tk.containerName = e.Value
			}
		}
		for _, sec := range c.Secrets {
			t.Logf("%s: leaving out secret %s (Secrets Manager/SSM are not reachable here)", c.Name, sec.Name)
		}
		argv := append(slices.Clone(c.EntryPoint), c.Command...)
		switch c.role() {
		case roleSidekick:
			run = append(run, "-e", "WEBHOOK_ADDRESS="+g.sink.URL)
		case roleApp:
			if argv, err = appArgv(c, appCmd, extraFlags); err != nil {
				t.Fatal(err)
			}
			tk.app = name
			tk.appUID = "0"
			if c.User != "" {
				tk.appUID = strings.SplitN(c.User, ":", 2)[0]
			}
		}
		if len(c.EntryPoint) > 0 || c.role() == roleApp {
			run = append(run, "--entrypoint", argv[0], image)
			run = append(run, argv[1:]...)
		} else {
			run = append(run, image)
			run = append(run, c.Command...)
		}
		docker(t, time.Minute, run...)
		tk.containers[c.Name] = name
		if c.role() == roleSidekick {
			g.sidekick = name
			if err := pollTCP(net.JoinHostPort(g.ip, sidekickPort), name, 30*time.Second); err != nil {
				g.sidekickErr = err
				t.Errorf("sidekick: %v", err)
			}
		}
	}
	if tk.app == "" {
		t.Fatal("the task definition has no container wrapped by /kubearmor/bluelock")
	}
	return tk
}

// policyAPI runs the e2e helper inside the task's network namespace to reach the tracer's
// policy API on 127.0.0.1:2802, which is not reachable from outside the task.
func (g *group) policyAPI(t *testing.T, wait time.Duration, body []byte, args ...string) (string, error) {
	t.Helper()
	run := []string{"run", "--rm", "-i", "--label", g.s.label, "--network", "container:" + g.pause,
		"--cap-drop", "ALL", g.s.img.tool, "http", "-wait", wait.String()}
	return dockerStdin(wait+time.Minute, body, append(run, args...)...)
}

const policyAPIURL = "http://127.0.0.1:2802/policies"

// TestECSTask is the ECS-like task: the task definition from deploy/ecs, translated to
// docker, with the policy delivered over the tracer's HTTP API after start-up
// (--policy-wait-api holds the app until then).
func TestECSTask(t *testing.T) {
	s := requireSuite(t)
	td, from := loadTaskDef(t, s)
	t.Logf("task definition: %s (family %s)", from, td.Family)
	tk := startTask(t, s, td, []string{"/app/app.sh"}, []string{"--policy-wait-api"})
	want := expectedContext(t, tk.group, tk.app)
	want.uid = tk.appUID
	addr := net.JoinHostPort(tk.ip, appPort)

	// The API comes up while the app is held back.
	out, err := tk.policyAPI(t, 60*time.Second, nil, "GET", policyAPIURL)
	if err != nil {
		t.Fatalf("GET %s inside the task: %v\n%s", policyAPIURL, err, out)
	}
	if out, err := request(addr, "ping"); err == nil {
		t.Fatalf("the app serves (%q) before any policy was pushed: --policy-wait-api did not hold it", out)
	}

	policy, err := os.ReadFile(filepath.Join(s.testdata, "ecs-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err = tk.policyAPI(t, 10*time.Second, policy, "-H", "Content-Type: application/yaml", "POST", policyAPIURL)
	if err != nil {
		t.Fatalf("POST %s: %v\n%s", policyAPIURL, err, out)
	}
	t.Logf("POST /policies: %s", out)
	tk.waitServing(t, tk.app, 60*time.Second)

	// The deploy's own example policy selects the app by container name (CONTAINER_NAME),
	// KubeArmor's non-Kubernetes way; push it as an operator would, while the app runs.
	pkg := filepath.Join(s.repo, "deploy", "ecs", "policies", "ksp-block-pkg-managers.yaml")
	pkgPolicy, pkgErr := os.ReadFile(pkg)
	pushedPkg := pkgErr == nil && tk.containerName != "" && strings.Contains(string(pkgPolicy), "["+tk.containerName+"]")
	if pushedPkg {
		out, err = tk.policyAPI(t, 10*time.Second, pkgPolicy, "-H", "Content-Type: application/yaml", "POST", policyAPIURL)
		if err != nil {
			t.Fatalf("POST %s (%s): %v\n%s", policyAPIURL, pkg, err, out)
		}
	} else {
		t.Logf("not pushing %s: missing (%v) or not selecting container %q", pkg, pkgErr, tk.containerName)
	}

	out, err = tk.policyAPI(t, 10*time.Second, nil, "GET", policyAPIURL)
	if err != nil || !strings.Contains(out, "e2e-ecs-block-secret-read") {
		t.Errorf("GET /policies after the push = %q, %v; want it to list e2e-ecs-block-secret-read", out, err)
	}

	t.Run("blocked-file-read", func(t *testing.T) {
		resp := tk.request(t, "secret")
		if strings.Contains(resp, "s3cr3t") || !strings.Contains(resp, "Permission denied") {
			t.Fatalf("cat /secret/api-token = %q, want Permission denied (policy pushed over HTTP)", resp)
		}
		ev, ok := tk.waitAlert(t, "File alert for /secret/api-token", func(e event) bool {
			return e.str("Operation") == "File" && e.str("Resource") == "/secret/api-token" && e.str("Type") != "ContainerLog"
		})
		if !ok {
			return
		}
		checkAlert(t, ev, want, map[string]string{
			"Type":          "MatchedPolicy",
			"PolicyName":    "e2e-ecs-block-secret-read",
			"Severity":      "8",
			"Action":        "Block",
			"Result":        "Permission denied",
			"Operation":     "File",
			"Resource":      "/secret/api-token",
			"ProcessName":   "/usr/bin/cat",
			"ContainerName": tk.containerName,
		})
	})
	t.Run("blocked-exec-by-container-name", func(t *testing.T) {
		if !pushedPkg {
			t.Skip("deploy/ecs/policies/ksp-block-pkg-managers.yaml not applicable to this task definition")
		}
		resp := tk.request(t, "exec-apt")
		if strings.Contains(resp, "Usage:") || !strings.Contains(resp, "Permission denied") {
			t.Fatalf("/usr/bin/apt = %q, want Permission denied (deploy policy selecting %s)", resp, tk.containerName)
		}
		ev, ok := tk.waitAlert(t, "Process alert for /usr/bin/apt", func(e event) bool {
			return e.str("Operation") == "Process" && strings.HasPrefix(e.str("Resource"), "/usr/bin/apt") && e.str("Type") != "ContainerLog"
		})
		if !ok {
			return
		}
		checkAlert(t, ev, want, map[string]string{
			"Type":          "MatchedPolicy",
			"PolicyName":    "ksp-armored-block-pkg-managers",
			"Severity":      "5",
			"Action":        "Block",
			"Result":        "Permission denied",
			"Operation":     "Process",
			"ProcessName":   "/usr/bin/apt",
			"ContainerName": tk.containerName,
		})
	})
	t.Run("allowed-exec", func(t *testing.T) {
		// No pushed policy covers id: it runs.
		if out := strings.TrimSpace(tk.request(t, "id")); out != tk.appUID {
			t.Errorf("id -u = %q, want %s", out, tk.appUID)
		}
	})
	t.Run("policy-lifted", func(t *testing.T) {
		// DELETE lifts the policy in the running app: the same read now passes.
		url := "http://127.0.0.1:2802/policies/e2e-ecs-block-secret-read"
		if out, err := tk.policyAPI(t, 10*time.Second, nil, "DELETE", url); err != nil {
			t.Fatalf("DELETE %s: %v\n%s", url, err, out)
		}
		if resp := tk.request(t, "secret"); !strings.Contains(resp, "s3cr3t") {
			t.Errorf("after DELETE of the policy, cat /secret/api-token = %q, want the secret", resp)
		}
	})
	t.Run("docker-stop", func(t *testing.T) { checkStop(t, tk.app) })
}

func TestStartOrderAndAppArgv(t *testing.T) {
	t.Parallel()
	var td taskDef
	err := json.Unmarshal([]byte(`{"containerDefinitions":[
		{"name":"web","entryPoint":["/kubearmor/bluelock","--policy-wait","30s","--"],"command":["/srv"],
		 "dependsOn":[{"containerName":"init","condition":"COMPLETE"},{"containerName":"sk","condition":"START"}]},
		{"name":"sk","image":"x/sidekick:1"},
		{"name":"init","entryPoint":["/bluelock","install","/kubearmor"],"essential":false}]}`), &td)
	if err != nil {
		t.Fatal(err)
	}
	order, err := startOrder(td)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range order {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "init,sk,web" {
		t.Errorf("start order = %s, want init,sk,web", got)
	}
	roles := map[string]role{"web": roleApp, "sk": roleSidekick, "init": roleInit}
	for _, c := range td.ContainerDefinitions {
		if c.role() != roles[c.Name] {
			t.Errorf("role(%s) = %d, want %d", c.Name, c.role(), roles[c.Name])
		}
	}
	argv, err := appArgv(td.ContainerDefinitions[0], []string{"/app/app.sh"}, []string{"--policy-wait-api"})
	if err != nil {
		t.Fatal(err)
	}
	want := "/kubearmor/bluelock --policy-wait 30s --policy-wait-api -- /app/app.sh"
	if got := strings.Join(argv, " "); got != want {
		t.Errorf("appArgv = %q, want %q", got, want)
	}
	if _, err := appArgv(containerDef{Name: "x", EntryPoint: []string{"/srv"}}, nil, nil); err == nil {
		t.Error("appArgv accepted a container that bluelock does not wrap")
	}
}

// TestPolicyGate: with --policy-wait-api and nobody pushing, the app never runs and the
// container fails (fail closed, the default); with --policy-fail-closed=false it starts
// in the default posture once the wait is over.
func TestPolicyGate(t *testing.T) {
	s := requireSuite(t)
	g := newGroup(t, s)
	g.emptyDir(t)
	g.runInit(t)
	t.Run("fail-closed", func(t *testing.T) {
		app := g.startApp(t, appOpts{suffix: "gate-closed", flags: []string{"--policy-wait-api", "--policy-wait", "3s"},
			command: []string{"/app/app.sh"}})
		code := waitExit(t, app, 60*time.Second)
		logs, _ := dockerStdin(30*time.Second, nil, "logs", app)
		if code == 0 || strings.Contains(logs, "app: serving") {
			t.Errorf("no policy pushed within --policy-wait: exit %d, want non-zero, and the app must not run; logs:\n%s", code, logs)
		}
	})
	t.Run("fail-open", func(t *testing.T) {
		app := g.startApp(t, appOpts{suffix: "gate-open", flags: []string{"--policy-wait-api", "--policy-wait", "3s", "--policy-fail-closed=false"},
			command: []string{"/app/app.sh"}})
		g.waitServing(t, app, 60*time.Second)
		if out := g.request(t, "secret"); !strings.Contains(out, "s3cr3t") {
			t.Errorf("no policy in force: the secret read should pass, got %q", out)
		}
	})
}
