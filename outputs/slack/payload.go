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

	"github.com/bluelock/bluelock/outputs"
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
	return [...]string{
		outputs.UrgencyNone: colorNone, outputs.UrgencyLow: colorLow, outputs.UrgencyHigh: colorHigh,
		outputs.UrgencyCritical: colorCritical, outputs.UrgencyAudit: colorAudit, outputs.UrgencyBlock: colorBlock,
	}[outputs.UrgencyOf(ev)]
}

// maxFieldRunes bounds one field value; Slack shortens long attachments
// itself, but a multi-kilobyte Resource helps no one in a channel.
const maxFieldRunes = 1000

// shortRunes: values shorter than this sit two per line (falcosidekick's rule).
const shortRunes = 36

// buildMessage is the pure event → webhook payload builder.
func buildMessage(cfg Config, tmpl *template.Template, ev schema.Event) (*slack.WebhookMessage, error) {
	a := ev.AsAlert()
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
	a := ev.AsAlert()
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
	if where := outputs.Workload(a); where != "" {
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
	if id := outputs.ECSTaskID(a); id != "" {
		add("Task", id)
	} else {
		add("Pod", outputs.Workload(a))
	}
	add("Container", a.ContainerName)
	add("Image", a.ContainerImage)
	add("Host", a.HostName)
	add("Cluster", a.ClusterName)
	add("Tags", strings.Join(outputs.SplitTags(a.Tags), ", "))
	if t := eventTime(a); t != "" {
		add("Time", t)
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
func templateData(ev schema.Event) *pb.Alert { return ev.AsAlert() }

func sampleEvent() schema.Event { return schema.NewAlert(&pb.Alert{}) }
