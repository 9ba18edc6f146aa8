package inject

import (
	"errors"
	"fmt"
)

// podResult is what injecting one pod spec did.
type podResult struct {
	changed bool
	// wrapped lists the names of the containers that run under the tracer.
	wrapped []string
	// serviceAccount is the pod's effective service account ("" = default).
	serviceAccount string
	notes          []string
}

// injectPodSpec protects the selected containers of one pod spec in place.
// podMeta is the pod (template) metadata, created on demand for labels.
// where names the spec in errors, e.g. `Deployment "shop/web" spec.template.spec`.
func injectPodSpec(spec map[string]any, podMeta func() (map[string]any, error), o Options, where string) (podResult, error) {
	var res podResult
	containers, err := list(spec, "containers", where)
	if err != nil {
		return res, err
	}
	if len(containers) == 0 {
		return res, fmt.Errorf("%s: no containers", where)
	}
	var selected []map[string]any
	for _, c := range containers {
		if n := str(c, "name"); n != SidekickName && o.wanted(n) {
			selected = append(selected, c)
		}
	}
	if len(selected) == 0 {
		res.notes = append(res.notes, fmt.Sprintf("%s: no selected container, left unchanged", where))
		return res, nil
	}

	// Wrap first: a container we cannot wrap must fail the document before
	// anything else is touched.
	var errs []error
	for _, c := range selected {
		cw := fmt.Sprintf("%s container %q", where, str(c, "name"))
		changed, err := wrapContainer(c, o, cw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res.changed = res.changed || changed
		res.wrapped = append(res.wrapped, str(c, "name"))
	}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}

	changed, err := ensureVolumes(spec, where)
	if err != nil {
		return res, err
	}
	res.changed = res.changed || changed

	changed, err = ensureInitContainers(spec, o, where)
	if err != nil {
		return res, err
	}
	res.changed = res.changed || changed

	if !o.NoSidekick && o.ClassicSidecar {
		if findNamed(containers, "name", SidekickName) < 0 {
			sk := sidekickContainer(o, false)
			containers = append(containers, sk)
			setList(spec, "containers", containers)
			res.changed = true
		}
	}

	if o.ServiceAccount != "" {
		if cur := str(spec, "serviceAccountName"); cur != o.ServiceAccount {
			if cur != "" {
				res.notes = append(res.notes, fmt.Sprintf("%s: serviceAccountName %q replaced by %q", where, cur, o.ServiceAccount))
			}
			spec["serviceAccountName"] = o.ServiceAccount
			res.changed = true
		}
	}
	res.serviceAccount = str(spec, "serviceAccountName")
	if b, ok := spec["automountServiceAccountToken"].(bool); ok && !b {
		res.notes = append(res.notes, fmt.Sprintf("%s: automountServiceAccountToken is false, so the tracer cannot read KubeArmorPolicies from the cluster; deliver policies with BLUELOCK_POLICY files or the PolicyService", where))
	}

	if o.RelayLabel {
		if o.NoSidekick || o.SidekickURL != "" {
			res.notes = append(res.notes, fmt.Sprintf("%s: --relay-label without a sidecar sidekick: the relay would dial a pod with nothing on port %d; label not added", where, LogServicePort))
		} else {
			meta, err := podMeta()
			if err != nil {
				return res, err
			}
			labels, err := ensureObj(meta, "labels", where+" metadata")
			if err != nil {
				return res, err
			}
			if labels["kubearmor-app"] != "kubearmor" {
				labels["kubearmor-app"] = "kubearmor"
				res.changed = true
			}
		}
	}
	return res, nil
}

// wrapContainer rewrites one app container's command, mounts and env.
func wrapContainer(c map[string]any, o Options, where string) (bool, error) {
	changed := false
	cmd, err := stringList(c, "command", where)
	if err != nil {
		return false, err
	}
	switch {
	case len(cmd) > 0 && cmd[0] == Wrapper:
		// Already wrapped: keep it, still make sure mounts and env exist.
	case len(cmd) == 0 && len(o.Entrypoint) == 0:
		hint := "its ENTRYPOINT followed by its CMD (the manifest has no args, so setting a command also drops the image's CMD)"
		if _, ok := c["args"]; ok {
			hint = "its ENTRYPOINT (the manifest's args replace the image's CMD and are kept)"
		}
		return false, fmt.Errorf("%s: no command in the manifest, so the image's ENTRYPOINT runs and bluelock cannot see what to wrap; "+
			"set command in the manifest or pass --entrypoint with the image's argv: %s, "+
			"e.g. from: docker image inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' %s",
			where, hint, str(c, "image"))
	default:
		if len(cmd) == 0 {
			cmd = o.Entrypoint
		}
		c["command"] = anyStrings(append([]string{Wrapper, "--"}, cmd...))
		changed = true
	}

	mounts, err := list(c, "volumeMounts", where)
	if err != nil {
		return false, err
	}
	for _, want := range []map[string]any{
		{"name": VolumeName, "mountPath": MountPath, "readOnly": true},
		{"name": PodinfoName, "mountPath": PodinfoPath, "readOnly": true},
	} {
		if i := findNamed(mounts, "mountPath", str(want, "mountPath")); i >= 0 {
			if str(mounts[i], "name") != str(want, "name") {
				return false, fmt.Errorf("%s: volumeMounts: %s is already used by volume %q; bluelock needs it for %q",
					where, str(want, "mountPath"), str(mounts[i], "name"), str(want, "name"))
			}
			continue
		}
		mounts = append(mounts, want)
		changed = true
	}
	setList(c, "volumeMounts", mounts)

	env, err := list(c, "env", where)
	if err != nil {
		return false, err
	}
	wantEnv := []map[string]any{
		{"name": "POD_NAME", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.name"}}},
		{"name": "POD_NAMESPACE", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.namespace"}}},
		{"name": "CONTAINER_NAME", "value": str(c, "name")},
		{"name": "SIDEKICK_URL", "value": o.sidekickURL()},
	}
	if img := str(c, "image"); img != "" {
		// The tag as written; the tracer has no other way to learn it on
		// Kubernetes (the image digest is only in the pod status).
		wantEnv = append(wantEnv, map[string]any{"name": "CONTAINER_IMAGE", "value": img})
	}
	if o.ClusterName != "" {
		wantEnv = append(wantEnv, map[string]any{"name": "CLUSTER_NAME", "value": o.ClusterName})
	}
	if !o.PolicyAPI {
		wantEnv = append(wantEnv,
			map[string]any{"name": "BLUELOCK_POLICY_GRPC", "value": "off"},
			map[string]any{"name": "BLUELOCK_POLICY_HTTP", "value": "off"})
	}
	for _, e := range o.Env {
		wantEnv = append(wantEnv, map[string]any{"name": e.Name, "value": e.Value})
	}
	for _, e := range wantEnv {
		// Existing variables win: the user's value, or ours from an earlier run.
		if findNamed(env, "name", str(e, "name")) >= 0 {
			continue
		}
		env = append(env, e)
		changed = true
	}
	setList(c, "env", env)
	return changed, nil
}

// ensureVolumes adds the tracer's emptyDir and the downward-API podinfo volume.
func ensureVolumes(spec map[string]any, where string) (bool, error) {
	vols, err := list(spec, "volumes", where)
	if err != nil {
		return false, err
	}
	changed := false
	for _, want := range []map[string]any{
		{"name": VolumeName, "emptyDir": map[string]any{}},
		{"name": PodinfoName, "downwardAPI": map[string]any{"items": []any{
			map[string]any{"path": "labels", "fieldRef": map[string]any{"fieldPath": "metadata.labels"}},
			map[string]any{"path": "annotations", "fieldRef": map[string]any{"fieldPath": "metadata.annotations"}},
		}}},
	} {
		name := str(want, "name")
		if i := findNamed(vols, "name", name); i >= 0 {
			kind := "emptyDir"
			if name == PodinfoName {
				kind = "downwardAPI"
			}
			if _, ok := vols[i][kind]; !ok {
				return false, fmt.Errorf("%s: volume %q exists and is not bluelock's %s; rename it", where, name, kind)
			}
			continue
		}
		vols = append(vols, want)
		changed = true
	}
	setList(spec, "volumes", vols)
	return changed, nil
}

// ensureInitContainers puts bluelock-init first and, as a native sidecar,
// the sidekick second: init containers run in order, and a native sidecar
// with a startup probe is ready before the app starts emitting.
func ensureInitContainers(spec map[string]any, o Options, where string) (bool, error) {
	inits, err := list(spec, "initContainers", where)
	if err != nil {
		return false, err
	}
	changed := false
	var head []map[string]any
	if findNamed(inits, "name", InitName) < 0 {
		head = append(head, initContainer(o))
		changed = true
	}
	if !o.NoSidekick && !o.ClassicSidecar && findNamed(inits, "name", SidekickName) < 0 {
		containers, _ := list(spec, "containers", where)
		if findNamed(containers, "name", SidekickName) < 0 {
			head = append(head, sidekickContainer(o, true))
			changed = true
		}
	}
	if changed {
		setList(spec, "initContainers", append(head, inits...))
	}
	return changed, nil
}

func restrictedSecurityContext() map[string]any {
	return map[string]any{
		"allowPrivilegeEscalation": false,
		"readOnlyRootFilesystem":   true,
		"runAsNonRoot":             true,
		"runAsUser":                65532,
		"runAsGroup":               65532,
		"capabilities":             map[string]any{"drop": []any{"ALL"}},
		"seccompProfile":           map[string]any{"type": "RuntimeDefault"},
	}
}

func initContainer(o Options) map[string]any {
	return map[string]any{
		"name":            InitName,
		"image":           o.Image,
		"imagePullPolicy": "IfNotPresent",
		"command":         []any{"/bluelock", "install", MountPath},
		"volumeMounts":    []any{map[string]any{"name": VolumeName, "mountPath": MountPath}},
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "10m", "memory": "16Mi"},
			"limits":   map[string]any{"memory": "64Mi"},
		},
		"securityContext": restrictedSecurityContext(),
	}
}

func sidekickContainer(o Options, native bool) map[string]any {
	probe := func(period, failures int) map[string]any {
		return map[string]any{
			"httpGet":          map[string]any{"path": "/healthz", "port": IngestPort},
			"periodSeconds":    period,
			"failureThreshold": failures,
		}
	}
	c := map[string]any{
		"name":            SidekickName,
		"image":           o.SidekickImage,
		"imagePullPolicy": "IfNotPresent",
		"ports": []any{
			map[string]any{"name": "sidekick-http", "containerPort": IngestPort, "protocol": "TCP"},
			map[string]any{"name": "kubearmor-grpc", "containerPort": LogServicePort, "protocol": "TCP"},
		},
		"startupProbe":   probe(1, 30),
		"readinessProbe": probe(10, 3),
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "50m", "memory": "64Mi"},
			"limits":   map[string]any{"memory": "256Mi"},
		},
		"securityContext": restrictedSecurityContext(),
	}
	if native {
		c["restartPolicy"] = "Always"
	}
	var env []any
	for _, e := range o.SidekickEnv {
		env = append(env, map[string]any{"name": e.Name, "value": e.Value})
	}
	if len(env) > 0 {
		c["env"] = env
	}
	if o.SidekickSecret != "" {
		c["envFrom"] = []any{map[string]any{"secretRef": map[string]any{"name": o.SidekickSecret}}}
	}
	return c
}
