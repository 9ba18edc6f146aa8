package container

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

// Info is the container context copied into every event.
type Info struct {
	ClusterName    string
	HostName       string
	NamespaceName  string
	PodName        string
	ContainerID    string
	ContainerName  string
	ContainerImage string
	// Labels as KubeArmor writes them: "k=v,k=v", sorted.
	Labels string
	// LabelsMap and Annotations are the pod's (or task's) labels and annotations.
	LabelsMap   map[string]string
	Annotations map[string]string
}

// Environment variables read by Detect (documented in docs/telemetry.md).
const (
	EnvPodName         = "POD_NAME"
	EnvPodNamespace    = "POD_NAMESPACE"
	EnvContainerName   = "CONTAINER_NAME"
	EnvClusterName     = "CLUSTER_NAME"
	EnvContainerImage  = "CONTAINER_IMAGE"
	EnvContainerID     = "BLUELOCK_CONTAINER_ID"
	EnvPodInfoDir      = "BLUELOCK_PODINFO_DIR"
	EnvECSMetadataURI  = "ECS_CONTAINER_METADATA_URI_V4"
	DefaultPodInfoDir  = "/etc/podinfo"
	DefaultClusterName = "default" // KubeArmor's value when the cluster is unnamed
)

// Config holds Detect's inputs; tests replace each with fixtures. Zero
// values take the real system's.
type Config struct {
	// FS is the root filesystem ("/"): proc/self/cgroup, proc/self/mountinfo
	// and the downward API directory are read through it.
	FS fs.FS
	// Getenv reads the environment.
	Getenv func(string) string
	// PodInfoDir is the downward API directory (--podinfo-dir); empty:
	// BLUELOCK_PODINFO_DIR, else /etc/podinfo.
	PodInfoDir string
	// Hostname returns the host name (os.Hostname).
	Hostname func() (string, error)
	// Client is used for the ECS task metadata endpoint.
	Client *http.Client
	// ECSBudget bounds all ECS metadata requests together (default 2 s):
	// start-up never waits longer for them.
	ECSBudget time.Duration
	// ECSRequestTimeout bounds one request (default 700 ms).
	ECSRequestTimeout time.Duration
	// ECSAttempts is the number of tries per document (default 3).
	ECSAttempts int
	// Backoff is the wait before retry number n (default 100 ms × n).
	Backoff func(n int) time.Duration
	// Wait sleeps for d or until ctx is done.
	Wait func(ctx context.Context, d time.Duration) error
}

func (c *Config) setDefaults() {
	if c.FS == nil {
		c.FS = os.DirFS("/")
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Hostname == nil {
		c.Hostname = os.Hostname
	}
	if c.Client == nil {
		// No proxy: the metadata endpoint is link-local (169.254.170.2).
		c.Client = &http.Client{Transport: &http.Transport{Proxy: nil}}
	}
	if c.ECSBudget <= 0 {
		c.ECSBudget = 2 * time.Second
	}
	if c.ECSRequestTimeout <= 0 {
		c.ECSRequestTimeout = 700 * time.Millisecond
	}
	if c.ECSAttempts <= 0 {
		c.ECSAttempts = 3
	}
	if c.Backoff == nil {
		c.Backoff = func(n int) time.Duration { return time.Duration(n) * 100 * time.Millisecond }
	}
	if c.Wait == nil {
		c.Wait = sleepCtx
	}
}

// Detect gathers the context, best effort: it never fails, it logs what it
// could not learn.
func Detect(ctx context.Context, logger *slog.Logger) Info {
	return DetectWith(ctx, Config{}, logger)
}

type detector struct {
	cfg    Config
	logger *slog.Logger
}

// DetectWith is Detect with explicit inputs.
func DetectWith(ctx context.Context, cfg Config, logger *slog.Logger) Info {
	cfg.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &detector{cfg: cfg, logger: logger.With("component", "container-context")}
	return d.detect(ctx)
}

func (d *detector) detect(ctx context.Context) Info {
	env := d.cfg.Getenv
	var info Info

	if h, err := d.cfg.Hostname(); err == nil {
		info.HostName = h
	} else {
		d.logger.Warn("no hostname", "err", err)
	}

	// Kubernetes: the downward API, through env vars our injector sets.
	info.PodName = env(EnvPodName)
	info.NamespaceName = env(EnvPodNamespace)
	info.ContainerName = env(EnvContainerName)
	info.ClusterName = env(EnvClusterName)
	info.ContainerImage = env(EnvContainerImage)
	d.readPodInfo(&info, first(d.cfg.PodInfoDir, env(EnvPodInfoDir), DefaultPodInfoDir))

	info.ContainerID = env(EnvContainerID)
	if info.ContainerID == "" {
		info.ContainerID = d.idFromProc()
	}

	if uri := env(EnvECSMetadataURI); uri != "" {
		ectx, cancel := context.WithTimeout(ctx, d.cfg.ECSBudget)
		c, t, err := d.fetchECS(ectx, uri)
		cancel()
		if err != nil {
			d.logger.Warn("ECS task metadata unavailable; events carry less context", "err", err)
		} else {
			applyECS(&info, c, t)
		}
	}

	if info.ClusterName == "" {
		info.ClusterName = DefaultClusterName
	}
	if info.NamespaceName == "" {
		// KubeArmor's namespace for containers outside Kubernetes.
		info.NamespaceName = ecsNamespace
	}
	info.Labels = FormatLabels(info.LabelsMap)
	if info.ContainerID == "" {
		d.logger.Info("container ID not found in cgroup, mountinfo or ECS metadata")
	}
	d.logger.Debug("container context", "cluster", info.ClusterName, "namespace", info.NamespaceName,
		"pod", info.PodName, "container", info.ContainerName, "id", info.ContainerID, "image", info.ContainerImage)
	return info
}

// readPodInfo reads the downward API volume's labels and annotations files,
// if the pod mounts one.
func (d *detector) readPodInfo(info *Info, dir string) {
	dir = strings.TrimPrefix(path.Clean(dir), "/")
	for _, f := range []struct {
		name string
		dst  *map[string]string
	}{
		{"labels", &info.LabelsMap},
		{"annotations", &info.Annotations},
	} {
		data, err := fs.ReadFile(d.cfg.FS, path.Join(dir, f.name))
		if err != nil {
			if !isNotExist(err) {
				d.logger.Warn("downward API file unreadable", "file", "/"+path.Join(dir, f.name), "err", err)
			}
			continue
		}
		m, err := ParseDownwardAPI(data)
		if err != nil {
			d.logger.Warn("downward API file partly unreadable", "file", "/"+path.Join(dir, f.name), "err", err)
		}
		if len(m) > 0 {
			*f.dst = m
		}
	}
}

func (d *detector) idFromProc() string {
	if data, err := fs.ReadFile(d.cfg.FS, "proc/self/cgroup"); err == nil {
		if id := IDFromCgroup(data); id != "" {
			return id
		}
	}
	if data, err := fs.ReadFile(d.cfg.FS, "proc/self/mountinfo"); err == nil {
		return IDFromMountinfo(data)
	}
	return ""
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
