package schema

import "strings"

// kind is the JSON type a KubeArmor field must have.
type kind uint8

const (
	kString     kind = iota // JSON string
	kInt32                  // JSON integer in int32 range (PID, UID, ...)
	kInt64                  // JSON integer in int64 range (Timestamp)
	kStringList             // JSON array of strings (ATags)
	kStringMap              // JSON object of strings (EventData)
	kOwner                  // {"Ref","Name","Namespace"} strings
	kExecEvent              // {"ExecID","ExecutableName"} strings
)

func (k kind) String() string {
	switch k {
	case kString:
		return "string"
	case kInt32, kInt64:
		return "integer"
	case kStringList:
		return "array of strings"
	default:
		return "object"
	}
}

// fieldSpec describes one top-level key of a KubeArmor event.
type fieldSpec struct {
	kind kind
	// alertOnly keys exist in pb.Alert but not in pb.Log; on a log they are
	// unknown keys (counted, and dropped by the protobuf struct).
	alertOnly bool
	// nonEmpty string keys must not be "" when present: KubeArmor never
	// writes an empty string (omitempty), so "" means a broken producer.
	nonEmpty bool
	// name and slot (the key and its field in each struct) are filled in
	// by withSlots.
	name string
	slot slot
}

// fieldSpecs is the key table of pb.Alert and pb.Log (KubeArmor
// protobuf/kubearmor.proto). If KubeArmor adds a field, add it here and to
// kubearmor-event.schema.json; until then it is accepted as an unknown key.
var fieldSpecs = withSlots(map[string]fieldSpec{
	"Timestamp":              {kind: kInt64},
	"UpdatedTime":            {kind: kString, nonEmpty: true},
	"ClusterName":            {kind: kString},
	"HostName":               {kind: kString, nonEmpty: true},
	"NamespaceName":          {kind: kString},
	"Owner":                  {kind: kOwner},
	"PodName":                {kind: kString},
	"Labels":                 {kind: kString},
	"ContainerID":            {kind: kString},
	"ContainerName":          {kind: kString},
	"ContainerImage":         {kind: kString},
	"HostPPID":               {kind: kInt32},
	"HostPID":                {kind: kInt32},
	"PPID":                   {kind: kInt32},
	"PID":                    {kind: kInt32},
	"UID":                    {kind: kInt32},
	"ParentProcessName":      {kind: kString},
	"ProcessName":            {kind: kString},
	"PolicyName":             {kind: kString, alertOnly: true, nonEmpty: true},
	"Severity":               {kind: kString, alertOnly: true},
	"Tags":                   {kind: kString, alertOnly: true},
	"ATags":                  {kind: kStringList, alertOnly: true},
	"Message":                {kind: kString, alertOnly: true},
	"Type":                   {kind: kString, nonEmpty: true},
	"Source":                 {kind: kString},
	"Operation":              {kind: kString, nonEmpty: true},
	"Resource":               {kind: kString, nonEmpty: true},
	"Data":                   {kind: kString},
	"EventData":              {kind: kStringMap},
	"Enforcer":               {kind: kString, alertOnly: true},
	"Action":                 {kind: kString, alertOnly: true, nonEmpty: true},
	"Result":                 {kind: kString, nonEmpty: true},
	"Cwd":                    {kind: kString},
	"TTY":                    {kind: kString},
	"MaxAlertsPerSec":        {kind: kInt32, alertOnly: true},
	"DroppingAlertsInterval": {kind: kInt32, alertOnly: true},
	"ExecEvent":              {kind: kExecEvent},
	"KubeArmorVersion":       {kind: kString, alertOnly: true},
	"NodeID":                 {kind: kString},
	"ProcessHash":            {kind: kString},
	"ParentHash":             {kind: kString},
	"ResourceHash":           {kind: kString},
	"HashAlgo":               {kind: kString},
	"UserName":               {kind: kString},
})

// Keys of the nested objects.
var (
	ownerKeys     = [...]string{"Ref", "Name", "Namespace"}
	execEventKeys = [...]string{"ExecID", "ExecutableName"}
)

// caseFoldMatch returns the known key that k equals case-insensitively but
// not exactly. encoding/json would silently fill that field from k ("pid"
// into PID), bypassing the checks, so such keys are rejected.
func caseFoldMatch(k string, known func(yield func(string) bool)) (string, bool) {
	for name := range known {
		if name != k && strings.EqualFold(name, k) {
			return name, true
		}
	}
	return "", false
}

func topLevelKeys(yield func(string) bool) {
	for k := range fieldSpecs {
		if !yield(k) {
			return
		}
	}
}
