package inject

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// readOnlyTaskFields are in describe-task-definition output but rejected by
// register-task-definition.
var readOnlyTaskFields = []string{
	"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
	"registeredAt", "registeredBy", "deregisteredAt",
}

// isECS reports whether the decoded input is an ECS task definition.
func isECS(tree any) bool {
	m, ok := tree.(map[string]any)
	if !ok {
		return false
	}
	if _, ok := m["containerDefinitions"]; ok {
		return true
	}
	td, ok := m["taskDefinition"].(map[string]any)
	if !ok {
		return false
	}
	_, ok = td["containerDefinitions"]
	return ok
}

func decodeJSON(input []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	return tree, nil
}

func injectECS(input []byte, o Options) (Result, error) {
	tree, err := decodeJSON(input)
	if err != nil {
		return Result{}, fmt.Errorf("task definition: %w", err)
	}
	if !isECS(tree) {
		return Result{}, errors.New("task definition: no containerDefinitions")
	}
	td := tree.(map[string]any)
	var notes []string
	changed := false
	if inner, ok := td["taskDefinition"].(map[string]any); ok && td["containerDefinitions"] == nil {
		td = inner
		for _, f := range readOnlyTaskFields {
			delete(td, f)
		}
		notes = append(notes, "task definition: unwrapped describe-task-definition output and dropped its read-only fields; tags are not part of it")
		changed = true
	}
	family := str(td, "family")
	where := fmt.Sprintf("task definition %q", family)

	defs, err := list(td, "containerDefinitions", where)
	if err != nil {
		return Result{}, err
	}
	if len(defs) == 0 {
		return Result{}, fmt.Errorf("%s: no containerDefinitions", where)
	}
	if nm := str(td, "networkMode"); nm != "awsvpc" && !o.NoSidekick {
		notes = append(notes, fmt.Sprintf("%s: networkMode is %q; the tracer reaches the sidecar at localhost only in awsvpc mode (Fargate always uses awsvpc)", where, nm))
	}
	if o.SidekickSecret != "" {
		notes = append(notes, "ECS: --sidekick-secret is for Kubernetes; give the sidekick its webhook URLs with containerDefinitions[].secrets (valueFrom a Secrets Manager or SSM ARN)")
	}
	if o.RBAC || o.ServiceAccount != "" || o.RelayLabel {
		notes = append(notes, "ECS: --rbac, --service-account and --relay-label apply to Kubernetes only; ignored")
	}

	var selected []map[string]any
	matched := map[string]bool{}
	for _, c := range defs {
		name := str(c, "name")
		if name == InitName || name == SidekickName {
			continue
		}
		essential := true
		if b, ok := c["essential"].(bool); ok {
			essential = b
		}
		if (len(o.Containers) == 0 && essential) || (len(o.Containers) > 0 && o.wanted(name)) {
			selected = append(selected, c)
			matched[name] = true
		}
	}
	var errs []error
	for _, c := range o.Containers {
		if !matched[c] {
			errs = append(errs, fmt.Errorf("%s: container %q not found", where, c))
		}
	}
	if len(o.Containers) == 0 && len(selected) == 0 {
		errs = append(errs, fmt.Errorf("%s: no essential container to protect; select one with --container", where))
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}

	var logConfig any
	for _, c := range selected {
		cw := fmt.Sprintf("%s container %q", where, str(c, "name"))
		ch, err := wrapTaskContainer(c, o, cw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		changed = changed || ch
		if logConfig == nil {
			logConfig = c["logConfiguration"]
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}

	vols, err := list(td, "volumes", where)
	if err != nil {
		return Result{}, err
	}
	if i := findNamed(vols, "name", VolumeName); i < 0 {
		// No host: on Fargate this is task-scoped ephemeral storage.
		vols = append(vols, map[string]any{"name": VolumeName})
		setList(td, "volumes", vols)
		changed = true
	} else if _, ok := vols[i]["host"]; ok {
		return Result{}, fmt.Errorf("%s: volume %q has a host path; bluelock needs a task-scoped volume of that name", where, VolumeName)
	}

	var head []map[string]any
	if findNamed(defs, "name", InitName) < 0 {
		init := map[string]any{
			"name":                   InitName,
			"image":                  o.Image,
			"essential":              false,
			"entryPoint":             []any{"/bluelock", "install", MountPath},
			"mountPoints":            []any{map[string]any{"sourceVolume": VolumeName, "containerPath": MountPath, "readOnly": false}},
			"readonlyRootFilesystem": true,
		}
		if logConfig != nil {
			init["logConfiguration"] = logConfig
		}
		head = append(head, init)
	}
	if !o.NoSidekick && findNamed(defs, "name", SidekickName) < 0 {
		sk := map[string]any{
			"name":      SidekickName,
			"image":     o.SidekickImage,
			"essential": false,
			"portMappings": []any{
				map[string]any{"name": "sidekick-http", "containerPort": IngestPort, "protocol": "tcp"},
				map[string]any{"name": "kubearmor-grpc", "containerPort": LogServicePort, "protocol": "tcp"},
			},
			"user":                   "65532:65532",
			"readonlyRootFilesystem": true,
		}
		var env []any
		for _, e := range o.SidekickEnv {
			env = append(env, map[string]any{"name": e.Name, "value": e.Value})
		}
		if len(env) > 0 {
			sk["environment"] = env
		}
		if logConfig != nil {
			sk["logConfiguration"] = logConfig
		}
		head = append(head, sk)
	}
	if len(head) > 0 {
		setList(td, "containerDefinitions", append(head, defs...))
		changed = true
	}
	if o.NoSidekick && o.SidekickURL == "" {
		notes = append(notes, "--no-sidekick without --sidekick-url: the tracer posts to "+LocalSidekickURL+" and nothing listens there; events are dropped")
	}
	if !changed {
		return Result{Output: input, Notes: notes}, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(td); err != nil {
		return Result{}, fmt.Errorf("%s: %w", where, err)
	}
	return Result{Output: buf.Bytes(), Notes: notes, Changed: true}, nil
}

// wrapTaskContainer rewrites one ECS container definition.
func wrapTaskContainer(c map[string]any, o Options, where string) (bool, error) {
	changed := false
	ep, err := stringList(c, "entryPoint", where)
	if err != nil {
		return false, err
	}
	switch {
	case len(ep) > 0 && ep[0] == Wrapper:
	case len(ep) == 0 && len(o.Entrypoint) == 0:
		hint := "its ENTRYPOINT followed by its CMD (there is no command, and setting entryPoint drops the image's CMD)"
		if _, ok := c["command"]; ok {
			hint = "its ENTRYPOINT (command replaces the image's CMD and is kept)"
		}
		return false, fmt.Errorf("%s: no entryPoint in the task definition, so the image's ENTRYPOINT runs and bluelock cannot see what to wrap; "+
			"set entryPoint or pass --entrypoint with the image's argv: %s, "+
			"e.g. from: docker image inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' %s",
			where, hint, str(c, "image"))
	default:
		if len(ep) == 0 {
			ep = o.Entrypoint
		}
		c["entryPoint"] = anyStrings(append([]string{Wrapper, "--"}, ep...))
		changed = true
	}

	mps, err := list(c, "mountPoints", where)
	if err != nil {
		return false, err
	}
	if i := findNamed(mps, "containerPath", MountPath); i >= 0 {
		if str(mps[i], "sourceVolume") != VolumeName {
			return false, fmt.Errorf("%s: mountPoints: %s is already used by volume %q", where, MountPath, str(mps[i], "sourceVolume"))
		}
	} else {
		mps = append(mps, map[string]any{"sourceVolume": VolumeName, "containerPath": MountPath, "readOnly": true})
		setList(c, "mountPoints", mps)
		changed = true
	}

	deps, err := list(c, "dependsOn", where)
	if err != nil {
		return false, err
	}
	wantDeps := []map[string]any{{"containerName": InitName, "condition": "COMPLETE"}}
	if !o.NoSidekick {
		wantDeps = append(wantDeps, map[string]any{"containerName": SidekickName, "condition": "START"})
	}
	for _, d := range wantDeps {
		if findNamed(deps, "containerName", str(d, "containerName")) < 0 {
			deps = append(deps, d)
			changed = true
		}
	}
	setList(c, "dependsOn", deps)

	env, err := list(c, "environment", where)
	if err != nil {
		return false, err
	}
	wantEnv := []EnvVar{{"CONTAINER_NAME", str(c, "name")}, {"SIDEKICK_URL", o.sidekickURL()}}
	for _, e := range append(wantEnv, o.Env...) {
		if findNamed(env, "name", e.Name) < 0 {
			env = append(env, map[string]any{"name": e.Name, "value": e.Value})
			changed = true
		}
	}
	setList(c, "environment", env)

	if !o.NoPtraceCap {
		lp, err := ensureObj(c, "linuxParameters", where)
		if err != nil {
			return false, err
		}
		caps, err := ensureObj(lp, "capabilities", where+".linuxParameters")
		if err != nil {
			return false, err
		}
		add, err := stringList(caps, "add", where+".linuxParameters.capabilities")
		if err != nil {
			return false, err
		}
		has := false
		for _, a := range add {
			if a == "SYS_PTRACE" || a == "CAP_SYS_PTRACE" {
				has = true
			}
		}
		if !has {
			caps["add"] = anyStrings(append(add, "SYS_PTRACE"))
			changed = true
		}
	}
	return changed, nil
}
