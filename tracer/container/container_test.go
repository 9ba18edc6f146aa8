package container

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"
)

const testID = "4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a4f1c2a9e0b7d6c5a"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIDFromCgroup(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"cgroup/v1-docker", testID},
		{"cgroup/v1-kubepods", testID},
		{"cgroup/v2-cri-containerd", testID},
		{"cgroup/v2-crio", testID},
		{"cgroup/v2-docker-systemd", testID},
		{"cgroup/ecs-fargate", "8f03e41243824aea923aca126495f665-2495160603"},
		{"cgroup/ecs-ec2", testID},
		{"cgroup/v2-private", ""},
		{"cgroup/v1-host", ""},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			if got := IDFromCgroup(fixture(t, tc.file)); got != tc.want {
				t.Errorf("IDFromCgroup = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIDFromCgroupInline(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"garbage", "no colons here\n::\n", ""},
		{"colon in path", "0::/weird:path/docker-" + testID + ".scope\n", testID},
		{"63 hex is not an ID", "0::/docker/" + testID[:63] + "\n", ""},
		{"uppercase is not an ID", "0::/docker/" + strings.ToUpper(testID) + "\n", ""},
		{"conmon scope is not the container", "0::/machine.slice/crio-conmon-" + testID + ".scope\n", ""},
		{"innermost wins", "0::/docker/" + strings.Repeat("a", 64) + "/docker/" + testID + "\n", testID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IDFromCgroup([]byte(tc.in)); got != tc.want {
				t.Errorf("IDFromCgroup(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestIDFromMountinfo(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"mountinfo/docker-v2", testID},
		{"mountinfo/podman", testID},
		{"mountinfo/containerd-sandbox", ""},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			if got := IDFromMountinfo(fixture(t, tc.file)); got != tc.want {
				t.Errorf("IDFromMountinfo = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseDownwardAPI(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{
			name: "labels fixture",
			in:   string(fixture(t, "podinfo/labels")),
			want: map[string]string{"app": "web", "eks.amazonaws.com/fargate-profile": "fp-default",
				"kubearmor.io/container.name": "web", "pod-template-hash": "7d9f8c6b5"},
		},
		{
			name: "annotations fixture: escaped quotes, newline, backslash, unicode",
			in:   string(fixture(t, "podinfo/annotations")),
			want: map[string]string{"CapacityProvisioned": "0.25vCPU 0.5GB",
				"description":               "say \"hi\"\nto C:\\temp",
				"kubernetes.io/config.seen": "2026-11-22T19:00:00.000000000Z",
				"unicode":                   "café ☕"},
		},
		{name: "empty value", in: "a=\"\"\n", want: map[string]string{"a": ""}},
		{name: "equals in value", in: "a=\"x=y\"\n", want: map[string]string{"a": "x=y"}},
		{name: "CRLF and blank lines", in: "a=\"1\"\r\n\r\nb=\"2\"", want: map[string]string{"a": "1", "b": "2"}},
		{
			name:    "bad lines are skipped and reported",
			in:      "a=\"1\"\nnoequals\nb=unquoted\nc=\"unterminated\n=\"nokey\"\nd=\"4\"\n",
			want:    map[string]string{"a": "1", "d": "4"},
			wantErr: "line 2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDownwardAPI([]byte(tc.in))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr != "":
				for _, l := range []string{"line 3", "line 4", "line 5"} {
					if !strings.Contains(err.Error(), l) {
						t.Errorf("error %v does not name %s", err, l)
					}
				}
			}
		})
	}
}

func TestFormatLabels(t *testing.T) {
	tests := []struct {
		in   map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"b": "2", "a": "1"}, "a=1,b=2"},
		{map[string]string{"app": "web", "pod-template-hash": "x", "controller-revision-hash": "y", "pod-template-generation": "3"}, "app=web"},
	}
	for _, tc := range tests {
		if got := FormatLabels(tc.in); got != tc.want {
			t.Errorf("FormatLabels(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func envFunc(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func hostname(h string) func() (string, error) { return func() (string, error) { return h, nil } }

func noWait(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func TestDetectKubernetes(t *testing.T) {
	tests := []struct {
		name string
		fs   fstest.MapFS
		dir  string // Config.PodInfoDir
		env  map[string]string
		want Info
	}{
		{
			name: "EKS Fargate pod with downward API env and volume",
			fs: fstest.MapFS{
				"proc/self/cgroup":        {Data: fixture(t, "cgroup/v1-kubepods")},
				"etc/podinfo/labels":      {Data: fixture(t, "podinfo/labels")},
				"etc/podinfo/annotations": {Data: []byte("a=\"1\"\n")},
			},
			env: map[string]string{"POD_NAME": "web-7d9f8c6b5-x2x9q", "POD_NAMESPACE": "shop",
				"CONTAINER_NAME": "web", "CLUSTER_NAME": "prod", "CONTAINER_IMAGE": "nginx:1.27"},
			want: Info{ClusterName: "prod", HostName: "web-7d9f8c6b5-x2x9q", NamespaceName: "shop",
				PodName: "web-7d9f8c6b5-x2x9q", ContainerID: testID, ContainerName: "web", ContainerImage: "nginx:1.27",
				Labels: "app=web,eks.amazonaws.com/fargate-profile=fp-default,kubearmor.io/container.name=web",
				LabelsMap: map[string]string{"app": "web", "eks.amazonaws.com/fargate-profile": "fp-default",
					"kubearmor.io/container.name": "web", "pod-template-hash": "7d9f8c6b5"},
				Annotations: map[string]string{"a": "1"}},
		},
		{
			name: "podinfo dir from BLUELOCK_PODINFO_DIR, ID from mountinfo",
			fs: fstest.MapFS{
				"proc/self/cgroup":    {Data: fixture(t, "cgroup/v2-private")},
				"proc/self/mountinfo": {Data: fixture(t, "mountinfo/docker-v2")},
				"run/pi/labels":       {Data: []byte("app=\"x\"\n")},
			},
			env: map[string]string{"BLUELOCK_PODINFO_DIR": "/run/pi/", "POD_NAMESPACE": "ns"},
			want: Info{ClusterName: "default", HostName: "web-7d9f8c6b5-x2x9q", NamespaceName: "ns",
				ContainerID: testID, Labels: "app=x", LabelsMap: map[string]string{"app": "x"}},
		},
		{
			name: "podinfo dir from Config (--podinfo-dir) over BLUELOCK_PODINFO_DIR",
			fs: fstest.MapFS{
				"proc/self/cgroup": {Data: fixture(t, "cgroup/v1-host")},
				"run/flag/labels":  {Data: []byte("app=\"flag\"\n")},
				"run/env/labels":   {Data: []byte("app=\"env\"\n")},
			},
			dir: "/run/flag",
			env: map[string]string{"BLUELOCK_PODINFO_DIR": "/run/env", "POD_NAMESPACE": "ns"},
			want: Info{ClusterName: "default", HostName: "web-7d9f8c6b5-x2x9q", NamespaceName: "ns",
				Labels: "app=flag", LabelsMap: map[string]string{"app": "flag"}},
		},
		{
			name: "nothing known: KubeArmor's defaults",
			fs:   fstest.MapFS{"proc/self/cgroup": {Data: fixture(t, "cgroup/v1-host")}},
			want: Info{ClusterName: "default", HostName: "web-7d9f8c6b5-x2x9q", NamespaceName: "container_namespace"},
		},
		{
			name: "BLUELOCK_CONTAINER_ID overrides /proc",
			fs:   fstest.MapFS{"proc/self/cgroup": {Data: fixture(t, "cgroup/v1-docker")}},
			env:  map[string]string{"BLUELOCK_CONTAINER_ID": "explicit"},
			want: Info{ClusterName: "default", HostName: "web-7d9f8c6b5-x2x9q", NamespaceName: "container_namespace", ContainerID: "explicit"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DetectWith(t.Context(), Config{FS: tc.fs, Getenv: envFunc(tc.env), Hostname: hostname("web-7d9f8c6b5-x2x9q"),
				PodInfoDir: tc.dir}, nil)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// ecsServer serves the two v4 documents under /v4/<id>, failing the first
// failures requests of the documents named in failDocs ("container",
// "task") with status.
func ecsServer(t *testing.T, failDocs string, status, failures int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	containerDoc, taskDoc := fixture(t, "ecs/container.json"), fixture(t, "ecs/task.json")
	var calls atomic.Int32
	var cFails, tFails atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var doc []byte
		var fails *atomic.Int32
		var name string
		switch r.URL.Path {
		case "/v4/cd189a933e5849daa93386466019ab50-2495160603":
			doc, fails, name = containerDoc, &cFails, "container"
		case "/v4/cd189a933e5849daa93386466019ab50-2495160603/task":
			doc, fails, name = taskDoc, &tFails, "task"
		default:
			http.NotFound(w, r)
			return
		}
		if strings.Contains(failDocs, name) && fails.Add(1) <= int32(failures) {
			http.Error(w, "agent busy", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

var wantECS = Info{
	ClusterName:    "payments-prod",
	HostName:       "ip-10-0-0-222.us-west-2.compute.internal",
	NamespaceName:  "container_namespace",
	PodName:        "cd189a933e5849daa93386466019ab50",
	ContainerID:    "cd189a933e5849daa93386466019ab50-2495160603",
	ContainerName:  "curl",
	ContainerImage: "111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest:latest@sha256:25f3695bedfb454a50f12d127839a68ad3caf91e451c1da073db34c542c4d2cb",
	Labels: "com.amazonaws.ecs.cluster=arn:aws:ecs:us-west-2:111122223333:cluster/payments-prod," +
		"com.amazonaws.ecs.container-name=curl," +
		"com.amazonaws.ecs.task-arn=arn:aws:ecs:us-west-2:111122223333:task/payments-prod/cd189a933e5849daa93386466019ab50," +
		"com.amazonaws.ecs.task-definition-family=curltest," +
		"com.amazonaws.ecs.task-definition-version=2",
	LabelsMap: map[string]string{
		"com.amazonaws.ecs.cluster":                 "arn:aws:ecs:us-west-2:111122223333:cluster/payments-prod",
		"com.amazonaws.ecs.container-name":          "curl",
		"com.amazonaws.ecs.task-arn":                "arn:aws:ecs:us-west-2:111122223333:task/payments-prod/cd189a933e5849daa93386466019ab50",
		"com.amazonaws.ecs.task-definition-family":  "curltest",
		"com.amazonaws.ecs.task-definition-version": "2",
	},
	Annotations: map[string]string{
		"ecs.task-arn":                 "arn:aws:ecs:us-west-2:111122223333:task/payments-prod/cd189a933e5849daa93386466019ab50",
		"ecs.task-definition-family":   "curltest",
		"ecs.task-definition-revision": "2",
		"ecs.service-name":             "MyService",
		"ecs.availability-zone":        "us-west-2a",
		"ecs.launch-type":              "FARGATE",
	},
}

func ecsConfig(t *testing.T, srv *httptest.Server, extraEnv map[string]string) Config {
	env := map[string]string{"ECS_CONTAINER_METADATA_URI_V4": srv.URL + "/v4/cd189a933e5849daa93386466019ab50-2495160603"}
	for k, v := range extraEnv {
		env[k] = v
	}
	return Config{
		FS:       fstest.MapFS{"proc/self/cgroup": {Data: fixture(t, "cgroup/ecs-fargate")}},
		Getenv:   envFunc(env),
		Hostname: hostname("ip-10-0-0-222.us-west-2.compute.internal"),
		Client:   srv.Client(),
		Wait:     noWait,
	}
}

func TestDetectECS(t *testing.T) {
	tests := []struct {
		name      string
		failDocs  string
		status    int
		failures  int
		env       map[string]string
		wantCalls int32
		want      func(Info) Info
	}{
		{name: "Fargate task", wantCalls: 2, want: func(i Info) Info { return i }},
		{name: "retries a busy agent", failDocs: "container task", status: http.StatusInternalServerError, failures: 2, wantCalls: 6,
			want: func(i Info) Info { return i }},
		{name: "POD_NAMESPACE and CLUSTER_NAME win", env: map[string]string{"POD_NAMESPACE": "payments", "CLUSTER_NAME": "prod"},
			wantCalls: 2, want: func(i Info) Info { i.NamespaceName, i.ClusterName = "payments", "prod"; return i }},
		{name: "a 404 is not retried and costs only the ECS fields", failDocs: "container", status: http.StatusNotFound, failures: 10, wantCalls: 1,
			want: func(Info) Info {
				return Info{ClusterName: "default", HostName: wantECS.HostName, NamespaceName: "container_namespace",
					ContainerID: "8f03e41243824aea923aca126495f665-2495160603"}
			}},
		{name: "task document failing still maps the container labels", failDocs: "task", status: http.StatusInternalServerError,
			failures: 10, wantCalls: 4, want: func(i Info) Info {
				i.Annotations = map[string]string{"ecs.task-arn": i.Annotations["ecs.task-arn"],
					"ecs.task-definition-family": "curltest"}
				return i
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := ecsServer(t, tc.failDocs, tc.status, tc.failures)
			got := DetectWith(t.Context(), ecsConfig(t, srv, tc.env), nil)
			if want := tc.want(wantECS); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if n := calls.Load(); n != tc.wantCalls {
				t.Errorf("%d requests, want %d", n, tc.wantCalls)
			}
		})
	}
}

// TestDetectECSBudget: an agent that never answers costs at most the budget.
func TestDetectECSBudget(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	cfg := ecsConfig(t, srv, nil)
	cfg.ECSBudget = 150 * time.Millisecond
	cfg.Wait = nil // real waits: the budget must cut them short too
	start := time.Now()
	got := DetectWith(t.Context(), cfg, nil)
	took := time.Since(start)
	if took > cfg.ECSBudget+500*time.Millisecond {
		t.Errorf("Detect took %v with a %v budget", took, cfg.ECSBudget)
	}
	if got.ContainerID != "8f03e41243824aea923aca126495f665-2495160603" || got.PodName != "" {
		t.Errorf("got %+v, want the cgroup ID and no ECS fields", got)
	}
	t.Logf("Detect returned after %v with a %v budget", took, cfg.ECSBudget)
}

func TestShortARN(t *testing.T) {
	tests := []struct{ in, marker, want string }{
		{"arn:aws:ecs:us-west-2:111122223333:cluster/payments-prod", "cluster/", "payments-prod"},
		{"arn:aws:ecs:us-west-2:111122223333:task/payments-prod/8f03e4", "task/", "8f03e4"},
		{"arn:aws:ecs:us-west-2:111122223333:task/8f03e4", "task/", "8f03e4"}, // old ARN format
		{"default", "cluster/", "default"},
		{"", "task/", ""},
	}
	for _, tc := range tests {
		if got := shortARN(tc.in, tc.marker); got != tc.want {
			t.Errorf("shortARN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestImageRef(t *testing.T) {
	tests := []struct{ image, id, want string }{
		{"nginx:1", "sha256:ab", "nginx:1@sha256:ab"},
		{"nginx@sha256:cd", "sha256:ab", "nginx@sha256:cd"},
		{"nginx:1", "", "nginx:1"},
		{"nginx:1", "ab", "nginx:1"},
	}
	for _, tc := range tests {
		if got := imageRef(tc.image, tc.id); got != tc.want {
			t.Errorf("imageRef(%q, %q) = %q, want %q", tc.image, tc.id, got, tc.want)
		}
	}
}
