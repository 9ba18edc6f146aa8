package tracer

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/tracer/container"
)

// TestEventJSON pins the exact KubeArmor JSON of a log and of alerts.
func TestEventJSON(t *testing.T) {
	ci := &container.Info{ClusterName: "c1", HostName: "h", NamespaceName: "ns", PodName: "p", Labels: "a=b",
		ContainerID: "cid", ContainerName: "app", ContainerImage: "img@sha256:x"}
	who := Identity{PID: 7, PPID: 1, UID: 0, ProcessName: "/usr/bin/cat", ParentProcessName: "/bin/sh", Cwd: "/"}
	when := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("x", 3600))
	file := Facet{Req: policy.Request{Op: policy.OpFile, Path: "/etc/shadow", Source: "/usr/bin/cat"},
		Operation: "File", Resource: "/etc/shadow", Data: "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY"}
	exec := Facet{Req: policy.Request{Op: policy.OpProcess, Path: "/usr/bin/apt", Source: "/bin/bash"},
		Operation: "Process", Resource: "/usr/bin/apt update", Data: "syscall=SYS_EXECVE"}
	cases := []struct {
		name  string
		ev    Event
		alert bool
		want  string
	}{
		{"log", Event{Who: who, Facet: file, Result: "Passed", Time: when}, false,
			`{"Timestamp":1767319445,"UpdatedTime":"2026-01-02T02:04:05.678901Z","ClusterName":"c1","HostName":"h","NamespaceName":"ns","PodName":"p","Labels":"a=b","ContainerID":"cid","ContainerName":"app","ContainerImage":"img@sha256:x","ParentProcessName":"/bin/sh","ProcessName":"/usr/bin/cat","PPID":1,"PID":7,"UID":0,"Type":"ContainerLog","Source":"/usr/bin/cat","Operation":"File","Resource":"/etc/shadow","Data":"syscall=SYS_OPENAT fd=-100 flags=O_RDONLY","Result":"Passed","Cwd":"/"}`},
		{"block-alert", Event{Who: who, Facet: exec, Result: "Permission denied", Time: when,
			Decision: policy.Decision{Verdict: policy.Block, Action: "Block", PolicyName: "no-apt", Severity: 5, Tags: []string{"NIST", "CM-7"}, Message: "no apt", Alert: true}}, true,
			`{"Timestamp":1767319445,"UpdatedTime":"2026-01-02T02:04:05.678901Z","ClusterName":"c1","HostName":"h","NamespaceName":"ns","PodName":"p","Labels":"a=b","ContainerID":"cid","ContainerName":"app","ContainerImage":"img@sha256:x","PPID":1,"PID":7,"UID":0,"ParentProcessName":"/bin/sh","ProcessName":"/usr/bin/apt","PolicyName":"no-apt","Severity":"5","Tags":"NIST,CM-7","ATags":["NIST","CM-7"],"Message":"no apt","Type":"MatchedPolicy","Source":"/bin/bash","Operation":"Process","Resource":"/usr/bin/apt update","Data":"syscall=SYS_EXECVE","Enforcer":"bluelock","Action":"Block","Result":"Permission denied","Cwd":"/"}`},
		{"posture-audit", Event{Who: who, Facet: file, Result: "Passed", Time: when,
			Decision: policy.Decision{Verdict: policy.Audit, Action: "Audit", PolicyName: "DefaultPosture", Severity: 3, Tags: []string{"x"}, Message: "m", Alert: true}}, true,
			`{"Timestamp":1767319445,"UpdatedTime":"2026-01-02T02:04:05.678901Z","ClusterName":"c1","HostName":"h","NamespaceName":"ns","PodName":"p","Labels":"a=b","ContainerID":"cid","ContainerName":"app","ContainerImage":"img@sha256:x","PPID":1,"PID":7,"UID":0,"ParentProcessName":"/bin/sh","ProcessName":"/usr/bin/cat","PolicyName":"DefaultPosture","Type":"MatchedPolicy","Source":"/usr/bin/cat","Operation":"File","Resource":"/etc/shadow","Data":"syscall=SYS_OPENAT fd=-100 flags=O_RDONLY","Enforcer":"bluelock Monitor","Action":"Audit","Result":"Passed","Cwd":"/"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := c.ev.Log(ci)
			if c.alert {
				ev = c.ev.Alert(ci)
			}
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != c.want {
				t.Errorf("got\n%s\nwant\n%s", b, c.want)
			}
		})
	}
}

func TestParseVisibility(t *testing.T) {
	cases := map[string]Visibility{
		"process,file,network": DefaultVisibility, "none": 0, "": 0, " File , NETWORK": VisFile | VisNetwork,
		"capabilities,syscall": VisCapabilities | VisSyscall,
	}
	for in, want := range cases {
		got, err := ParseVisibility(in)
		if err != nil || got != want {
			t.Errorf("ParseVisibility(%q) = %b, %v; want %b", in, got, err, want)
		}
	}
	if _, err := ParseVisibility("process,files"); err == nil {
		t.Error("want an error for an unknown kind")
	}
}
