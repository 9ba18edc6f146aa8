// Package schema holds the one event type that crosses every boundary of bluelock:
// a KubeArmor Alert or Log, exactly as KubeArmor's generated protobuf types marshal
// with encoding/json (PascalCase keys; PPID and UID always present).
//
// The tracer builds Events, the sidekick decodes and validates them, and every
// output receives them. Nothing here knows about ptrace, HTTP or policies.
package schema

import (
	"encoding/json"
	"errors"
	"strconv"

	pb "github.com/kubearmor/KubeArmor/protobuf"
)

// Values of the Type field, as KubeArmor writes them.
const (
	TypeMatchedPolicy        = "MatchedPolicy"
	TypeMatchedHostPolicy    = "MatchedHostPolicy"
	TypeMatchedNetworkPolicy = "MatchedNetworkPolicy"
	TypeSystemEvent          = "SystemEvent"
	TypeContainerLog         = "ContainerLog"
	TypeHostLog              = "HostLog"
)

// Values of the Operation field.
const (
	OpProcess        = "Process"
	OpFile           = "File"
	OpNetwork        = "Network"
	OpCapabilities   = "Capabilities"
	OpSyscall        = "Syscall"
	OpAlertThreshold = "AlertThreshold"
)

// Enforcer strings bluelock writes: blocks come from the tracer, audits are
// "monitor" decisions, as KubeArmor separates "BPFLSM" from "eBPF Monitor".
const (
	EnforcerPtrace  = "bluelock"
	EnforcerMonitor = "bluelock Monitor"
)

// Result strings KubeArmor uses.
const (
	ResultPassed           = "Passed"
	ResultPermissionDenied = "Permission denied"
)

// IsAlertType reports whether events of this Type are alerts (KubeArmor's
// WatchAlerts stream) rather than logs (WatchLogs).
func IsAlertType(t string) bool {
	switch t {
	case TypeMatchedPolicy, TypeMatchedHostPolicy, TypeMatchedNetworkPolicy, TypeSystemEvent:
		return true
	}
	return false
}

// Event is exactly one of a KubeArmor Alert or Log. The zero Event is invalid.
type Event struct {
	Alert *pb.Alert
	Log   *pb.Log
}

// NewAlert wraps an alert.
func NewAlert(a *pb.Alert) Event { return Event{Alert: a} }

// NewLog wraps a log.
func NewLog(l *pb.Log) Event { return Event{Log: l} }

// IsAlert reports whether the event is an alert.
func (e Event) IsAlert() bool { return e.Alert != nil }

// Type is the KubeArmor Type field.
func (e Event) Type() string {
	switch {
	case e.Alert != nil:
		return e.Alert.Type
	case e.Log != nil:
		return e.Log.Type
	}
	return ""
}

// Operation is the KubeArmor Operation field.
func (e Event) Operation() string {
	switch {
	case e.Alert != nil:
		return e.Alert.Operation
	case e.Log != nil:
		return e.Log.Operation
	}
	return ""
}

// Namespace is the KubeArmor NamespaceName field.
func (e Event) Namespace() string {
	switch {
	case e.Alert != nil:
		return e.Alert.NamespaceName
	case e.Log != nil:
		return e.Log.NamespaceName
	}
	return ""
}

// Action is the alert's Action ("" for logs).
func (e Event) Action() string {
	if e.Alert != nil {
		return e.Alert.Action
	}
	return ""
}

// Severity is the alert's numeric severity, 0 for logs and for alerts without one
// (DefaultPosture alerts carry none).
func (e Event) Severity() int {
	if e.Alert == nil {
		return 0
	}
	n, err := strconv.Atoi(e.Alert.Severity)
	if err != nil {
		return 0
	}
	return n
}

// Timestamp is the event's unix time in seconds.
func (e Event) Timestamp() int64 {
	switch {
	case e.Alert != nil:
		return e.Alert.Timestamp
	case e.Log != nil:
		return e.Log.Timestamp
	}
	return 0
}

var errEmptyEvent = errors.New("empty event: neither Alert nor Log")

// MarshalJSON writes the event exactly as KubeArmor's protobuf struct
// marshals with encoding/json (see AppendJSON).
func (e Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil) }

// UnmarshalJSON reads one KubeArmor event; its Type decides Alert or Log.
// It checks nothing else: see Validate.
func (e *Event) UnmarshalJSON(b []byte) error {
	var head struct{ Type string }
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	if IsAlertType(head.Type) {
		a := new(pb.Alert)
		if err := json.Unmarshal(b, a); err != nil {
			return err
		}
		*e = Event{Alert: a}
		return nil
	}
	l := new(pb.Log)
	if err := json.Unmarshal(b, l); err != nil {
		return err
	}
	*e = Event{Log: l}
	return nil
}

// AsAlert returns the alert as it is, or copies a log's fields into an Alert
// (a superset of Log), so outputs format both with one template.
func (e Event) AsAlert() *pb.Alert {
	if e.Alert != nil {
		return e.Alert
	}
	l := e.Log
	if l == nil {
		return &pb.Alert{}
	}
	return &pb.Alert{
		Timestamp: l.Timestamp, UpdatedTime: l.UpdatedTime, ClusterName: l.ClusterName,
		HostName: l.HostName, NamespaceName: l.NamespaceName, Owner: l.Owner, PodName: l.PodName,
		Labels: l.Labels, ContainerID: l.ContainerID, ContainerName: l.ContainerName,
		ContainerImage: l.ContainerImage, ParentProcessName: l.ParentProcessName,
		ProcessName: l.ProcessName, HostPPID: l.HostPPID, HostPID: l.HostPID, PPID: l.PPID,
		PID: l.PID, UID: l.UID, Type: l.Type, Source: l.Source, Operation: l.Operation,
		Resource: l.Resource, Data: l.Data, EventData: l.EventData, Result: l.Result, Cwd: l.Cwd,
		TTY: l.TTY, ExecEvent: l.ExecEvent, NodeID: l.NodeID, ProcessHash: l.ProcessHash,
		ParentHash: l.ParentHash, ResourceHash: l.ResourceHash, HashAlgo: l.HashAlgo,
		UserName: l.UserName,
	}
}
