package k8s_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/bluelock/bluelock/internal/kubetest"
	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/policy/source/internal/docs"
	"github.com/bluelock/bluelock/policy/source/k8s"
)

// recorder is a fake store: every Apply and SetOptions lands on a channel.
type recorder struct {
	mu    sync.Mutex
	opts  policy.Options
	sets  chan []string
	optsc chan policy.Options
}

func newRecorder() *recorder {
	return &recorder{sets: make(chan []string, 64), optsc: make(chan policy.Options, 64)}
}

func (r *recorder) Apply(source string, ps []policy.KubeArmorPolicy) error {
	var names []string
	for _, p := range ps {
		if p.Metadata.Name == "engine-rejects" || strings.Contains(p.Origin, "engine-rejects") {
			return errors.New("engine: spec.process.matchPaths[0]: path and execname are mutually exclusive")
		}
		names = append(names, p.Metadata.Name)
	}
	slices.Sort(names)
	r.sets <- names
	return nil
}

func (r *recorder) Options() policy.Options {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opts
}

func (r *recorder) SetOptions(o policy.Options) error {
	r.mu.Lock()
	r.opts = o
	r.mu.Unlock()
	r.optsc <- o
	return nil
}

// parse stands in for policy.Parse: a spec containing "INVALID" is refused.
func parse(data []byte, origin string) ([]policy.KubeArmorPolicy, error) {
	if strings.Contains(string(data), "INVALID") {
		return nil, fmt.Errorf("%s: spec.file.matchPaths[0].path: invalid path \"INVALID\"", origin)
	}
	ds, err := docs.Split(data)
	if err != nil || len(ds) != 1 {
		return nil, fmt.Errorf("%s: %v", origin, err)
	}
	var p policy.KubeArmorPolicy
	p.Metadata.Name = ds[0].Name
	p.Origin = origin
	return []policy.KubeArmorPolicy{p}, nil
}

// A minimal CRD without a schema, so an invalid spec reaches the engine.
const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: kubearmorpolicies.security.kubearmor.com
spec:
  group: security.kubearmor.com
  names: {kind: KubeArmorPolicy, listKind: KubeArmorPolicyList, plural: kubearmorpolicies, singular: kubearmorpolicy, shortNames: [ksp]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

func ksp(ns, name, path string) string {
	return fmt.Sprintf(`apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: %s, namespace: %s}
spec:
  selector: {matchLabels: {app: web}}
  file:
    matchPaths:
    - path: %s
  action: Block
`, name, ns, path)
}

func rbac(t *testing.T, ns string) string {
	b, err := os.ReadFile("testdata/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "NS", ns)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func logger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return quiet
}

func run(t *testing.T, ctx context.Context, src *k8s.Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func next[T any](t *testing.T, ctx context.Context, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// nextSet skips sets until one equals want.
func nextSet(t *testing.T, ctx context.Context, r *recorder, want ...string) {
	t.Helper()
	var last []string
	for {
		select {
		case got := <-r.sets:
			if slices.Equal(got, want) {
				return
			}
			last = got
		case <-ctx.Done():
			t.Fatalf("set %v never applied (last %v)", want, last)
		}
	}
}

func TestKubernetesSource(t *testing.T) {
	c := kubetest.Start(t)
	c.Apply(t, crd)
	const ns = "shop"
	c.Apply(t, rbac(t, ns))
	restricted := c.ServiceAccount(t, ns, "bluelock")

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// The pod exists only as an object: no kubelet. No podinfo files, so the
	// source must GET it with the restricted identity.
	_, err := c.Clientset().CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Labels: map[string]string{"app": "web", "pod-template-hash": "x1"},
			Annotations: map[string]string{"kubearmor-policy": "audited"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(t, ksp(ns, "p1", "/etc/one"))
	c.Apply(t, ksp("default", "elsewhere", "/etc/other-namespace"))

	rec := newRecorder()
	rec.opts = policy.Options{ContainerName: "web", FilePosture: policy.PostureAudit}
	src, err := k8s.New(k8s.Config{RestConfig: restricted, PodName: "web-1", Namespace: ns, PodInfoDir: t.TempDir(), Parse: parse}, rec, rec, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, src)

	o := next(t, ctx, rec.optsc, "options")
	if !maps.Equal(o.Labels, map[string]string{"app": "web"}) || o.Namespace != ns || !o.Audited || o.ContainerName != "web" {
		t.Fatalf("options %+v: want labels from the pod (pod-template-hash dropped), namespace, audited, container name kept", o)
	}
	nextSet(t, ctx, rec, "p1")
	select {
	case <-src.Ready():
	case <-ctx.Done():
		t.Fatal("not ready")
	}

	events := func(name string) <-chan *corev1.Event {
		w, err := c.Clientset().CoreV1().Events(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
		if err != nil {
			t.Fatal(err)
		}
		out := make(chan *corev1.Event, 8)
		go func() {
			defer w.Stop()
			for ev := range w.ResultChan() {
				if e, ok := ev.Object.(*corev1.Event); ok {
					out <- e
				}
			}
		}()
		return out
	}

	steps := []struct {
		name   string
		do     func()
		want   []string
		event  string // a Warning Event on this object is expected
		reason string
	}{
		{name: "add", do: func() { c.Apply(t, ksp(ns, "p2", "/etc/two")) }, want: []string{"p1", "p2"}},
		{name: "update", do: func() { c.Apply(t, ksp(ns, "p2", "/etc/two-b")) }, want: []string{"p1", "p2"}},
		{name: "invalid update keeps the old version", do: func() { c.Apply(t, ksp(ns, "p2", "INVALID")) }, event: "p2",
			reason: "spec.file.matchPaths[0].path"},
		{name: "engine rejection of a new object", do: func() { c.Apply(t, ksp(ns, "engine-rejects", "/x")) }, event: "engine-rejects",
			reason: "mutually exclusive"},
		{name: "others still apply next to a refused object", do: func() { c.Apply(t, ksp(ns, "p3", "/etc/three")) }, want: []string{"p1", "p2", "p3"}},
		{name: "delete lifts", do: func() { c.Delete(t, ksp(ns, "p1", "/")) }, want: []string{"p2", "p3"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var evc <-chan *corev1.Event
			if st.event != "" {
				evc = events(st.event)
			}
			st.do()
			if st.want != nil {
				nextSet(t, ctx, rec, st.want...)
			}
			if evc != nil {
				e := next(t, ctx, evc, "Event on "+st.event)
				if e.Type != corev1.EventTypeWarning || e.Reason != "InvalidPolicy" || !strings.Contains(e.Message, st.reason) ||
					e.InvolvedObject.Kind != "KubeArmorPolicy" || e.Source.Component != "bluelock" {
					t.Fatalf("event %s %s %q on %+v", e.Type, e.Reason, e.Message, e.InvolvedObject)
				}
				select {
				case got := <-rec.sets:
					// A refusal may re-apply the unchanged set; it must not lose p2.
					if !slices.Contains(got, "p2") && st.event == "p2" {
						t.Fatalf("set %v lost the last good p2", got)
					}
				default:
				}
			}
		})
	}

	t.Run("namespace posture annotations", func(t *testing.T) {
		nsObj, err := c.Clientset().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		nsObj.Annotations = map[string]string{"kubearmor-file-posture": "block", "kubearmor-network-posture": "nonsense"}
		if _, err := c.Clientset().CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		for {
			o := next(t, ctx, rec.optsc, "options with block posture")
			if o.FilePosture == policy.PostureBlock {
				if o.NetworkPosture != "" {
					t.Fatalf("invalid network posture annotation applied: %+v", o)
				}
				return
			}
		}
	})
}

// TestForbiddenNeverReady: without RBAC the gate must not open, and the
// reason must say so.
func TestForbiddenNeverReady(t *testing.T) {
	c := kubetest.Start(t)
	c.Apply(t, crd)
	const ns = "locked"
	nobody := c.ServiceAccount(t, ns, "nobody")
	dir := t.TempDir()
	for name, content := range map[string]string{"labels": "app=\"web\"\n", "annotations": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rec := newRecorder()
	src, err := k8s.New(k8s.Config{RestConfig: nobody, PodName: "web-1", Namespace: ns, PodInfoDir: dir, Parse: parse}, rec, rec, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	run(t, ctx, src)
	tick := time.NewTicker(50 * time.Millisecond) // no event says "the reflector logged an error"
	defer tick.Stop()
	for {
		select {
		case <-src.Ready():
			t.Fatal("ready without RBAC")
		case <-ctx.Done():
			t.Fatalf("no forbidden error recorded; Err() = %v", src.Err())
		case <-tick.C:
		}
		if err := src.Err(); err != nil && strings.Contains(err.Error(), "forbidden") {
			if !strings.Contains(err.Error(), "RBAC") {
				t.Fatalf("Err() = %v, want an RBAC hint", err)
			}
			return
		}
	}
}

func TestPodInfo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{name: "downward api format", in: "app=\"web\"\nkubearmor.io/container.name=\"[a, b]\"\nquote=\"a\\\"b\\n\"\n", want: map[string]string{"app": "web", "kubearmor.io/container.name": "[a, b]", "quote": "a\"b\n"}},
		{name: "empty", in: "", want: map[string]string{}},
		{name: "no equals", in: "app\n", wantErr: true},
		{name: "unquoted", in: "app=web\n", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := k8s.ParsePodInfo([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tc.wantErr && !maps.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
