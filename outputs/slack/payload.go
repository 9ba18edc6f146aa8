package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	pb "github.com/kubearmor/KubeArmor/protobuf"
	"github.com/slack-go/slack"

	"github.com/bluelock/bluelock/schema"
)

// Attachment colours. If you change this table, change docs/outputs.md too.
const (
	colorBlock    = "#e20b0b" // Block: Slack's "danger" red
	colorAudit    = "#ffc700" // Audit, Audit (Allow), Audit (Block): warning
	colorCritical = "#ff5400" // severity 8-10
	colorHigh     = "#ffc700" // severity 5-7
	colorLow      = "#68c2ff" // severity 1-4
	colorNone     = "#ccfff2" // no severity: logs, DefaultPosture alerts
)

// colorFor picks the attachment colour: the action wins, then the severity.
func colorFor(ev schema.Event) string {
	switch action := ev.Action(); {
	case action == "Block":
		return colorBlock
	case strings.HasPrefix(action, "Audit"):
		return colorAudit
	}
	switch sev := ev.Severity(); {
	case sev >= 8:
		return colorCritical
	case sev >= 5:
		return colorHigh
	case sev >= 1:
		return colorLow
	}
	return colorNone
}

// maxFieldRunes bounds one field value; Slack shortens long attachments
// itself, but a multi-kilobyte Resource helps no one in a channel.
const maxFieldRunes = 1000

// shortRunes: values shorter than this sit two per line (falcosidekick's rule).
const shortRunes = 36

// buildMessage is the pure event → webhook payload builder.
func buildMessage(cfg Config, tmpl *template.Template, ev schema.Event) (*slack.WebhookMessage, error) {
	a := alertOf(ev)
	title := Title(ev)
	text := escape(title)
	if tmpl != nil {
		var b bytes.Buffer
		if err := tmpl.Execute(&b, templateData(ev)); err != nil {
			return nil, fmt.Errorf("execute MESSAGEFORMAT: %w", err)
		}
		text = b.String()
	}
	fields := fieldsOf(a)
	att := slack.Attachment{
		Color:    colorFor(ev),
		Fallback: escape(title),
		Footer:   cfg.Footer,
	}
	if a.Timestamp > 0 {
		att.Ts = json.Number(strconv.FormatInt(a.Timestamp, 10))
	}
	switch cfg.OutputFormat {
	case FormatText:
		var b strings.Builder
		if a.Message != "" {
			b.WriteString(escape(a.Message))
			b.WriteString("\n")
		}
		for _, f := range fields {
			fmt.Fprintf(&b, "*%s*: %s\n", f.Title, f.Value)
		}
		att.Text = strings.TrimSuffix(b.String(), "\n")
		att.MarkdownIn = []string{"text"}
	case FormatFields:
		att.Fields = fields
	default: // all
		att.Text = escape(a.Message)
		att.Fields = fields
	}
	msg := &slack.WebhookMessage{
		Username:    cfg.Username,
		Channel:     cfg.Channel,
		Text:        text,
		Attachments: []slack.Attachment{att},
	}
	if strings.HasPrefix(cfg.Icon, ":") && strings.HasSuffix(cfg.Icon, ":") && len(cfg.Icon) > 1 {
		msg.IconEmoji = cfg.Icon
	} else {
		msg.IconURL = cfg.Icon
	}
	return msg, nil
}

// Title is the one-line summary, e.g.
//
//	[Block] ksp-block-secrets: /usr/bin/cat → /etc/shadow (Permission denied) in default/web-7f9c
//
// Logs have no action or policy: "[ContainerLog] File: ...".
func Title(ev schema.Event) string {
	a := alertOf(ev)
	var b strings.Builder
	tag := a.Action
	if tag == "" {
		tag = a.Type
	}
	if tag != "" {
		fmt.Fprintf(&b, "[%s] ", tag)
	}
	name := a.PolicyName
	if name == "" {
		name = a.Operation
	}
	if name != "" {
		b.WriteString(name)
		b.WriteString(": ")
	}
	switch {
	case a.ProcessName != "" && a.Resource != "":
		fmt.Fprintf(&b, "%s → %s", a.ProcessName, a.Resource)
	case a.ProcessName != "":
		b.WriteString(a.ProcessName)
	default:
		b.WriteString(a.Resource)
	}
	if a.Result != "" {
		fmt.Fprintf(&b, " (%s)", a.Result)
	}
	if where := workload(a); where != "" {
		fmt.Fprintf(&b, " in %s", where)
	} else if a.HostName != "" {
		fmt.Fprintf(&b, " on %s", a.HostName)
	}
	return truncate(strings.TrimSpace(b.String()), 3000)
}

// fieldsOf lists the fields people triage by, in a fixed order, skipping
// empty ones. Values are escaped for Slack's mrkdwn.
func fieldsOf(a *pb.Alert) []slack.AttachmentField {
	var out []slack.AttachmentField
	add := func(title, value string) {
		if value == "" {
			return
		}
		value = truncate(value, maxFieldRunes)
		out = append(out, slack.AttachmentField{
			Title: title,
			Value: escape(value),
			Short: utf8.RuneCountInString(value) < shortRunes,
		})
	}
	add("Policy", a.PolicyName)
	add("Severity", a.Severity)
	add("Action", a.Action)
	add("Result", a.Result)
	add("Operation", a.Operation)
	add("Type", a.Type)
	add("Resource", a.Resource)
	add("Process", a.ProcessName)
	add("Parent", a.ParentProcessName)
	if id := ecsTaskID(a); id != "" {
		add("Task", id)
	} else {
		add("Pod", workload(a))
	}
	add("Container", a.ContainerName)
	add("Image", a.ContainerImage)
	add("Host", a.HostName)
	add("Cluster", a.ClusterName)
	add("Tags", strings.Join(splitTags(a.Tags), ", "))
	if t := eventTime(a); t != "" {
		add("Time", t)
	}
	return out
}

// workload is "task <id>" on ECS, namespace/pod on Kubernetes, or "".
func workload(a *pb.Alert) string {
	if id := ecsTaskID(a); id != "" {
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

// ecsNamespace is the NamespaceName KubeArmor (and bluelock's container
// context) uses outside Kubernetes.
const ecsNamespace = "container_namespace"

// ecsTaskID is the ECS task id of an event from ECS: the container context
// puts it in PodName (NamespaceName "container_namespace") and the task ARN
// in Labels. "" for Kubernetes events.
func ecsTaskID(a *pb.Alert) string {
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

func splitTags(tags string) []string {
	var out []string
	for t := range strings.SplitSeq(tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func eventTime(a *pb.Alert) string {
	if a.UpdatedTime != "" {
		return a.UpdatedTime
	}
	if a.Timestamp > 0 {
		return time.Unix(a.Timestamp, 0).UTC().Format(time.RFC3339)
	}
	return ""
}

// escape applies the three escapes Slack's mrkdwn requires.
func escape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate cuts s to at most n runes, ending with an ellipsis when cut.
func truncate(s string, n int) string {
	count := 0
	for i := range s {
		if count == n-1 {
			if utf8.RuneCountInString(s[i:]) > 1 {
				return s[:i] + "…"
			}
			return s
		}
		count++
	}
	return s
}

// templateData is what SLACK_MESSAGEFORMAT sees: the event as a KubeArmor
// Alert, so that {{.PolicyName}}, {{.PodName}}, {{.Resource}} ... work for
// alerts and logs alike (alert-only fields are empty for logs).
func templateData(ev schema.Event) *pb.Alert { return alertOf(ev) }

func sampleEvent() schema.Event { return schema.NewAlert(&pb.Alert{}) }

// alertOf returns alerts as they are and copies a log's fields into an
// Alert, which is a superset of Log.
func alertOf(ev schema.Event) *pb.Alert {
	if ev.Alert != nil {
		return ev.Alert
	}
	l := ev.Log
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
