package kubetest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bluelock/bluelock/internal/kubetest"
)

func TestCluster(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	const manifests = `apiVersion: v1
kind: Namespace
metadata: {name: kt}
---
# a comment-only document is skipped
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: kt}
data: {k: v}
`
	objs := c.Apply(t, manifests)
	if len(objs) != 2 || objs[1].GetKind() != "ConfigMap" || objs[1].GetResourceVersion() == "" {
		t.Fatalf("Apply returned %d objects: %v", len(objs), objs)
	}

	cases := []struct {
		name    string
		doc     string
		wantErr string // "" = accepted
	}{
		{name: "valid", doc: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry, namespace: kt}\n"},
		{name: "schema violation names kind and object", doc: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad, namespace: kt}\nspec: {replicas: many}\n", wantErr: "Deployment kt/bad"},
		{name: "unknown kind", doc: "apiVersion: example.com/v1\nkind: Nope\nmetadata: {name: x}\n", wantErr: "Nope x"},
	}
	for _, tc := range cases {
		t.Run("dry-run/"+tc.name, func(t *testing.T) {
			dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
			defer dcancel()
			err := c.DryRun(dctx, tc.doc)
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("DryRun = %v, want %q", err, tc.wantErr)
			}
		})
	}
	if _, err := c.Clientset().CoreV1().ConfigMaps("kt").Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a dry run stored the object: %v", err)
	}

	// A ServiceAccount has no rights until RBAC grants them; its kubeconfig works.
	sa := c.ServiceAccount(t, "kt", "reader")
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig(t, sa))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("kt").Get(ctx, "cm", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("unbound ServiceAccount: %v, want forbidden", err)
	}
	c.Apply(t, `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-cm, namespace: kt}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-cm, namespace: kt}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-cm}
subjects: [{kind: ServiceAccount, name: reader, namespace: kt}]
`)
	// The RBAC authorizer learns of the binding from a watch: until it has,
	// the answer is still "forbidden". Anything else, or the deadline, fails.
	for {
		_, err := cs.CoreV1().ConfigMaps("kt").Get(ctx, "cm", metav1.GetOptions{})
		if err == nil {
			break
		}
		if !apierrors.IsForbidden(err) {
			t.Fatalf("bound ServiceAccount: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("bound ServiceAccount still forbidden when the test's time ran out: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	c.Delete(t, manifests)
}
