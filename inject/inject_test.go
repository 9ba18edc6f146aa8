package inject

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenCases: testdata/<name>.in.{yaml,json} → <name>.out.{yaml,json} and
// <name>.notes.txt (the notes, one per line).
var goldenCases = []struct {
	name string
	ext  string
	opts Options
}{
	{name: "deployment", ext: "yaml"},
	{name: "pod", ext: "yaml"},
	{name: "statefulset", ext: "yaml"},
	{name: "select", ext: "yaml", opts: Options{Containers: []string{"postgres"}}},
	{name: "daemonset", ext: "yaml", opts: Options{SidekickURL: "http://sidekick.bluelock-system.svc.cluster.local:2801/", PolicyAPI: true}},
	{name: "replicaset", ext: "yaml", opts: Options{ClassicSidecar: true, Image: "registry.example.com/bluelock:0.1.0", SidekickImage: "registry.example.com/sidekick:0.1.0"}},
	{name: "job", ext: "yaml"},
	{name: "cronjob", ext: "yaml", opts: Options{NoSidekick: true}},
	{name: "list", ext: "yaml"},
	{name: "entrypoint", ext: "yaml", opts: Options{Entrypoint: []string{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"}}},
	{name: "rbac", ext: "yaml", opts: Options{
		RBAC: true, ServiceAccount: "web-bluelock", RelayLabel: true, ClusterName: "prod-eu",
		Env:            []EnvVar{{"BLUELOCK_POSTURE_FILE", "block"}},
		SidekickEnv:    []EnvVar{{"STDOUT_ENABLED", "true"}},
		SidekickSecret: "bluelock-sidekick",
	}},
	{name: "ecs", ext: "json"},
	{name: "ecs-describe", ext: "json", opts: Options{Entrypoint: []string{"python3"}, SidekickEnv: []EnvVar{{"STDOUT_ENABLED", "true"}}}},
}

func readGolden(t *testing.T, path string, got []byte) []byte {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./inject -update to create it)", err)
	}
	return want
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(filepath.Join("testdata", tc.name+".in."+tc.ext))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Inject(in, tc.opts)
			if err != nil {
				t.Fatalf("Inject: %v", err)
			}
			if !res.Changed {
				t.Errorf("Changed = false for an unprotected input")
			}
			want := readGolden(t, filepath.Join("testdata", tc.name+".out."+tc.ext), res.Output)
			if !bytes.Equal(res.Output, want) {
				t.Errorf("output differs from testdata/%s.out.%s (rerun with -update and review the diff):\n%s", tc.name, tc.ext, res.Output)
			}
			notes := []byte(strings.Join(res.Notes, "\n") + "\n")
			wantNotes := readGolden(t, filepath.Join("testdata", tc.name+".notes.txt"), notes)
			if !bytes.Equal(notes, wantNotes) {
				t.Errorf("notes differ from testdata/%s.notes.txt:\n%s", tc.name, notes)
			}
		})
	}
}

// TestIdempotent injects every golden output again with the same options:
// nothing may change, byte for byte.
func TestIdempotent(t *testing.T) {
	t.Parallel()
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			once, err := os.ReadFile(filepath.Join("testdata", tc.name+".out."+tc.ext))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Inject(once, tc.opts)
			if err != nil {
				t.Fatalf("second Inject: %v", err)
			}
			if res.Changed {
				t.Errorf("second Inject reported a change")
			}
			if !bytes.Equal(res.Output, once) {
				t.Errorf("second Inject changed the output:\n%s", res.Output)
			}
		})
	}
}

// TestFormatDetection checks that JSON Kubernetes objects are not taken for
// task definitions and that the describe form is.
func TestFormatDetection(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		wantECS  bool
	}{
		{"k8s json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","command":["x"]}]}}`, false},
		{"task definition", `{"family":"f","containerDefinitions":[{"name":"c","image":"i","entryPoint":["x"]}]}`, true},
		{"describe output", `{"taskDefinition":{"family":"f","containerDefinitions":[{"name":"c","image":"i","entryPoint":["x"]}]}}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := Inject([]byte(tc.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			isTask := bytes.Contains(res.Output, []byte(`"containerDefinitions"`))
			if isTask != tc.wantECS {
				t.Errorf("detected ECS = %v, want %v; output:\n%s", isTask, tc.wantECS, res.Output)
			}
			if !bytes.Contains(res.Output, []byte(Wrapper)) {
				t.Errorf("output does not run the wrapper:\n%s", res.Output)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	const noCommand = `apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx, namespace: web}
spec:
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
        - {name: nginx, image: "nginx:1.27"}
`
	const withArgs = `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - {name: app, image: "app:1", args: ["--port", "80"]}
`
	const hostVolume = `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  volumes: [{name: bluelock, hostPath: {path: /opt}}]
  containers:
    - {name: app, image: "app:1", command: ["/app"]}
`
	const mountClash = `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  volumes: [{name: mine, emptyDir: {}}]
  containers:
    - {name: app, image: "app:1", command: ["/app"], volumeMounts: [{name: mine, mountPath: /kubearmor}]}
`
	const badContainers = `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: "app"
`
	const noTemplate = `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec: {replicas: 1}
`
	const pod = `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - {name: app, image: "app:1", command: ["/app"]}
`
	const ecsNoEntry = `{"family":"web","networkMode":"awsvpc","containerDefinitions":[{"name":"web","image":"web:1","command":["--port","80"]}]}`
	const ecsNoEssential = `{"family":"web","networkMode":"awsvpc","containerDefinitions":[{"name":"web","image":"web:1","essential":false,"entryPoint":["/web"]}]}`
	cases := []struct {
		name string
		in   string
		opts Options
		want []string // substrings of the error
	}{
		{"no command", noCommand, Options{}, []string{`document 1 Deployment "web/nginx".spec.template.spec container "nginx": no command in the manifest`, "--entrypoint", "ENTRYPOINT followed by its CMD", "nginx:1.27"}},
		{"no command with args", withArgs, Options{}, []string{`container "app": no command`, "its ENTRYPOINT (the manifest's args replace the image's CMD"}},
		{"container not found", pod, Options{Containers: []string{"nope"}}, []string{`container "nope": not found in any workload`}},
		{"rbac default sa", pod, Options{RBAC: true, Namespace: "x"}, []string{"uses the default service account", "--service-account"}},
		{"rbac no namespace", pod, Options{RBAC: true, ServiceAccount: "sa"}, []string{"no metadata.namespace; pass --namespace"}},
		{"volume clash", hostVolume, Options{}, []string{`volume "bluelock" exists and is not bluelock's emptyDir`}},
		{"mount clash", mountClash, Options{}, []string{`/kubearmor is already used by volume "mine"`}},
		{"wrong type", badContainers, Options{}, []string{`document 1 Pod "p".spec.containers: want a list, got a string`}},
		{"no template", noTemplate, Options{}, []string{`Deployment "d".spec.template: missing`}},
		{"bad yaml", "kind: Pod\n  spec: [\n", Options{}, []string{"document 1"}},
		{"bad sidekick url", pod, Options{SidekickURL: "localhost:2801"}, []string{`options: sidekick URL "localhost:2801"`}},
		{"wrap our own", pod, Options{Containers: []string{SidekickName}}, []string{`container "bluelock-sidekick" is bluelock's own`}},
		{"entrypoint is wrapper", pod, Options{Entrypoint: []string{Wrapper, "x"}}, []string{"give the application's argv, not the wrapper"}},
		{"bad format", pod, Options{Format: "xml"}, []string{`format "xml"`}},
		{"ecs no entryPoint", ecsNoEntry, Options{}, []string{`task definition "web" container "web": no entryPoint`, "its ENTRYPOINT (command replaces the image's CMD"}},
		{"ecs no essential", ecsNoEssential, Options{}, []string{"no essential container to protect; select one with --container"}},
		{"ecs container not found", ecsNoEssential, Options{Containers: []string{"api"}}, []string{`task definition "web": container "api" not found`}},
		{"ecs forced on yaml", pod, Options{Format: "ecs"}, []string{"task definition:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Inject([]byte(tc.in), tc.opts)
			if err == nil {
				t.Fatal("Inject succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    EnvVar
		wantErr bool
	}{
		{in: "A=b", want: EnvVar{"A", "b"}},
		{in: "A=b=c", want: EnvVar{"A", "b=c"}},
		{in: "A=", want: EnvVar{"A", ""}},
		{in: "A", wantErr: true},
		{in: "=b", wantErr: true},
		{in: "1A=b", wantErr: true},
	}
	for _, tc := range cases {
		got, err := ParseEnv(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseEnv(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
