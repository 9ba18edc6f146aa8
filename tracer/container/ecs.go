package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ecsContainer is the part of the task metadata endpoint v4 container
// response (GET ${ECS_CONTAINER_METADATA_URI_V4}) we use.
type ecsContainer struct {
	DockerID string            `json:"DockerId"`
	Name     string            `json:"Name"`
	Image    string            `json:"Image"`
	ImageID  string            `json:"ImageID"`
	Labels   map[string]string `json:"Labels"`
}

// ecsTask is the part of the task response (GET ${URI}/task) we use.
type ecsTask struct {
	Cluster          string `json:"Cluster"`
	TaskARN          string `json:"TaskARN"`
	Family           string `json:"Family"`
	Revision         string `json:"Revision"`
	AvailabilityZone string `json:"AvailabilityZone"`
	LaunchType       string `json:"LaunchType"`
	ServiceName      string `json:"ServiceName"`
}

// ECS labels the agent puts on every container.
const (
	ecsLabelCluster       = "com.amazonaws.ecs.cluster"
	ecsLabelTaskARN       = "com.amazonaws.ecs.task-arn"
	ecsLabelFamily        = "com.amazonaws.ecs.task-definition-family"
	ecsLabelContainerName = "com.amazonaws.ecs.container-name"
)

// ecsNamespace is KubeArmor's namespace name outside Kubernetes.
const ecsNamespace = "container_namespace"

// fetchECS reads the container and task documents. Each GET is retried
// (attempts in all) with backoff, and the caller's ctx bounds the total, so
// a missing or slow endpoint cannot hold the tracer's start-up.
func (d *detector) fetchECS(ctx context.Context, base string) (ecsContainer, ecsTask, error) {
	var c ecsContainer
	var t ecsTask
	base = strings.TrimRight(base, "/")
	if err := d.getJSON(ctx, base, &c); err != nil {
		return c, t, err
	}
	// The task document only adds cluster, family and the task ARN, which
	// the container labels also carry: a failure here is not fatal.
	if err := d.getJSON(ctx, base+"/task", &t); err != nil {
		d.logger.Warn("ECS task metadata unavailable; using the container labels", "err", err)
	}
	return c, t, nil
}

func (d *detector) getJSON(ctx context.Context, url string, v any) error {
	var last error
	for attempt := 1; attempt <= d.cfg.ECSAttempts; attempt++ {
		if attempt > 1 {
			if err := d.cfg.Wait(ctx, d.cfg.Backoff(attempt-1)); err != nil {
				break
			}
		}
		last = d.getOnce(ctx, url, v)
		if last == nil {
			return nil
		}
		var pe permanentError
		if errors.As(last, &pe) {
			break // a 4xx or a bad document will not improve
		}
	}
	if last == nil {
		last = ctx.Err()
	}
	return fmt.Errorf("GET %s: %w", url, last)
}

// permanentError marks a failure retrying cannot fix.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func (d *detector) getOnce(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.ECSRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return permanentError{err}
	}
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, strings.TrimSpace(string(body)))
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return permanentError{err}
		}
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return permanentError{fmt.Errorf("decode: %w", err)}
	}
	return nil
}

// applyECS maps the ECS metadata onto KubeArmor's fields (docs/telemetry.md):
// ClusterName = the cluster's short name, PodName = the task ID,
// ContainerName = the task definition's container name, ContainerID =
// DockerId, ContainerImage = Image@ImageID, Labels = the container's labels
// (the com.amazonaws.ecs.* ones and the task definition's dockerLabels).
// Fields already set (from the environment) are kept.
func applyECS(info *Info, c ecsContainer, t ecsTask) {
	setIfEmpty(&info.ClusterName, shortARN(first(t.Cluster, c.Labels[ecsLabelCluster]), "cluster/"))
	setIfEmpty(&info.PodName, shortARN(first(t.TaskARN, c.Labels[ecsLabelTaskARN]), "task/"))
	setIfEmpty(&info.ContainerName, first(c.Name, c.Labels[ecsLabelContainerName]))
	if c.DockerID != "" {
		// The agent's ID is authoritative: it is what ECS, CloudWatch
		// Container Insights and the console show.
		info.ContainerID = c.DockerID
	}
	setIfEmpty(&info.ContainerImage, imageRef(c.Image, c.ImageID))
	if len(c.Labels) > 0 && len(info.LabelsMap) == 0 {
		info.LabelsMap = c.Labels
	}
	ann := map[string]string{}
	for k, v := range map[string]string{
		"ecs.task-arn":                 first(t.TaskARN, c.Labels[ecsLabelTaskARN]),
		"ecs.task-definition-family":   first(t.Family, c.Labels[ecsLabelFamily]),
		"ecs.task-definition-revision": t.Revision,
		"ecs.service-name":             t.ServiceName,
		"ecs.availability-zone":        t.AvailabilityZone,
		"ecs.launch-type":              t.LaunchType,
	} {
		if v != "" {
			ann[k] = v
		}
	}
	if len(info.Annotations) == 0 && len(ann) > 0 {
		info.Annotations = ann
	}
	setIfEmpty(&info.NamespaceName, ecsNamespace)
}

// imageRef renders KubeArmor's ContainerImage, "image@sha256:...", unless
// the image reference already pins a digest.
func imageRef(image, id string) string {
	if image == "" || id == "" || strings.Contains(image, "@") || !strings.HasPrefix(id, "sha256:") {
		return image
	}
	return image + "@" + id
}

// shortARN returns what follows marker in an ARN
// ("arn:aws:ecs:us-west-2:111122223333:task/default/8f03..." → "8f03..."
// for "task/": the last path element), or s unchanged when it is not an ARN.
func shortARN(s, marker string) string {
	if !strings.HasPrefix(s, "arn:") {
		return s
	}
	i := strings.Index(s, ":"+marker)
	if i < 0 {
		return s
	}
	rest := s[i+1+len(marker):]
	if j := strings.LastIndexByte(rest, '/'); j >= 0 {
		rest = rest[j+1:]
	}
	return rest
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func setIfEmpty(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
