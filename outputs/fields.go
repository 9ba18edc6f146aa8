package outputs

// Helpers the chat outputs share to present an event to the people who triage it.

import (
	"strings"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/schema"
)

// ecsNamespace is the NamespaceName KubeArmor (and bluelock's container
// context) uses outside Kubernetes.
const ecsNamespace = "container_namespace"

// Workload is "task <id>" on ECS, namespace/pod on Kubernetes, or "".
func Workload(a *pb.Alert) string {
	if id := ECSTaskID(a); id != "" {
		return "task " + id
	}
	switch {
	case a.PodName != "" && a.NamespaceName != "":
		return a.NamespaceName + "/" + a.PodName
	case a.PodName != "":
		return a.PodName
	}
	return ""
}

// ECSTaskID is the ECS task id of an event from ECS: the container context
// puts it in PodName (NamespaceName "container_namespace") and the task ARN
// in Labels. "" for Kubernetes events.
func ECSTaskID(a *pb.Alert) string {
	if id := ecsTask(a.Labels); id != "" {
		return id
	}
	if a.NamespaceName == ecsNamespace {
		return a.PodName
	}
	return ""
}

// ecsTask finds the ECS task id in KubeArmor's "k=v,k=v" Labels, where the
// container context puts the task's Docker labels on ECS.
func ecsTask(labels string) string {
	for kv := range strings.SplitSeq(labels, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) != "com.amazonaws.ecs.task-arn" {
			continue
		}
		v = strings.TrimSpace(v)
		if i := strings.LastIndexByte(v, '/'); i >= 0 {
			return v[i+1:]
		}
		return v
	}
	return ""
}

func SplitTags(tags string) []string {
	var out []string
	for t := range strings.SplitSeq(tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// Urgency ranks an event for chat colours: the action wins, then the
// severity. Each chat output maps it to its own colour encoding.
type Urgency int

const (
	UrgencyNone     Urgency = iota // no severity: logs, DefaultPosture alerts
	UrgencyLow                     // severity 1-4
	UrgencyHigh                    // severity 5-7
	UrgencyCritical                // severity 8-10
	UrgencyAudit                   // Audit, "Audit (Block)", "Audit (Allow)"
	UrgencyBlock                   // a blocked access
)

// UrgencyOf ranks ev.
func UrgencyOf(ev schema.Event) Urgency {
	switch action := ev.Action(); {
	case action == "Block":
		return UrgencyBlock
	case strings.HasPrefix(action, "Audit"):
		return UrgencyAudit
	}
	switch sev := ev.Severity(); {
	case sev >= 8:
		return UrgencyCritical
	case sev >= 5:
		return UrgencyHigh
	case sev >= 1:
		return UrgencyLow
	}
	return UrgencyNone
}
