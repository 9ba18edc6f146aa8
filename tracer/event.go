package tracer

import (
	"strconv"
	"strings"
	"time"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/tracer/container"
)

// This file is the event model: what the stop loop saw (an Event), turned
// into KubeArmor's Log or Alert. It is pure.

// Identity is who made a syscall, cached per process at fork and exec.
type Identity struct {
	PID, PPID, UID    int
	ProcessName       string // the exe path
	ParentProcessName string // the parent's exe path
	Cwd               string
}

// Facet is one way a trapped syscall can be matched: the request for one
// policy domain and what KubeArmor prints for it. A syscall has a primary
// facet (Process, File or Network, or Syscall) and maybe Capabilities and
// Syscall facets.
type Facet struct {
	Req       policy.Request
	Operation string // KubeArmor's Operation
	Resource  string
	Data      string
	// argv is an exec's argument vector in the tracee, not yet read: only
	// a call that is reported needs its arguments in Resource
	// (tracer.withArgv), and reading them cost two to 1+2n memory reads per
	// exec that nobody would see.
	argv uint64
	// open, when set, holds an open's descriptor and flags, and Data only
	// its prefix: the rest is rendered for a reported call only
	// (renderData), where rendering it at every open cost an allocation
	// nobody would see.
	open openArgs
}

// openArgs are what an open's Data shows after its syscall name.
type openArgs struct {
	set, withFd  bool
	dirfd, flags int
}

// Event is one trapped syscall, decided.
type Event struct {
	Who   Identity
	Facet Facet
	// Decision is the winning decision (for alerts).
	Decision policy.Decision
	Result   string
	Time     time.Time
}

const updatedTimeLayout = "2006-01-02T15:04:05.000000Z"

// processName is KubeArmor's ProcessName: for an exec the image being
// started, otherwise the acting process.
func (e *Event) processName() string {
	if e.Facet.Req.Op == policy.OpProcess && e.Facet.Req.Path != "" {
		return e.Facet.Req.Path
	}
	return e.Who.ProcessName
}

// Log is the event as a KubeArmor ContainerLog.
func (e *Event) Log(ci *container.Info) schema.Event {
	t := e.Time.UTC()
	return schema.NewLog(&pb.Log{
		Timestamp:         t.Unix(),
		UpdatedTime:       t.Format(updatedTimeLayout),
		ClusterName:       ci.ClusterName,
		HostName:          ci.HostName,
		NamespaceName:     ci.NamespaceName,
		PodName:           ci.PodName,
		Labels:            ci.Labels,
		ContainerID:       ci.ContainerID,
		ContainerName:     ci.ContainerName,
		ContainerImage:    ci.ContainerImage,
		ParentProcessName: e.Who.ParentProcessName,
		ProcessName:       e.processName(),
		PPID:              int32(e.Who.PPID),
		PID:               int32(e.Who.PID),
		UID:               int32(e.Who.UID),
		Type:              schema.TypeContainerLog,
		Source:            e.Facet.Req.Source,
		Operation:         e.Facet.Operation,
		Resource:          e.Facet.Resource,
		Data:              e.Facet.Data,
		Result:            e.Result,
		Cwd:               e.Who.Cwd,
	})
}

// Alert is the event as a KubeArmor MatchedPolicy alert.
func (e *Event) Alert(ci *container.Info) schema.Event {
	t := e.Time.UTC()
	d := e.Decision
	a := &pb.Alert{
		Timestamp:         t.Unix(),
		UpdatedTime:       t.Format(updatedTimeLayout),
		ClusterName:       ci.ClusterName,
		HostName:          ci.HostName,
		NamespaceName:     ci.NamespaceName,
		PodName:           ci.PodName,
		Labels:            ci.Labels,
		ContainerID:       ci.ContainerID,
		ContainerName:     ci.ContainerName,
		ContainerImage:    ci.ContainerImage,
		ParentProcessName: e.Who.ParentProcessName,
		ProcessName:       e.processName(),
		PPID:              int32(e.Who.PPID),
		PID:               int32(e.Who.PID),
		UID:               int32(e.Who.UID),
		PolicyName:        d.PolicyName,
		Type:              schema.TypeMatchedPolicy,
		Source:            e.Facet.Req.Source,
		Operation:         e.Facet.Operation,
		Resource:          e.Facet.Resource,
		Data:              e.Facet.Data,
		Action:            d.Action,
		Result:            e.Result,
		Cwd:               e.Who.Cwd,
	}
	if a.PolicyName == "" {
		a.PolicyName = "DefaultPosture"
	}
	if a.Action == "" {
		a.Action = d.Verdict.String()
	}
	if d.Verdict == policy.Block {
		a.Enforcer = schema.EnforcerPtrace
	} else {
		a.Enforcer = schema.EnforcerMonitor
	}
	// KubeArmor empties Severity, Tags and Message for DefaultPosture.
	if a.PolicyName != "DefaultPosture" {
		if d.Severity > 0 {
			a.Severity = strconv.Itoa(d.Severity)
		}
		if len(d.Tags) > 0 {
			a.Tags = strings.Join(d.Tags, ",")
			a.ATags = append([]string(nil), d.Tags...)
		}
		a.Message = d.Message
	}
	return schema.NewAlert(a)
}

// stricter reports whether decision a should win over b: the stricter
// verdict, and at equal verdicts the one a policy matched.
func stricter(a, b policy.Decision) bool {
	if a.Verdict != b.Verdict {
		return a.Verdict > b.Verdict
	}
	return a.Alert && !b.Alert
}

// opName is KubeArmor's Operation for a policy domain.
func opName(op policy.Operation) string { return op.String() }

type discard struct{}

func (discard) Emit(schema.Event) {}
