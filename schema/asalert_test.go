package schema

import (
	"testing"

	pb "github.com/kubearmor/KubeArmor/protobuf"
)

func TestAsAlert(t *testing.T) {
	t.Parallel()
	a := &pb.Alert{PolicyName: "p", Type: TypeMatchedPolicy}
	if got := NewAlert(a).AsAlert(); got != a {
		t.Fatalf("an alert must be returned as it is")
	}
	l := &pb.Log{Timestamp: 7, HostName: "h", NamespaceName: "ns", PodName: "pod", PID: 42, PPID: 1, UID: 1000,
		Type: TypeContainerLog, Operation: OpFile, Resource: "/etc/passwd", Result: ResultPassed, Cwd: "/"}
	got := NewLog(l).AsAlert()
	if got.Timestamp != 7 || got.HostName != "h" || got.NamespaceName != "ns" || got.PodName != "pod" || got.PID != 42 ||
		got.PPID != 1 || got.UID != 1000 || got.Type != TypeContainerLog || got.Operation != OpFile ||
		got.Resource != "/etc/passwd" || got.Result != ResultPassed || got.Cwd != "/" || got.PolicyName != "" {
		t.Fatalf("log fields not carried over: %+v", got)
	}
	if (Event{}).AsAlert() == nil {
		t.Fatal("an empty event gives an empty alert, not nil")
	}
}
