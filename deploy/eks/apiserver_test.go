package eks

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/bluelock/bluelock/inject"
	"github.com/bluelock/bluelock/internal/kubetest"
)

// These tests run against a real etcd + kube-apiserver (internal/kubetest;
// `make kube-apiserver` builds the binary). They skip, saying why, when the
// binaries are missing.

var kspGVR = schema.GroupVersionResource{Group: "security.kubearmor.com", Version: "v1", Resource: "kubearmorpolicies"}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// namespacesOf returns the namespaces the manifests put objects in.
func namespacesOf(t *testing.T, manifests string) []string {
	t.Helper()
	objs, err := kubetest.Decode(manifests)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" {
			set[ns] = true
		}
		if o.GetKind() == "List" {
			items, _ := o.UnstructuredContent()["items"].([]any)
			for _, it := range items {
				m, _ := it.(map[string]any)
				meta, _ := m["metadata"].(map[string]any)
				if ns, _ := meta["namespace"].(string); ns != "" {
					set[ns] = true
				}
			}
		}
	}
	var out []string
	for ns := range set {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// manifestsToDryRun are the shipped manifests (examples included: they are
// valid inputs) and every Kubernetes output of bluelock inject's golden tests.
func manifestsToDryRun(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range manifestFiles(t) {
		out["deploy/eks/"+f] = readString(t, f)
	}
	golden, err := filepath.Glob(filepath.Join("..", "..", "inject", "testdata", "*.out.yaml"))
	if err != nil || len(golden) == 0 {
		t.Fatalf("no inject goldens: %v", err)
	}
	for _, g := range golden {
		out["inject/testdata/"+filepath.Base(g)] = expandLists(t, readString(t, g))
	}
	return out
}

// expandLists replaces each kind: List document by its items, as kubectl
// does on the client side (the API server has no List resource to apply).
func expandLists(t *testing.T, manifests string) string {
	t.Helper()
	objs, err := kubetest.Decode(manifests)
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, o := range objs {
		items := []any{o.UnstructuredContent()}
		if o.GetKind() == "List" {
			items, _ = o.UnstructuredContent()["items"].([]any)
		}
		for _, it := range items {
			b, err := yaml.Marshal(it)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, string(b))
		}
	}
	return strings.Join(docs, "---\n")
}

func TestServerSideDryRun(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	// The CRD must really exist (and be established) before policies can be
	// dry-run; namespaced objects need their namespace to exist.
	c.Apply(t, readString(t, "crd-kubearmorpolicy.yaml"))
	all := manifestsToDryRun(t)
	names := make([]string, 0, len(all))
	for name, m := range all {
		names = append(names, name)
		for _, ns := range namespacesOf(t, m) {
			c.EnsureNamespace(t, ns)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if err := c.DryRun(ctx, all[name]); err != nil {
				t.Errorf("server-side dry run of %s:\n%v", name, err)
			}
		})
	}

	// The CRD's schema is enforced: upstream-invalid policies are refused.
	bad := []struct{ name, spec, want string }{
		{"severity 11", "severity: 11\n  selector: {matchLabels: {app: x}}\n  process: {matchPaths: [{path: /bin/sh}]}\n  action: Block", "spec.severity"},
		{"dir without slash", "selector: {matchLabels: {app: x}}\n  file: {matchDirectories: [{dir: /etc}]}\n  action: Block", "spec.file.matchDirectories[0].dir"},
		{"path with slash", "selector: {matchLabels: {app: x}}\n  file: {matchPaths: [{path: /etc/}]}\n  action: Block", "spec.file.matchPaths[0].path"},
		{"unknown action", "selector: {matchLabels: {app: x}}\n  process: {matchPaths: [{path: /bin/sh}]}\n  action: Deny", "spec.action"},
		{"unknown protocol", "selector: {matchLabels: {app: x}}\n  network: {matchProtocols: [{protocol: http}]}\n  action: Block", "spec.network.matchProtocols[0].protocol"},
		{"dir required", "selector: {matchLabels: {app: x}}\n  file: {matchDirectories: [{recursive: true}]}\n  action: Block", "dir"},
	}
	for _, b := range bad {
		t.Run("refused/"+b.name, func(t *testing.T) {
			doc := "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: bad, namespace: bluelock-demo}\nspec:\n  " + b.spec + "\n"
			err := c.DryRun(ctx, doc)
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Errorf("dry run = %v, want a validation error naming %s", err, b.want)
			}
		})
	}
}

// TestRBACLeastPrivilege applies rbac.yaml for real and checks, with the
// service account's own token, that it can do what the tracer needs and
// nothing next to it.
func TestRBACLeastPrivilege(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c.Apply(t, readString(t, "crd-kubearmorpolicy.yaml"))
	c.Apply(t, readString(t, "rbac.yaml"))
	c.EnsureNamespace(t, "other")
	c.Apply(t, readString(t, filepath.Join("policies", "ksp-sa-token-lenient.yaml")))
	demo, err := inject.Inject([]byte(readString(t, filepath.Join("examples", "demo-app.yaml"))), demoInject)
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(t, string(demo.Output))

	cfg := c.ServiceAccount(t, "bluelock-demo", "bluelock")
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	allowed := func(err error) bool { return err == nil || apierrors.IsNotFound(err) }

	cases := []struct {
		name string
		call func() error
		want bool
	}{
		{"list policies in its namespace", func() error {
			_, err := dyn.Resource(kspGVR).Namespace("bluelock-demo").List(ctx, metav1.ListOptions{})
			return err
		}, true},
		{"watch policies in its namespace", func() error {
			w, err := dyn.Resource(kspGVR).Namespace("bluelock-demo").Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		}, true},
		{"get a pod in its namespace", func() error {
			_, err := cs.CoreV1().Pods("bluelock-demo").Get(ctx, "armored-app-0", metav1.GetOptions{})
			return err
		}, true},
		{"get its namespace", func() error {
			_, err := cs.CoreV1().Namespaces().Get(ctx, "bluelock-demo", metav1.GetOptions{})
			return err
		}, true},
		{"watch its namespace by field selector", func() error {
			w, err := cs.CoreV1().Namespaces().Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=bluelock-demo"})
			if err == nil {
				w.Stop()
			}
			return err
		}, true},
		{"list policies in another namespace", func() error {
			_, err := dyn.Resource(kspGVR).Namespace("other").List(ctx, metav1.ListOptions{})
			return err
		}, false},
		{"list policies cluster-wide", func() error {
			_, err := dyn.Resource(kspGVR).List(ctx, metav1.ListOptions{})
			return err
		}, false},
		{"list pods", func() error {
			_, err := cs.CoreV1().Pods("bluelock-demo").List(ctx, metav1.ListOptions{})
			return err
		}, false},
		{"get another namespace", func() error {
			_, err := cs.CoreV1().Namespaces().Get(ctx, "other", metav1.GetOptions{})
			return err
		}, false},
		{"list all namespaces", func() error {
			_, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			return err
		}, false},
		{"read secrets", func() error {
			_, err := cs.CoreV1().Secrets("bluelock-demo").List(ctx, metav1.ListOptions{})
			return err
		}, false},
		{"change a policy", func() error {
			return dyn.Resource(kspGVR).Namespace("bluelock-demo").Delete(ctx, "ksp-armored-lenient-allow-sa", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if got := allowed(err); got != tc.want {
				t.Errorf("allowed = %v (err %v), want %v", got, err, tc.want)
			}
			if !tc.want && !apierrors.IsForbidden(err) {
				t.Errorf("want Forbidden, got %v", err)
			}
		})
	}
}
