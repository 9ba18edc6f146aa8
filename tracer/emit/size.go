package emit

import "github.com/bluelock/bluelock/schema"

// numericOverhead covers braces and the numeric fields (Timestamp, PIDs,
// UID) of a typical event; each string field adds its key, quotes, colon
// and comma (fieldOverhead + len(key)) when present, since encoding/json
// omits empty ones.
const (
	numericOverhead = 96
	fieldOverhead   = 6
)

// f is the JSON size of one omitempty string field.
func f(keyLen int, v string) int {
	if v == "" {
		return 0
	}
	return keyLen + fieldOverhead + len(v)
}

// estimateSize guesses the JSON size of ev from its field lengths, in tens
// of nanoseconds and without marshalling, so Emit can enforce the byte bound
// on the stop loop. It only has to be close (TestEstimateSize): it bounds
// memory, it is not a wire limit. Characters JSON escapes are not counted.
func estimateSize(ev schema.Event) int {
	switch {
	case ev.Alert != nil:
		a := ev.Alert
		n := numericOverhead + f(11, a.UpdatedTime) + f(11, a.ClusterName) + f(8, a.HostName) +
			f(13, a.NamespaceName) + f(7, a.PodName) + f(6, a.Labels) + f(11, a.ContainerID) +
			f(13, a.ContainerName) + f(14, a.ContainerImage) + f(17, a.ParentProcessName) +
			f(11, a.ProcessName) + f(10, a.PolicyName) + f(8, a.Severity) + f(4, a.Tags) +
			f(7, a.Message) + f(4, a.Type) + f(6, a.Source) + f(9, a.Operation) +
			f(8, a.Resource) + f(4, a.Data) + f(8, a.Enforcer) + f(6, a.Action) + f(6, a.Result) +
			f(3, a.Cwd) + f(3, a.TTY) + f(6, a.NodeID) + f(11, a.ProcessHash) + f(10, a.ParentHash) +
			f(12, a.ResourceHash) + f(8, a.HashAlgo) + f(8, a.UserName) + f(16, a.KubeArmorVersion)
		if len(a.ATags) > 0 {
			n += 11
			for _, t := range a.ATags {
				n += len(t) + 3
			}
		}
		if len(a.EventData) > 0 {
			n += 15
			for k, v := range a.EventData {
				n += len(k) + len(v) + fieldOverhead
			}
		}
		return n
	case ev.Log != nil:
		l := ev.Log
		n := numericOverhead + f(11, l.UpdatedTime) + f(11, l.ClusterName) + f(8, l.HostName) +
			f(13, l.NamespaceName) + f(7, l.PodName) + f(6, l.Labels) + f(11, l.ContainerID) +
			f(13, l.ContainerName) + f(14, l.ContainerImage) + f(17, l.ParentProcessName) +
			f(11, l.ProcessName) + f(4, l.Type) + f(6, l.Source) + f(9, l.Operation) +
			f(8, l.Resource) + f(4, l.Data) + f(6, l.Result) + f(3, l.Cwd) + f(3, l.TTY) +
			f(6, l.NodeID) + f(11, l.ProcessHash) + f(10, l.ParentHash) + f(12, l.ResourceHash) +
			f(8, l.HashAlgo) + f(8, l.UserName)
		if len(l.EventData) > 0 {
			n += 15
			for k, v := range l.EventData {
				n += len(k) + len(v) + fieldOverhead
			}
		}
		return n
	}
	return numericOverhead
}
