package inject

import (
	"errors"
	"fmt"
	"strings"
)

// The tracer's Kubernetes policy source needs, in the workload's namespace:
// its own pod (get, a fallback when the downward-API files are missing; names
// are generated, so resourceNames cannot narrow it), KubeArmorPolicies
// (get/list/watch) and events (create, patch: InvalidPolicy warnings on the
// policy object, patched when repeated); cluster-wide: only its own Namespace object (get/list/
// watch with resourceNames, for the kubearmor-*-posture annotations; list and
// watch are authorised by resourceNames when the client uses a
// metadata.name field selector). If you change these rules, also change
// deploy/eks/rbac.yaml and docs/eks.md.

func roleRules() []any {
	return []any{
		map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"}, "verbs": []any{"get"}},
		map[string]any{"apiGroups": []any{"security.kubearmor.com"}, "resources": []any{"kubearmorpolicies"}, "verbs": []any{"get", "list", "watch"}},
		map[string]any{"apiGroups": []any{""}, "resources": []any{"events"}, "verbs": []any{"create", "patch"}},
	}
}

func (run *k8sRun) rbacSubjects() ([]saKey, error) {
	var errs []error
	var out []saKey
	seen := map[saKey]bool{}
	for _, k := range run.sortedAccounts() {
		if k.namespace == "" {
			k.namespace = run.o.Namespace
		}
		if k.namespace == "" {
			errs = append(errs, errors.New("--rbac: a protected workload has no metadata.namespace; pass --namespace"))
			continue
		}
		if k.name == "" || k.name == "default" {
			errs = append(errs, fmt.Errorf("--rbac: a protected workload in namespace %q uses the default service account; pass --service-account so the grant does not reach every pod of the namespace", k.namespace))
			continue
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, errors.Join(errs...)
}

func (run *k8sRun) rbacDocuments() ([][]byte, error) {
	subjects, err := run.rbacSubjects()
	if err != nil {
		return nil, err
	}
	var objs []map[string]any
	roleDone := map[string]bool{}
	for _, s := range subjects {
		meta := func(name string) map[string]any {
			return map[string]any{"name": name, "namespace": s.namespace, "labels": map[string]any{"app.kubernetes.io/part-of": "bluelock"}}
		}
		clusterMeta := func(name string) map[string]any {
			return map[string]any{"name": name, "labels": map[string]any{"app.kubernetes.io/part-of": "bluelock"}}
		}
		subject := []any{map[string]any{"kind": "ServiceAccount", "name": s.name, "namespace": s.namespace}}
		nsRole := "bluelock-namespace-" + s.namespace
		objs = append(objs, map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(s.name)})
		if !roleDone[s.namespace] {
			roleDone[s.namespace] = true
			objs = append(objs,
				map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta("bluelock-tracer"), "rules": roleRules()},
				map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": clusterMeta(nsRole), "rules": []any{
					map[string]any{"apiGroups": []any{""}, "resources": []any{"namespaces"}, "resourceNames": []any{s.namespace}, "verbs": []any{"get", "list", "watch"}},
				}},
			)
		}
		objs = append(objs,
			map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta("bluelock-tracer-" + s.name),
				"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bluelock-tracer"},
				"subjects": subject},
			map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": clusterMeta(nsRole + "-" + s.name),
				"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": nsRole},
				"subjects": subject},
		)
	}
	docs := make([][]byte, 0, len(objs))
	for _, o := range objs {
		meta, _ := o["metadata"].(map[string]any)
		if run.present[objectKey(str(o, "kind"), str(meta, "namespace"), str(meta, "name"))] {
			continue
		}
		b, err := encodeYAML(o)
		if err != nil {
			return nil, fmt.Errorf("rbac %s: %w", str(o, "kind"), err)
		}
		docs = append(docs, b)
	}
	return docs, nil
}

// rbacHint tells the user what the tracer needs when --rbac was not given.
func (run *k8sRun) rbacHint() string {
	var who []string
	for _, k := range run.sortedAccounts() {
		ns, name := k.namespace, k.name
		if ns == "" {
			ns = "<namespace>"
		}
		if name == "" {
			name = "default"
		}
		who = append(who, ns+"/"+name)
	}
	return "RBAC: to read KubeArmorPolicies from the cluster, service account(s) " + strings.Join(who, ", ") +
		" need: pods get, kubearmorpolicies.security.kubearmor.com get/list/watch, events create/patch (Role in the namespace) and" +
		" namespaces get/list/watch on their own namespace only (ClusterRole with resourceNames); rerun with --rbac (and --service-account) to emit them," +
		" or see deploy/eks/rbac.yaml. Not needed when policies come from files or the PolicyService."
}
