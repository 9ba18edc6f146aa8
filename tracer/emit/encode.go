package emit

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/schema"
)

var errEmptyEvent = errors.New("empty event: neither Alert nor Log")

// encoder writes events as NDJSON lines, each byte for byte what
// encoding/json's Encoder writes for the protobuf struct. The events the
// tracer makes (flat, with plain ASCII strings) take a hand-written path:
// 1.0 against 2.2 µs per alert (BenchmarkMarshal), on the emitter's
// goroutine, which shares the task's CPUs with the app. Anything else (a
// nested Owner or ExecEvent, EventData, a string that needs escaping) goes
// through encoding/json, so the output never depends on the path.
//
// It encodes the protobuf struct directly rather than through
// schema.Event's MarshalJSON: the output is the same, but encoding/json
// re-validates and compacts what a Marshaler returns, which tripled the
// cost.
type encoder struct {
	w    io.Writer
	json *json.Encoder
	line []byte
}

func newEncoder(w io.Writer) *encoder { return &encoder{w: w, json: json.NewEncoder(w)} }

// encode appends ev and a newline to the destination. On a marshal error
// nothing is written.
func (e *encoder) encode(ev schema.Event) error {
	var ok bool
	switch {
	case ev.Alert != nil:
		if e.line, ok = appendAlert(e.line[:0], ev.Alert); !ok {
			return e.json.Encode(ev.Alert)
		}
	case ev.Log != nil:
		if e.line, ok = appendLog(e.line[:0], ev.Log); !ok {
			return e.json.Encode(ev.Log)
		}
	default:
		return errEmptyEvent
	}
	_, err := e.w.Write(e.line)
	return err
}

// object builds one JSON object in the field order and with the omitempty
// rules of the struct it mirrors. ok turns false at the first value the
// fast path does not write as encoding/json would.
type object struct {
	b     []byte
	ok    bool
	first bool
}

func (o *object) key(k string) {
	if !o.first {
		o.b = append(o.b, ',')
	}
	o.first = false
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

// str is a string field with omitempty.
func (o *object) str(k, v string) {
	if v != "" {
		o.key(k)
		o.quote(v)
	}
}

// quote appends v quoted, if encoding/json would write it as is: printable
// ASCII without the characters it escapes (the quote, the backslash, and
// <, > and & under its default HTML escaping).
func (o *object) quote(v string) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			o.ok = false
			return
		}
	}
	o.b = append(o.b, '"')
	o.b = append(o.b, v...)
	o.b = append(o.b, '"')
}

// num is an integer field; always for the two without omitempty (PPID and
// UID: `json:"PPID,"`).
func (o *object) num(k string, v int64, always bool) {
	if v != 0 || always {
		o.key(k)
		o.b = strconv.AppendInt(o.b, v, 10)
	}
}

func (o *object) strs(k string, v []string) {
	if len(v) == 0 {
		return
	}
	o.key(k)
	o.b = append(o.b, '[')
	for i, s := range v {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.quote(s)
	}
	o.b = append(o.b, ']')
}

// where is the run of fields both messages open with (after Owner, which
// the fast path never has).
func (o *object) where(ts int64, updated, cluster, host, ns, pod, labels, id, name, image string) {
	o.num("Timestamp", ts, false)
	o.str("UpdatedTime", updated)
	o.str("ClusterName", cluster)
	o.str("HostName", host)
	o.str("NamespaceName", ns)
	o.str("PodName", pod)
	o.str("Labels", labels)
	o.str("ContainerID", id)
	o.str("ContainerName", name)
	o.str("ContainerImage", image)
}

// ids is the run of process ids both messages have.
func (o *object) ids(hostPPID, hostPID, ppid, pid, uid int32) {
	o.num("HostPPID", int64(hostPPID), false)
	o.num("HostPID", int64(hostPID), false)
	o.num("PPID", int64(ppid), true)
	o.num("PID", int64(pid), false)
	o.num("UID", int64(uid), true)
}

// hashes is the run of fields both messages close with.
func (o *object) hashes(node, process, parent, resource, algo, user string) {
	o.str("NodeID", node)
	o.str("ProcessHash", process)
	o.str("ParentHash", parent)
	o.str("ResourceHash", resource)
	o.str("HashAlgo", algo)
	o.str("UserName", user)
}

func (o *object) end() ([]byte, bool) {
	o.b = append(o.b, '}', '\n')
	return o.b, o.ok
}

// appendAlert appends a's line to b, in pb.Alert's field order; ok false
// means use encoding/json.
func appendAlert(b []byte, a *pb.Alert) ([]byte, bool) {
	if a.Owner != nil || a.ExecEvent != nil || len(a.EventData) > 0 {
		return b, false
	}
	o := object{b: append(b, '{'), ok: true, first: true}
	o.where(a.Timestamp, a.UpdatedTime, a.ClusterName, a.HostName, a.NamespaceName, a.PodName, a.Labels,
		a.ContainerID, a.ContainerName, a.ContainerImage)
	o.ids(a.HostPPID, a.HostPID, a.PPID, a.PID, a.UID)
	o.str("ParentProcessName", a.ParentProcessName)
	o.str("ProcessName", a.ProcessName)
	o.str("PolicyName", a.PolicyName)
	o.str("Severity", a.Severity)
	o.str("Tags", a.Tags)
	o.strs("ATags", a.ATags)
	o.str("Message", a.Message)
	o.str("Type", a.Type)
	o.str("Source", a.Source)
	o.str("Operation", a.Operation)
	o.str("Resource", a.Resource)
	o.str("Data", a.Data)
	o.str("Enforcer", a.Enforcer)
	o.str("Action", a.Action)
	o.str("Result", a.Result)
	o.str("Cwd", a.Cwd)
	o.str("TTY", a.TTY)
	o.num("MaxAlertsPerSec", int64(a.MaxAlertsPerSec), false)
	o.num("DroppingAlertsInterval", int64(a.DroppingAlertsInterval), false)
	o.str("KubeArmorVersion", a.KubeArmorVersion)
	o.hashes(a.NodeID, a.ProcessHash, a.ParentHash, a.ResourceHash, a.HashAlgo, a.UserName)
	return o.end()
}

// appendLog appends l's line to b, in pb.Log's field order; ok false means
// use encoding/json.
func appendLog(b []byte, l *pb.Log) ([]byte, bool) {
	if l.Owner != nil || l.ExecEvent != nil || len(l.EventData) > 0 {
		return b, false
	}
	o := object{b: append(b, '{'), ok: true, first: true}
	o.where(l.Timestamp, l.UpdatedTime, l.ClusterName, l.HostName, l.NamespaceName, l.PodName, l.Labels,
		l.ContainerID, l.ContainerName, l.ContainerImage)
	o.str("ParentProcessName", l.ParentProcessName)
	o.str("ProcessName", l.ProcessName)
	o.ids(l.HostPPID, l.HostPID, l.PPID, l.PID, l.UID)
	o.str("Type", l.Type)
	o.str("Source", l.Source)
	o.str("Operation", l.Operation)
	o.str("Resource", l.Resource)
	o.str("Data", l.Data)
	o.str("Result", l.Result)
	o.str("Cwd", l.Cwd)
	o.str("TTY", l.TTY)
	o.hashes(l.NodeID, l.ProcessHash, l.ParentHash, l.ResourceHash, l.HashAlgo, l.UserName)
	return o.end()
}
