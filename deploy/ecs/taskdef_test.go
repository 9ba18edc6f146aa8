package ecs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bluelock/bluelock/policy"
)

// The structs mirror the fields of the ECS RegisterTaskDefinition input
// (API reference: RegisterTaskDefinition, ContainerDefinition) that bluelock's
// task definitions use. DisallowUnknownFields turns a typo ("entrypoint") or
// a field ECS does not know into a test failure. Add fields here when a task
// definition needs them.
type taskDefinition struct {
	Family                  string                `json:"family"`
	NetworkMode             string                `json:"networkMode"`
	RequiresCompatibilities []string              `json:"requiresCompatibilities"`
	RuntimePlatform         *runtimePlatform      `json:"runtimePlatform"`
	CPU                     string                `json:"cpu"`
	Memory                  string                `json:"memory"`
	ExecutionRoleArn        string                `json:"executionRoleArn"`
	TaskRoleArn             string                `json:"taskRoleArn"`
	Volumes                 []volume              `json:"volumes"`
	ContainerDefinitions    []containerDefinition `json:"containerDefinitions"`
}

type runtimePlatform struct {
	CPUArchitecture       string `json:"cpuArchitecture"`
	OperatingSystemFamily string `json:"operatingSystemFamily"`
}

type volume struct {
	Name string          `json:"name"`
	Host json.RawMessage `json:"host"`
}

type containerDefinition struct {
	Name                   string                 `json:"name"`
	Image                  string                 `json:"image"`
	Essential              *bool                  `json:"essential"`
	EntryPoint             []string               `json:"entryPoint"`
	Command                []string               `json:"command"`
	User                   string                 `json:"user"`
	ReadonlyRootFilesystem *bool                  `json:"readonlyRootFilesystem"`
	PortMappings           []portMapping          `json:"portMappings"`
	Environment            []keyValue             `json:"environment"`
	Secrets                []secret               `json:"secrets"`
	MountPoints            []mountPoint           `json:"mountPoints"`
	DependsOn              []dependency           `json:"dependsOn"`
	LinuxParameters        *linuxParameters       `json:"linuxParameters"`
	LogConfiguration       *logConfiguration      `json:"logConfiguration"`
	FirelensConfiguration  *firelensConfiguration `json:"firelensConfiguration"`
	StopTimeout            *int                   `json:"stopTimeout"`
}

type portMapping struct {
	Name          string `json:"name"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

type keyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type secret struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

type mountPoint struct {
	SourceVolume  string `json:"sourceVolume"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly"`
}

type dependency struct {
	ContainerName string `json:"containerName"`
	Condition     string `json:"condition"`
}

type linuxParameters struct {
	Capabilities       *capabilities `json:"capabilities"`
	InitProcessEnabled *bool         `json:"initProcessEnabled"`
}

type capabilities struct {
	Add  []string `json:"add"`
	Drop []string `json:"drop"`
}

type logConfiguration struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options"`
}

type firelensConfiguration struct {
	Type string `json:"type"`
}

// fargateMemory lists, per task CPU units, the memory sizes (MiB) Fargate accepts.
func fargateMemory(cpu int) []int {
	span := func(from, to, step int) []int {
		var out []int
		for m := from; m <= to; m += step {
			out = append(out, m)
		}
		return out
	}
	switch cpu {
	case 256:
		return []int{512, 1024, 2048}
	case 512:
		return span(1024, 4096, 1024)
	case 1024:
		return span(2048, 8192, 1024)
	case 2048:
		return span(4096, 16384, 1024)
	case 4096:
		return span(8192, 30720, 1024)
	case 8192:
		return span(16384, 61440, 4096)
	case 16384:
		return span(32768, 122880, 8192)
	}
	return nil
}

// decode reads a task definition strictly: encoding/json matches field names
// case-insensitively, so exactKeys first checks the spelling against the
// struct tags (ECS is case-sensitive: "entrypoint" is not "entryPoint").
func decode(data []byte) (taskDefinition, error) {
	var tree any
	if err := json.Unmarshal(data, &tree); err != nil {
		return taskDefinition{}, err
	}
	if err := exactKeys(tree, reflect.TypeOf(taskDefinition{}), "$"); err != nil {
		return taskDefinition{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var td taskDefinition
	if err := dec.Decode(&td); err != nil {
		return td, err
	}
	if dec.More() {
		return td, errors.New("trailing data after the task definition")
	}
	return td, nil
}

// exactKeys reports the first object key that is not spelled exactly as a
// json tag of the struct type t describes.
func exactKeys(v any, t reflect.Type, at string) error {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice {
			items, ok := v.([]any)
			if !ok {
				return nil
			}
			for i, it := range items {
				if err := exactKeys(it, t.Elem(), fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
			return nil
		}
		t = t.Elem()
	}
	m, ok := v.(map[string]any)
	if !ok || t.Kind() != reflect.Struct {
		return nil
	}
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		fields[name] = t.Field(i).Type
	}
	for k, child := range m {
		ft, ok := fields[k]
		if !ok {
			return fmt.Errorf("%s: unknown field %q", at, k)
		}
		if err := exactKeys(child, ft, at+"."+k); err != nil {
			return err
		}
	}
	return nil
}

const (
	wrapper   = "/kubearmor/bluelock"
	mountPath = "/kubearmor"
)

// check returns every problem of a protected Fargate task definition.
func check(td taskDefinition) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if td.Family == "" {
		bad("family is required")
	}
	if td.NetworkMode != "awsvpc" {
		bad("networkMode %q: Fargate requires awsvpc (and the sidecar is reached on localhost)", td.NetworkMode)
	}
	if !slices.Contains(td.RequiresCompatibilities, "FARGATE") {
		bad("requiresCompatibilities %v lacks FARGATE", td.RequiresCompatibilities)
	}
	var cpu, mem int
	if _, err := fmt.Sscan(td.CPU, &cpu); err != nil {
		bad("cpu %q: Fargate needs task-level cpu units", td.CPU)
	}
	if _, err := fmt.Sscan(td.Memory, &mem); err != nil {
		bad("memory %q: Fargate needs task-level memory (MiB)", td.Memory)
	}
	if cpu != 0 && mem != 0 && !slices.Contains(fargateMemory(cpu), mem) {
		bad("cpu %d / memory %d is not a Fargate size (valid memory for this cpu: %v)", cpu, mem, fargateMemory(cpu))
	}
	if rp := td.RuntimePlatform; rp != nil && rp.CPUArchitecture != "X86_64" && rp.CPUArchitecture != "ARM64" {
		bad("runtimePlatform.cpuArchitecture %q: want X86_64 or ARM64", rp.CPUArchitecture)
	}

	vols := map[string]volume{}
	for _, v := range td.Volumes {
		vols[v.Name] = v
	}
	names := map[string]containerDefinition{}
	for i, c := range td.ContainerDefinitions {
		if c.Name == "" || c.Image == "" {
			bad("containerDefinitions[%d]: name and image are required", i)
		}
		if _, dup := names[c.Name]; dup {
			bad("container %q defined twice", c.Name)
		}
		names[c.Name] = c
	}

	var inits, apps []containerDefinition
	for _, c := range td.ContainerDefinitions {
		argv := append(slices.Clone(c.EntryPoint), c.Command...)
		switch {
		case len(argv) >= 3 && strings.HasSuffix(argv[0], "/bluelock") && argv[1] == "install":
			inits = append(inits, c)
		case len(c.EntryPoint) > 0 && c.EntryPoint[0] == wrapper:
			apps = append(apps, c)
		}
		for _, d := range c.DependsOn {
			if _, ok := names[d.ContainerName]; !ok {
				bad("container %q dependsOn %q, which is not defined", c.Name, d.ContainerName)
			}
			switch d.Condition {
			case "START", "COMPLETE", "SUCCESS", "HEALTHY":
			default:
				bad("container %q dependsOn condition %q", c.Name, d.Condition)
			}
		}
		for _, m := range c.MountPoints {
			if _, ok := vols[m.SourceVolume]; !ok {
				bad("container %q mounts volume %q, which is not defined", c.Name, m.SourceVolume)
			}
		}
		if lp := c.LinuxParameters; lp != nil && lp.Capabilities != nil {
			for _, a := range lp.Capabilities.Add {
				if a != "SYS_PTRACE" {
					bad("container %q adds capability %s: Fargate only allows adding SYS_PTRACE", c.Name, a)
				}
			}
		}
		if lc := c.LogConfiguration; lc != nil && lc.LogDriver == "awslogs" {
			for _, k := range []string{"awslogs-group", "awslogs-region", "awslogs-stream-prefix"} {
				if lc.Options[k] == "" {
					bad("container %q: awslogs needs option %s (stream prefix is required on Fargate)", c.Name, k)
				}
			}
		}
	}
	if len(inits) != 1 {
		bad("want exactly one init container running `/bluelock install %s`, found %d", mountPath, len(inits))
		return errs
	}
	init := inits[0]
	if init.Essential == nil || *init.Essential {
		bad("init container %q must be essential: false (it exits when done; dependsOn COMPLETE waits for it)", init.Name)
	}
	if init.EntryPoint[len(init.EntryPoint)-1] != mountPath && (len(init.Command) == 0 || init.Command[len(init.Command)-1] != mountPath) {
		bad("init container %q must install into %s", init.Name, mountPath)
	}
	initVol := ""
	for _, m := range init.MountPoints {
		if m.ContainerPath == mountPath {
			initVol = m.SourceVolume
			if m.ReadOnly {
				bad("init container %q mounts %s read-only and cannot copy the tracer there", init.Name, mountPath)
			}
		}
	}
	if initVol == "" {
		bad("init container %q does not mount a volume at %s", init.Name, mountPath)
	} else if len(vols[initVol].Host) > 0 {
		bad("volume %q has a host path; Fargate volumes are task-scoped", initVol)
	}

	if len(apps) == 0 {
		bad("no container's entryPoint starts with %s", wrapper)
	}
	for _, a := range apps {
		if !slices.Contains(a.EntryPoint, "--") || a.EntryPoint[len(a.EntryPoint)-1] == "--" && len(a.Command) == 0 {
			bad("app %q: entryPoint must be %s [flags] -- <original argv>", a.Name, wrapper)
		}
		waits := false
		for _, d := range a.DependsOn {
			if d.ContainerName == init.Name && d.Condition == "COMPLETE" {
				waits = true
			}
		}
		if !waits {
			bad("app %q must dependsOn %q with condition COMPLETE, or it may start before the tracer is copied", a.Name, init.Name)
		}
		mounted := false
		for _, m := range a.MountPoints {
			if m.ContainerPath == mountPath && m.SourceVolume == initVol {
				mounted = true
				if !m.ReadOnly {
					bad("app %q mounts %s writable: the traced app could replace the tracer", a.Name, mountPath)
				}
			}
		}
		if !mounted {
			bad("app %q does not mount volume %q at %s", a.Name, initVol, mountPath)
		}
		if a.Essential != nil && !*a.Essential {
			bad("app %q is not essential", a.Name)
		}
	}
	return errs
}

// taskDefinitions are the files checked: the shipped one and inject's goldens.
func taskDefinitions(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	golden, err := filepath.Glob(filepath.Join("..", "..", "inject", "testdata", "ecs*.out.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 || len(golden) == 0 {
		t.Fatalf("no task definitions found (deploy/ecs: %v, inject goldens: %v)", files, golden)
	}
	return append(files, golden...)
}

func TestTaskDefinitions(t *testing.T) {
	t.Parallel()
	for _, f := range taskDefinitions(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			td, err := decode(data)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, e := range check(td) {
				t.Errorf("%s: %v", f, e)
			}
		})
	}
}

// TestShippedTaskDefinition checks what only the shipped example must have:
// awslogs on every container and the sidekick's ports.
func TestShippedTaskDefinition(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("task-definition.json")
	if err != nil {
		t.Fatal(err)
	}
	td, err := decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var sidekick *containerDefinition
	for i, c := range td.ContainerDefinitions {
		if c.LogConfiguration == nil || c.LogConfiguration.LogDriver != "awslogs" {
			t.Errorf("container %q has no awslogs logConfiguration", c.Name)
		}
		if c.Name == "bluelock-sidekick" {
			sidekick = &td.ContainerDefinitions[i]
		}
	}
	if sidekick == nil {
		t.Fatal("no bluelock-sidekick container")
	}
	var ports []int
	for _, p := range sidekick.PortMappings {
		ports = append(ports, p.ContainerPort)
	}
	if !slices.Contains(ports, 2801) || !slices.Contains(ports, 32767) {
		t.Errorf("sidekick ports %v, want 2801 and 32767", ports)
	}
	for _, e := range sidekick.Environment {
		if strings.Contains(strings.ToUpper(e.Name), "WEBHOOK") {
			t.Errorf("sidekick env %s holds a webhook URL in plain text; use secrets (valueFrom)", e.Name)
		}
	}
}

// TestCheckFindsProblems makes sure each rule of check can fail.
func TestCheckFindsProblems(t *testing.T) {
	t.Parallel()
	good, err := os.ReadFile("task-definition.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mutate func(td *taskDefinition)
		want   string
	}{
		{"ec2 network mode", func(td *taskDefinition) { td.NetworkMode = "bridge" }, "Fargate requires awsvpc"},
		{"no fargate", func(td *taskDefinition) { td.RequiresCompatibilities = []string{"EC2"} }, "lacks FARGATE"},
		{"bad size", func(td *taskDefinition) { td.CPU, td.Memory = "256", "4096" }, "is not a Fargate size"},
		{"unknown dependency", func(td *taskDefinition) { td.ContainerDefinitions[2].DependsOn[0].ContainerName = "init" }, `dependsOn "init", which is not defined`},
		{"init essential", func(td *taskDefinition) { td.ContainerDefinitions[0].Essential = nil }, "must be essential: false"},
		{"app not wrapped", func(td *taskDefinition) { td.ContainerDefinitions[2].EntryPoint = []string{"socat"} }, "no container's entryPoint starts with /kubearmor/bluelock"},
		{"no separator", func(td *taskDefinition) { td.ContainerDefinitions[2].EntryPoint = []string{wrapper, "socat"} }, "[flags] -- <original argv>"},
		{"app not mounted", func(td *taskDefinition) { td.ContainerDefinitions[2].MountPoints = nil }, `does not mount volume "bluelock"`},
		{"app mount writable", func(td *taskDefinition) { td.ContainerDefinitions[2].MountPoints[0].ReadOnly = false }, "mounts /kubearmor writable"},
		{"no COMPLETE", func(td *taskDefinition) { td.ContainerDefinitions[2].DependsOn[0].Condition = "START" }, "condition COMPLETE"},
		{"extra capability", func(td *taskDefinition) {
			td.ContainerDefinitions[2].LinuxParameters.Capabilities.Add = []string{"SYS_PTRACE", "NET_ADMIN"}
		}, "only allows adding SYS_PTRACE"},
		{"undefined volume", func(td *taskDefinition) { td.Volumes = nil }, "which is not defined"},
		{"host volume", func(td *taskDefinition) { td.Volumes[0].Host = json.RawMessage(`{"sourcePath":"/x"}`) }, "has a host path"},
		{"awslogs prefix", func(td *taskDefinition) {
			delete(td.ContainerDefinitions[1].LogConfiguration.Options, "awslogs-stream-prefix")
		}, "awslogs-stream-prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			td, err := decode(good)
			if err != nil {
				t.Fatal(err)
			}
			if errs := check(td); len(errs) != 0 {
				t.Fatalf("the shipped task definition is not clean: %v", errs)
			}
			tc.mutate(&td)
			err = errors.Join(check(td)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("check = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDecodeRejectsUnknownFields(t *testing.T) {
	t.Parallel()
	_, err := decode([]byte(`{"family":"x","containerDefinitions":[{"name":"a","image":"b","entrypoint":["/x"]}]}`))
	if err == nil || !strings.Contains(err.Error(), `unknown field "entrypoint"`) {
		t.Errorf("decode = %v, want an unknown field error", err)
	}
}

func TestPoliciesParse(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("policies", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no policies: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := policy.Parse(data, f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, p := range ps {
			if p.Metadata.Namespace != "" {
				t.Errorf("%s: policy %s has namespace %q; a task has none", f, p.Metadata.Name, p.Metadata.Namespace)
			}
			if _, ok := p.Spec.Selector.MatchLabels[policy.ContainerNameLabel]; !ok {
				t.Errorf("%s: policy %s does not select by %s", f, p.Metadata.Name, policy.ContainerNameLabel)
			}
		}
	}
}
