// Package container finds out where the tracer runs: hostname, container ID,
// Kubernetes pod identity (downward API) or ECS task metadata. STUB: replaced
// by the container-context work; the signatures are the contract.
package container

import (
	"context"
	"log/slog"
	"os"
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

// Detect gathers the context, best effort: it never fails, it logs what it
// could not learn.
func Detect(ctx context.Context, logger *slog.Logger) Info {
	h, _ := os.Hostname()
	return Info{HostName: h}
}
