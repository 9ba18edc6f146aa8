package k8s

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
)

// In-cluster service-account files.
const (
	ServiceAccountTokenFile     = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	ServiceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
)

// Identity is who this pod is.
type Identity struct {
	Namespace   string
	PodName     string
	Labels      map[string]string
	Annotations map[string]string
	// FromAPI is true when labels/annotations came from a GET of the pod.
	FromAPI bool
}

// droppedLabels are added by controllers to every pod; KubeArmor ignores them
// for selection (core/k8sHandler.go), and so do we.
var droppedLabels = []string{"pod-template-hash", "pod-template-generation", "controller-revision-hash"}

// namespaceAndName resolves the pod's namespace and name without the API.
func namespaceAndName(cfg Config) (ns, pod string, err error) {
	ns, pod = cfg.Namespace, cfg.PodName
	if ns == "" {
		b, rerr := os.ReadFile(ServiceAccountNamespaceFile)
		if rerr != nil {
			return "", "", fmt.Errorf("pod namespace unknown: set POD_NAMESPACE from the downward API (fieldRef metadata.namespace): %w", rerr)
		}
		ns = strings.TrimSpace(string(b))
	}
	if pod == "" {
		h, herr := os.Hostname()
		if herr != nil || h == "" {
			return "", "", errors.New("pod name unknown: set POD_NAME from the downward API (fieldRef metadata.name)")
		}
		pod = h
	}
	return ns, pod, nil
}

// identity reads labels and annotations from the downward API files, or else
// GETs the pod.
func identity(ctx context.Context, cfg Config, dyn dynamic.Interface) (Identity, error) {
	ns, pod, err := namespaceAndName(cfg)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{Namespace: ns, PodName: pod}
	labels, lerr := readPodInfo(filepath.Join(cfg.PodInfoDir, "labels"))
	annotations, aerr := readPodInfo(filepath.Join(cfg.PodInfoDir, "annotations"))
	if lerr == nil && aerr == nil {
		id.Labels, id.Annotations = labels, annotations
	} else {
		if (lerr != nil && !errors.Is(lerr, fs.ErrNotExist)) || (aerr != nil && !errors.Is(aerr, fs.ErrNotExist)) {
			return Identity{}, fmt.Errorf("downward API files in %s: %w", cfg.PodInfoDir, errors.Join(lerr, aerr))
		}
		p, err := dyn.Resource(podsGVR).Namespace(ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return Identity{}, fmt.Errorf("pod labels: no downward API files in %s and GET pod %s/%s failed: %w", cfg.PodInfoDir, ns, pod, err)
		}
		id.Labels, id.Annotations, id.FromAPI = p.GetLabels(), p.GetAnnotations(), true
	}
	if id.Labels == nil {
		id.Labels = map[string]string{}
	}
	for _, k := range droppedLabels {
		delete(id.Labels, k)
	}
	return id, nil
}

// readPodInfo parses a downward API map file: one key="quoted value" per line.
func readPodInfo(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePodInfo(data)
}

// ParsePodInfo parses the downward API map format (key="quoted value" lines).
func ParsePodInfo(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: no '='", n)
		}
		uv, err := strconv.Unquote(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: value of %q: %w", n, k, err)
		}
		out[k] = uv
	}
	return out, sc.Err()
}
