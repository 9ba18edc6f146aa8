package inject

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Names and paths shared by every injected workload. If you change one of
// them, also change deploy/eks, deploy/ecs and docs/configuration.md.
const (
	// MountPath is where the shared volume holding the tracer is mounted.
	MountPath = "/kubearmor"
	// Wrapper is the tracer's path inside the application container.
	Wrapper = MountPath + "/bluelock"
	// PodinfoPath is where the downward-API labels/annotations are mounted.
	PodinfoPath = "/etc/podinfo"

	InitName     = "bluelock-init"
	SidekickName = "bluelock-sidekick"
	VolumeName   = "bluelock"
	PodinfoName  = "bluelock-podinfo"

	// IngestPort is the sidekick's HTTP ingest; LogServicePort its gRPC
	// KubeArmor LogService (the relay dials podIP on this port).
	IngestPort     = 2801
	LogServicePort = 32767

	DefaultImage         = "ghcr.io/bluelock/bluelock:latest"
	DefaultSidekickImage = "ghcr.io/bluelock/sidekick:latest"
	// LocalSidekickURL is where a sidecar sidekick listens, seen from the app.
	LocalSidekickURL = "http://localhost:2801/"
)

// Options select what Inject adds. The zero value plus defaults() is valid.
type Options struct {
	// Image is the tracer image whose /bluelock the init container copies.
	Image string
	// SidekickImage is the sidecar's image.
	SidekickImage string
	// SidekickURL points the tracer at a shared sidekick instead of a
	// sidecar; setting it implies NoSidekick.
	SidekickURL string
	// NoSidekick leaves the sidecar out.
	NoSidekick bool
	// ClassicSidecar puts the sidekick in containers instead of running it
	// as a native sidecar (Kubernetes before 1.29). Jobs then never finish.
	ClassicSidecar bool
	// ServiceAccount sets the pod's serviceAccountName (Kubernetes).
	ServiceAccount string
	// Containers restricts wrapping to these container names; empty = all.
	Containers []string
	// Entrypoint is the image's ENTRYPOINT+CMD argv, used for containers
	// whose manifest has no command (Kubernetes) / entryPoint (ECS).
	Entrypoint []string
	// Env is extra tracer environment (e.g. BLUELOCK_POSTURE_FILE=block),
	// added to every wrapped container; existing variables win.
	Env []EnvVar
	// SidekickEnv is extra sidekick environment (e.g. STDOUT_ENABLED=true).
	SidekickEnv []EnvVar
	// SidekickSecret is a Secret whose keys become the sidekick's env
	// (envFrom), the place for SLACK_WEBHOOKURL and friends (Kubernetes).
	SidekickSecret string
	// RelayLabel adds kubearmor-app=kubearmor to the pod so an unmodified
	// kubearmor-relay-server discovers the sidecar (Kubernetes).
	RelayLabel bool
	// RBAC appends a ServiceAccount, Role, RoleBinding, ClusterRole and
	// ClusterRoleBinding for the tracer's Kubernetes policy source.
	RBAC bool
	// Namespace is used for the RBAC documents when a workload has none.
	Namespace string
	// ClusterName is set as CLUSTER_NAME in wrapped containers (Kubernetes;
	// on ECS the tracer reads the cluster from the task metadata).
	ClusterName string
	// PolicyAPI keeps the tracer's local PolicyService/HTTP policy API on in
	// Kubernetes workloads. Off by default there: policies come from the
	// KubeArmorPolicy CRD, and the traced app shares the pod's loopback, so
	// an unauthenticated local API would let it lift its own policies. (ECS
	// has no CRDs: the APIs stay on; protect them with BLUELOCK_POLICY_TOKEN.)
	PolicyAPI bool
	// NoPtraceCap leaves linuxParameters.capabilities alone (ECS).
	NoPtraceCap bool
	// Format forces "k8s" or "ecs"; empty auto-detects.
	Format string
}

// EnvVar is one NAME=value pair.
type EnvVar struct{ Name, Value string }

// ParseEnv parses NAME=value.
func ParseEnv(s string) (EnvVar, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || !envName.MatchString(name) {
		return EnvVar{}, fmt.Errorf("env %q: want NAME=value with NAME of letters, digits, '_', '-', '.'", s)
	}
	return EnvVar{Name: name, Value: value}, nil
}

var envName = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)

// dns1123 is a container/volume/service-account name.
var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func (o Options) withDefaults() Options {
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.SidekickImage == "" {
		o.SidekickImage = DefaultSidekickImage
	}
	if o.SidekickURL != "" {
		o.NoSidekick = true
	}
	return o
}

// Validate reports every invalid option, joined.
func (o Options) Validate() error {
	var errs []error
	if o.SidekickURL != "" {
		u, err := url.Parse(o.SidekickURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("sidekick URL %q: want http(s)://host[:port]/", o.SidekickURL))
		}
	}
	if o.ServiceAccount != "" && !dns1123.MatchString(o.ServiceAccount) {
		errs = append(errs, fmt.Errorf("service account %q is not a valid name", o.ServiceAccount))
	}
	if o.Namespace != "" && !dns1123.MatchString(o.Namespace) {
		errs = append(errs, fmt.Errorf("namespace %q is not a valid name", o.Namespace))
	}
	for _, c := range o.Containers {
		if c == InitName || c == SidekickName {
			errs = append(errs, fmt.Errorf("container %q is bluelock's own and cannot be wrapped", c))
		}
	}
	if len(o.Entrypoint) > 0 && strings.HasSuffix(o.Entrypoint[0], "/bluelock") {
		errs = append(errs, fmt.Errorf("entrypoint %q: give the application's argv, not the wrapper", o.Entrypoint[0]))
	}
	switch o.Format {
	case "", "k8s", "ecs":
	default:
		errs = append(errs, fmt.Errorf("format %q: want k8s or ecs", o.Format))
	}
	return errors.Join(errs...)
}

// wanted reports whether the container name was selected.
func (o Options) wanted(name string) bool {
	if len(o.Containers) == 0 {
		return true
	}
	for _, c := range o.Containers {
		if c == name {
			return true
		}
	}
	return false
}

func (o Options) sidekickURL() string {
	if o.SidekickURL != "" {
		return o.SidekickURL
	}
	return LocalSidekickURL
}
