package k8s

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/policy/source/internal/ready"
)

// PolicyGVR is the KubeArmorPolicy resource.
var PolicyGVR = schema.GroupVersionResource{Group: "security.kubearmor.com", Version: "v1", Resource: "kubearmorpolicies"}

var (
	namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	podsGVR       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	eventsGVR     = schema.GroupVersionResource{Version: "v1", Resource: "events"}
)

// Annotations read by this source (KubeArmor's names).
const (
	AnnotationFilePosture         = "kubearmor-file-posture"
	AnnotationNetworkPosture      = "kubearmor-network-posture"
	AnnotationCapabilitiesPosture = "kubearmor-capabilities-posture"
	AnnotationPolicy              = "kubearmor-policy"
)

// SourceName is the name under which this source's set reaches the sink.
const SourceName = "kubernetes"

// DefaultResync is the informers' resync period.
const DefaultResync = 5 * time.Minute

// Sink receives the full set of policies of one source (policy.Store).
type Sink interface {
	Apply(source string, policies []policy.KubeArmorPolicy) error
}

// OptionsSink holds the identity and postures (policy.Store).
type OptionsSink interface {
	Options() policy.Options
	SetOptions(policy.Options) error
}

// ParseFunc parses one object; origin names it in errors.
type ParseFunc func(data []byte, origin string) ([]policy.KubeArmorPolicy, error)

// Config configures the source.
type Config struct {
	// Kubeconfig, when set, is used instead of the in-cluster service account.
	Kubeconfig string
	// RestConfig, when set, overrides both (tests).
	RestConfig *rest.Config
	PodName    string
	Namespace  string
	PodInfoDir string
	Resync     time.Duration
	Parse      ParseFunc
}

// Source watches the namespace's KubeArmorPolicies.
type Source struct {
	cfg    Config
	sink   Sink
	opts   OptionsSink
	logger *slog.Logger
	ready  *ready.Signal

	// Owned by the Run goroutine.
	applied  map[string]appliedPolicy
	rejected map[string]string // name → refused resourceVersion
	base     policy.Options
	lastOpts *policy.Options
	recorder record.EventRecorder
	errMu    sync.Mutex
	lastErr  string
}

type appliedPolicy struct {
	rv string
	p  policy.KubeArmorPolicy
}

// New returns the source; nothing touches the network before Run.
func New(cfg Config, sink Sink, opts OptionsSink, logger *slog.Logger) (*Source, error) {
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Parse == nil {
		cfg.Parse = policy.Parse
	}
	s := &Source{cfg: cfg, sink: sink, opts: opts, logger: logger.With("source", SourceName), ready: ready.New(),
		applied: map[string]appliedPolicy{}, rejected: map[string]string{}}
	s.ready.SetErr(errors.New("not synced yet"))
	return s, nil
}

// Name is the source name.
func (s *Source) Name() string { return SourceName }

// Ready is closed once the namespace's set has been applied.
func (s *Source) Ready() <-chan struct{} { return s.ready.Ready() }

// Err says why the source has not delivered.
func (s *Source) Err() error { return s.ready.Err() }

func (s *Source) restConfig() (*rest.Config, error) {
	if s.cfg.RestConfig != nil {
		return rest.CopyConfig(s.cfg.RestConfig), nil
	}
	if s.cfg.Kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", s.cfg.Kubeconfig)
	}
	return rest.InClusterConfig()
}

// Run watches until ctx ends. It returns an error only for problems retrying
// cannot fix (no configuration, no identity).
func (s *Source) Run(ctx context.Context) error {
	rc, err := s.restConfig()
	if err != nil {
		return fmt.Errorf("kubernetes client configuration: %w", err)
	}
	rc.UserAgent = "bluelock"
	// Only the dynamic client: the typed clientset, informers and scheme
	// would link every API group into a binary copied into each protected
	// pod (about 25 MB).
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	id, err := identity(ctx, s.cfg, dyn)
	if err != nil {
		return err
	}
	s.logger = s.logger.With("namespace", id.Namespace, "pod", id.PodName)
	s.base = s.opts.Options()
	s.base.Namespace = id.Namespace
	s.base.Labels = id.Labels
	if v := id.Annotations[AnnotationPolicy]; v != "" && v != "enabled" {
		switch v {
		case "audited":
			s.base.Audited = true
		default:
			// KubeArmor's "disabled" turns enforcement off; a wrapper that was
			// put in front of the app on purpose keeps enforcing instead.
			s.logger.Warn("pod annotation not supported; enforcing", "annotation", AnnotationPolicy, "value", v)
		}
	}
	s.logger.Info("pod identity", "labels", id.Labels, "audited", s.base.Audited, "from_api", id.FromAPI)

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&eventSink{ctx: ctx, events: dyn.Resource(eventsGVR).Namespace(id.Namespace), logger: s.logger})
	evScheme := runtime.NewScheme()
	if err := corev1.AddToScheme(evScheme); err != nil {
		return err
	}
	s.recorder = broadcaster.NewRecorder(evScheme, corev1.EventSource{Component: "bluelock", Host: id.PodName})

	kick := make(chan struct{}, 1)
	notify := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}

	policies := dyn.Resource(PolicyGVR).Namespace(id.Namespace)
	pinf := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return policies.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return policies.Watch(ctx, o)
		},
	}, &unstructured.Unstructured{}, s.cfg.Resync, cache.Indexers{})
	if err := pinf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		s.watchError("kubearmorpolicies", id.Namespace, err)
	}); err != nil {
		return err
	}
	if _, err := pinf.AddEventHandler(handler); err != nil {
		return err
	}
	synced := []cache.InformerSynced{pinf.HasSynced}

	// The namespace: a GET first, so missing RBAC is a warning (postures fall
	// back to the configured defaults) rather than a gate that never opens.
	var nsAnnotations func() map[string]string
	namespaces := dyn.Resource(namespacesGVR)
	if _, err := namespaces.Get(ctx, id.Namespace, metav1.GetOptions{}); err != nil {
		s.logger.Warn("cannot read the namespace; posture annotations are ignored, configured postures apply", "err", err)
	} else {
		byName := fields.OneTermEqualSelector("metadata.name", id.Namespace).String()
		ninf := cache.NewSharedIndexInformer(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = byName
				return namespaces.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = byName
				return namespaces.Watch(ctx, o)
			},
		}, &unstructured.Unstructured{}, s.cfg.Resync, cache.Indexers{})
		if err := ninf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			s.watchError("namespaces", id.Namespace, err)
		}); err != nil {
			return err
		}
		if _, err := ninf.AddEventHandler(handler); err != nil {
			return err
		}
		synced = append(synced, ninf.HasSynced)
		nsAnnotations = func() map[string]string {
			obj, ok, err := ninf.GetStore().GetByKey(id.Namespace)
			if err != nil || !ok {
				return nil
			}
			u, _ := obj.(*unstructured.Unstructured)
			return u.GetAnnotations()
		}
		go ninf.RunWithContext(ctx)
	}
	go pinf.RunWithContext(ctx)

	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil // ctx ended
	}
	s.logger.Info("watching KubeArmorPolicies", "resync", s.cfg.Resync)
	for {
		var annotations map[string]string
		if nsAnnotations != nil {
			annotations = nsAnnotations()
		}
		s.reconcileOptions(annotations)
		if s.reconcilePolicies(pinf.GetStore().List()) {
			s.ready.Done()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		}
	}
}

func (s *Source) watchError(what, ns string, err error) {
	msg := fmt.Sprintf("list/watch %s in %s: %v", what, ns, err)
	if apierrors.IsNotFound(err) && what == "kubearmorpolicies" {
		msg += " (is the KubeArmorPolicy CRD installed?)"
	}
	if apierrors.IsForbidden(err) {
		msg += " (RBAC: see docs/policy-delivery.md)"
	}
	if !s.ready.IsReady() {
		s.ready.SetErr(errors.New(msg))
	}
	s.errMu.Lock()
	repeat := msg == s.lastErr
	s.lastErr = msg
	s.errMu.Unlock()
	if !repeat {
		s.logger.Warn("kubernetes watch error; retrying with backoff", "err", msg)
	}
}

// reconcileOptions applies the namespace posture annotations.
func (s *Source) reconcileOptions(annotations map[string]string) {
	o := s.base
	o.Labels = maps.Clone(s.base.Labels)
	{
		for _, a := range []struct {
			key string
			v   *policy.Posture
		}{
			{AnnotationFilePosture, &o.FilePosture},
			{AnnotationNetworkPosture, &o.NetworkPosture},
			{AnnotationCapabilitiesPosture, &o.CapabilitiesPosture},
		} {
			raw, ok := annotations[a.key]
			if !ok {
				continue
			}
			p, err := policy.ParsePosture(raw)
			if err != nil || p == policy.PostureAllow {
				// KubeArmor overwrites an invalid annotation with the global default.
				s.logger.Warn("invalid namespace posture annotation ignored", "annotation", a.key, "value", raw)
				continue
			}
			*a.v = p
		}
	}
	if s.lastOpts != nil && optionsEqual(*s.lastOpts, o) {
		return
	}
	if err := s.opts.SetOptions(o); err != nil {
		s.logger.Error("set options", "err", err)
	}
	s.lastOpts = &o
	s.logger.Info("options in force", "file_posture", o.FilePosture, "network_posture", o.NetworkPosture,
		"capabilities_posture", o.CapabilitiesPosture, "audited", o.Audited)
}

func optionsEqual(a, b policy.Options) bool {
	return a.ContainerName == b.ContainerName && a.Namespace == b.Namespace && maps.Equal(a.Labels, b.Labels) &&
		a.FilePosture == b.FilePosture && a.NetworkPosture == b.NetworkPosture &&
		a.CapabilitiesPosture == b.CapabilitiesPosture && a.Audited == b.Audited
}

type candidate struct {
	name string
	rv   string
	p    policy.KubeArmorPolicy
	obj  *unstructured.Unstructured
}

// reconcilePolicies brings the sink in line with objs. It reports whether
// the sink now holds a complete set (every object applied or reported).
func (s *Source) reconcilePolicies(objs []any) bool {
	current := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		current[u.GetName()] = u
	}
	for name := range s.rejected {
		if _, ok := current[name]; !ok {
			delete(s.rejected, name)
		}
	}
	kept := map[string]appliedPolicy{}
	var cands []candidate
	for _, name := range slices.Sorted(maps.Keys(current)) {
		u := current[name]
		rv := u.GetResourceVersion()
		old, had := s.applied[name]
		if had && old.rv == rv {
			kept[name] = old
			continue
		}
		if s.rejected[name] == rv {
			if had {
				kept[name] = old
			}
			continue
		}
		p, err := s.parse(u)
		if err != nil {
			s.reject(u, err, had)
			if had {
				kept[name] = old
			}
			continue
		}
		cands = append(cands, candidate{name: name, rv: rv, p: p, obj: u})
	}
	deleted := false
	for name := range s.applied {
		if _, ok := current[name]; !ok {
			deleted = true
		}
	}
	if len(cands) == 0 && !deleted && s.ready.IsReady() {
		return true
	}

	// All changes at once: the common case, one Apply.
	all := maps.Clone(kept)
	for _, c := range cands {
		all[c.name] = appliedPolicy{rv: c.rv, p: c.p}
	}
	err := s.sink.Apply(SourceName, list(all))
	if err == nil {
		s.commit(all, cands)
		return true
	}

	// Find the culprits: start from the last good versions (deletions
	// applied) and add the changes one at a time. A single change is the
	// culprit by itself.
	cur := maps.Clone(kept)
	for _, c := range cands {
		if old, ok := s.applied[c.name]; ok {
			cur[c.name] = old
		}
	}
	try := cands
	if len(cands) == 1 {
		s.reject(cands[0].obj, err, s.has(cands[0].name))
		try = nil
	}
	if err := s.sink.Apply(SourceName, list(cur)); err != nil {
		// Only changed options can make the engine refuse what it accepted before.
		s.logger.Error("the last good set is refused now; keeping what is in force", "err", err)
		return s.ready.IsReady()
	}
	var accepted []candidate
	for _, c := range try {
		next := maps.Clone(cur)
		next[c.name] = appliedPolicy{rv: c.rv, p: c.p}
		if err := s.sink.Apply(SourceName, list(next)); err != nil {
			s.reject(c.obj, err, s.has(c.name))
			continue
		}
		cur = next
		accepted = append(accepted, c)
	}
	s.commit(cur, accepted)
	return true
}

func (s *Source) has(name string) bool { _, ok := s.applied[name]; return ok }

func (s *Source) commit(set map[string]appliedPolicy, changed []candidate) {
	var names []string
	for _, c := range changed {
		names = append(names, c.name)
		delete(s.rejected, c.name)
	}
	s.applied = set
	s.logger.Info("KubeArmorPolicies applied", "changed", names, "namespace_set", slices.Sorted(maps.Keys(set)))
}

func list(m map[string]appliedPolicy) []policy.KubeArmorPolicy {
	out := make([]policy.KubeArmorPolicy, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[name].p)
	}
	return out
}

func (s *Source) parse(u *unstructured.Unstructured) (policy.KubeArmorPolicy, error) {
	origin := fmt.Sprintf("KubeArmorPolicy %s/%s", u.GetNamespace(), u.GetName())
	data, err := json.Marshal(u.Object)
	if err != nil {
		return policy.KubeArmorPolicy{}, fmt.Errorf("%s: %w", origin, err)
	}
	ps, err := s.cfg.Parse(data, origin)
	if err != nil {
		return policy.KubeArmorPolicy{}, err
	}
	if len(ps) != 1 {
		return policy.KubeArmorPolicy{}, fmt.Errorf("%s: parsed into %d policies", origin, len(ps))
	}
	return ps[0], nil
}

// reject reports a refused object once per resourceVersion.
func (s *Source) reject(u *unstructured.Unstructured, err error, keptOld bool) {
	s.rejected[u.GetName()] = u.GetResourceVersion()
	stays := "it is not enforced"
	if keptOld {
		stays = "its last good version stays in force"
	}
	s.logger.Error("invalid KubeArmorPolicy refused; "+stays, "policy", u.GetNamespace()+"/"+u.GetName(),
		"resourceVersion", u.GetResourceVersion(), "err", err)
	if s.recorder != nil {
		s.recorder.Eventf(u, corev1.EventTypeWarning, "InvalidPolicy", "bluelock refused this policy (%s): %s", stays, truncate(err.Error(), 900))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// eventSink writes Events through the dynamic client (record.EventSink),
// and logs, once, that RBAC forbids them; the invalid policy is still
// reported in the log.
type eventSink struct {
	ctx    context.Context
	events dynamic.ResourceInterface
	logger *slog.Logger
	once   sync.Once
}

func (e *eventSink) note(err error) {
	if err != nil && apierrors.IsForbidden(err) {
		e.once.Do(func() {
			e.logger.Warn("RBAC forbids creating Events; invalid policies are reported in this log only", "err", err)
		})
	}
}

func toUnstructured(ev *corev1.Event) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ev)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion("v1")
	u.SetKind("Event")
	return u, nil
}

func fromUnstructured(u *unstructured.Unstructured, err error) (*corev1.Event, error) {
	if err != nil {
		return nil, err
	}
	ev := &corev1.Event{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

func (e *eventSink) Create(ev *corev1.Event) (*corev1.Event, error) {
	u, err := toUnstructured(ev)
	if err != nil {
		return nil, err
	}
	out, err := fromUnstructured(e.events.Create(e.ctx, u, metav1.CreateOptions{}))
	e.note(err)
	return out, err
}

func (e *eventSink) Update(ev *corev1.Event) (*corev1.Event, error) {
	u, err := toUnstructured(ev)
	if err != nil {
		return nil, err
	}
	out, err := fromUnstructured(e.events.Update(e.ctx, u, metav1.UpdateOptions{}))
	e.note(err)
	return out, err
}

func (e *eventSink) Patch(old *corev1.Event, data []byte) (*corev1.Event, error) {
	out, err := fromUnstructured(e.events.Patch(e.ctx, old.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}))
	e.note(err)
	return out, err
}
