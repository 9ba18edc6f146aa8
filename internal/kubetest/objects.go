package kubetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// FieldManager names kubetest's server-side applies.
const FieldManager = "kubetest"

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// Decode splits multi-document YAML (or JSON) into objects; empty documents
// are skipped.
func Decode(manifests string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for i, doc := range splitDocs(manifests) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		out = append(out, u)
	}
	return out, nil
}

func splitDocs(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimPrefix(line, "---")) == "" {
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	return append(out, cur.String())
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// Apply server-side applies every document of manifests as admin and returns
// the objects as stored. CRDs are waited on until established and served.
func (c *Cluster) Apply(t testing.TB, manifests string) []*unstructured.Unstructured {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := c.ApplyContext(ctx, manifests, false)
	if err != nil {
		t.Fatalf("kubetest: apply: %v", err)
	}
	return out
}

// DryRun server-side applies manifests with dryRun=All: nothing is stored,
// but schema validation, admission and RBAC of the admin identity run. The
// error joins one error per refused document, naming kind and name.
func (c *Cluster) DryRun(ctx context.Context, manifests string) error {
	_, err := c.ApplyContext(ctx, manifests, true)
	return err
}

// ApplyContext is Apply without a testing.TB. With dryRun, every document is
// tried and the errors are joined.
func (c *Cluster) ApplyContext(ctx context.Context, manifests string, dryRun bool) ([]*unstructured.Unstructured, error) {
	objs, err := Decode(manifests)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	var errs []error
	for _, obj := range objs {
		got, err := c.applyOne(ctx, obj, dryRun)
		if err != nil {
			err = fmt.Errorf("%s %s: %w", obj.GetKind(), objName(obj), err)
			if !dryRun {
				return out, err
			}
			errs = append(errs, err)
			continue
		}
		out = append(out, got)
	}
	return out, errors.Join(errs...)
}

func objName(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return ns + "/" + u.GetName()
	}
	return u.GetName()
}

// noMatchRetry bounds how long an unknown kind is retried: long enough for a
// CRD established a moment ago to appear in discovery.
const noMatchRetry = 3 * time.Second

// resource maps obj's kind to a dynamic resource client, refreshing the
// discovery cache while a just-created CRD is not served yet.
func (c *Cluster) resource(ctx context.Context, obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	ctx, cancel := context.WithTimeout(ctx, noMatchRetry)
	defer cancel()
	gvk := obj.GroupVersionKind()
	var mapping *meta.RESTMapping
	var err error
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		c.mapMu.Lock()
		mapping, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil && meta.IsNoMatchError(err) {
			c.mapper.Reset()
		}
		c.mapMu.Unlock()
		if err == nil || !meta.IsNoMatchError(err) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-tick.C:
		}
	}
	if err != nil {
		return nil, err
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = "default"
			obj.SetNamespace(ns)
		}
		return c.dyn.Resource(mapping.Resource).Namespace(ns), nil
	}
	return c.dyn.Resource(mapping.Resource), nil
}

func (c *Cluster) applyOne(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	ri, err := c.resource(ctx, obj)
	if err != nil {
		return nil, err
	}
	data, err := obj.MarshalJSON()
	if err != nil {
		return nil, err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	got, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	if err != nil {
		return nil, err
	}
	if !dryRun && obj.GroupVersionKind().GroupKind() == (schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}) {
		if err := c.waitEstablished(ctx, obj.GetName()); err != nil {
			return nil, err
		}
	}
	return got, nil
}

// waitEstablished watches a CRD until its Established condition is True.
func (c *Cluster) waitEstablished(ctx context.Context, name string) error {
	established := func(u *unstructured.Unstructured) bool {
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, cd := range conds {
			m, _ := cd.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true
			}
		}
		return false
	}
	ri := c.dyn.Resource(crdGVR)
	cur, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if established(cur) {
		return nil
	}
	w, err := ri.Watch(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
		ResourceVersion: cur.GetResourceVersion(),
	})
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", name, ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return c.waitEstablished(ctx, name)
			}
			if u, isU := ev.Object.(*unstructured.Unstructured); isU && ev.Type != watch.Deleted && established(u) {
				return nil
			}
		}
	}
}

// Delete deletes every object of manifests (missing ones are fine).
func (c *Cluster) Delete(t testing.TB, manifests string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	objs, err := Decode(manifests)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		ri, err := c.resource(ctx, obj)
		if err != nil {
			t.Fatalf("kubetest: delete %s %s: %v", obj.GetKind(), objName(obj), err)
		}
		if err := ri.Delete(ctx, obj.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("kubetest: delete %s %s: %v", obj.GetKind(), objName(obj), err)
		}
	}
}

// ServiceAccount creates namespace ns (if needed) and ServiceAccount name in
// it, and returns a rest.Config authenticating as that ServiceAccount with a
// real token from the TokenRequest API. It has no rights until RBAC grants
// them (Apply a Role and RoleBinding).
func (c *Cluster) ServiceAccount(t testing.TB, ns, name string) *rest.Config {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c.EnsureNamespace(t, ns)
	_, err := c.cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("kubetest: create ServiceAccount %s/%s: %v", ns, name, err)
	}
	exp := int64(3600)
	tr, err := c.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: token for ServiceAccount %s/%s: %v", ns, name, err)
	}
	return &rest.Config{
		Host:            c.URL,
		BearerToken:     tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.caPEM},
	}
}

// EnsureNamespace creates ns unless it exists.
func (c *Cluster) EnsureNamespace(t testing.TB, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("kubetest: create namespace %s: %v", ns, err)
	}
}

// Kubeconfig writes a kubeconfig file for cfg (token and CA data) and
// returns its path.
func (c *Cluster) Kubeconfig(t testing.TB, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.TLSClientConfig.CAData}
	kc.AuthInfos["kubetest"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "kubetest"}
	kc.CurrentContext = "kubetest"
	f, err := newTempFile(t.TempDir(), "kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.WriteToFile(*kc, f); err != nil {
		t.Fatal(err)
	}
	return f
}
