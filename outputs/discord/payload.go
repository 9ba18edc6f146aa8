package discord

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

// Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
// If you change one, change the fake server in discord_test.go and docs/outputs.md.
const (
	maxTitle      = 256
	maxDesc       = 4096
	maxFields     = 25
	maxFieldName  = 256
	maxFieldValue = 1024
	maxFooter     = 2048
	maxTotal      = 6000 // title + description + field names and values + footer text
)

// minFieldValue is the least a field value is cut to before fields are dropped.
const minFieldValue = 16

// Embed colours (integers, as Discord's API wants). Same table as Slack's; if
// you change it, change docs/outputs.md too.
const (
	colorBlock    = 0xe20b0b // Block
	colorAudit    = 0xffc700 // Audit, Audit (Allow), Audit (Block)
	colorCritical = 0xff5400 // severity 8-10
	colorHigh     = 0xffc700 // severity 5-7
	colorLow      = 0x68c2ff // severity 1-4
	colorNone     = 0xccfff2 // no severity: logs, DefaultPosture alerts
)

// payload is the webhook body (https://discord.com/developers/docs/resources/webhook#execute-webhook).
type payload struct {
	Username        string          `json:"username,omitempty"`
	AvatarURL       string          `json:"avatar_url,omitempty"`
	Embeds          []embed         `json:"embeds"`
	AllowedMentions allowedMentions `json:"allowed_mentions"`
}

// allowedMentions with an empty parse list: an event text containing
// "@everyone" must not ping anybody.
type allowedMentions struct {
	Parse []string `json:"parse"`
}

type embed struct {
	Title       string  `json:"title,omitempty"`
	Description string  `json:"description,omitempty"`
	Color       int     `json:"color"`
	Fields      []field `json:"fields,omitempty"`
	Footer      *footer `json:"footer,omitempty"`
	Timestamp   string  `json:"timestamp,omitempty"`
}

type field struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type footer struct {
	Text string `json:"text"`
}

func colorFor(ev schema.Event) int {
	return [...]int{
		outputs.UrgencyNone: colorNone, outputs.UrgencyLow: colorLow, outputs.UrgencyHigh: colorHigh,
		outputs.UrgencyCritical: colorCritical, outputs.UrgencyAudit: colorAudit, outputs.UrgencyBlock: colorBlock,
	}[outputs.UrgencyOf(ev)]
}

// buildPayload is the pure event → webhook body builder. The result always
// fits Discord's limits.
func buildPayload(cfg Config, ev schema.Event) payload {
	a := ev.AsAlert()
	e := embed{
		Title:       precut(title(a), maxTitle),
		Description: escapeMarkdown(precut(a.Message, maxDesc)),
		Color:       colorFor(ev),
		Fields:      fieldsOf(a),
		Footer:      &footer{Text: "bluelock"},
		Timestamp:   timestamp(a),
	}
	fit(&e)
	return payload{
		Username:        cfg.Username,
		AvatarURL:       cfg.Icon,
		Embeds:          []embed{e},
		AllowedMentions: allowedMentions{Parse: []string{}},
	}
}

// title is the one-line summary, e.g.
// "[Block] ksp-block-secrets: /usr/bin/cat → /etc/shadow (Permission denied) in default/web-7f9c".
func title(a *pb.Alert) string {
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
		b.WriteString(name + ": ")
	}
	switch {
	case a.ProcessName != "" && a.Resource != "":
		b.WriteString(a.ProcessName + " → " + a.Resource)
	case a.ProcessName != "":
		b.WriteString(a.ProcessName)
	default:
		b.WriteString(a.Resource)
	}
	if a.Result != "" {
		b.WriteString(" (" + a.Result + ")")
	}
	if w := outputs.Workload(a); w != "" {
		b.WriteString(" in " + w)
	} else if a.HostName != "" {
		b.WriteString(" on " + a.HostName)
	}
	return strings.TrimSpace(b.String())
}

// fieldsOf lists the fields people triage by, then useful extras; empty
// values are skipped (Discord rejects empty field values).
func fieldsOf(a *pb.Alert) []field {
	var out []field
	add := func(name, value string, inline bool) {
		value = strings.TrimSpace(value)
		if value == "" {
			return
		}
		out = append(out, field{Name: name, Value: escapeMarkdown(precut(value, maxFieldValue)), Inline: inline})
	}
	add("Policy", a.PolicyName, true)
	add("Severity", a.Severity, true)
	add("Action", a.Action, true)
	add("Result", a.Result, true)
	add("Operation", a.Operation, true)
	add("Type", a.Type, true)
	add("Resource", a.Resource, false)
	add("Process", a.ProcessName, true)
	add("Parent", a.ParentProcessName, true)
	if id := outputs.ECSTaskID(a); id != "" {
		add("Task", id, true)
	} else {
		add("Pod", outputs.Workload(a), true)
	}
	add("Container", a.ContainerName, true)
	add("Image", a.ContainerImage, false)
	add("Host", a.HostName, true)
	add("Cluster", a.ClusterName, true)
	add("Tags", strings.Join(outputs.SplitTags(a.Tags), ", "), false)
	add("Source", a.Source, false)
	add("Data", a.Data, false)
	add("Enforcer", a.Enforcer, true)
	add("PID", itoaNonZero(a.PID), true)
	add("PPID", itoaNonZero(a.PPID), true)
	add("UID", strconv.Itoa(int(a.UID)), true)
	add("Labels", a.Labels, false)
	add("Container ID", a.ContainerID, false)
	return out
}

// fit enforces every embed limit; see the package doc.
func fit(e *embed) {
	e.Title = cut(e.Title, maxTitle)
	e.Description = cut(e.Description, maxDesc)
	if e.Footer != nil {
		e.Footer.Text = cut(e.Footer.Text, maxFooter)
	}
	if len(e.Fields) > maxFields {
		e.Fields = e.Fields[:maxFields]
	}
	for i := range e.Fields {
		e.Fields[i].Name = cut(e.Fields[i].Name, maxFieldName)
		e.Fields[i].Value = cut(e.Fields[i].Value, maxFieldValue)
	}

	// Over the total: shorten the description first (keeping a readable
	// start), then the longest field values, then the description entirely,
	// then drop fields from the end, then footer and title.
	over := total(e) - maxTotal
	if over <= 0 {
		return
	}
	if d := units(e.Description); d > 0 {
		keep := max(d-over, min(d, 512))
		e.Description = cut(e.Description, keep)
		if over = total(e) - maxTotal; over <= 0 {
			return
		}
	}
	if len(e.Fields) > 0 {
		capValues(e.Fields, over)
		if over = total(e) - maxTotal; over <= 0 {
			return
		}
	}
	e.Description = cut(e.Description, units(e.Description)-over)
	for over = total(e) - maxTotal; over > 0 && len(e.Fields) > 0; over = total(e) - maxTotal {
		e.Fields = e.Fields[:len(e.Fields)-1]
	}
	if over > 0 && e.Footer != nil {
		e.Footer.Text = cut(e.Footer.Text, units(e.Footer.Text)-over)
		if e.Footer.Text == "" {
			e.Footer = nil
		}
		over = total(e) - maxTotal
	}
	if over > 0 {
		e.Title = cut(e.Title, units(e.Title)-over)
	}
}

// capValues lowers the longest field values to one common cap (no lower than
// minFieldValue) so that their sum shrinks by at least over, if it can.
func capValues(fs []field, over int) {
	lens := make([]int, len(fs))
	sum := 0
	for i, f := range fs {
		lens[i] = units(f.Value)
		sum += lens[i]
	}
	target := sum - over
	capped := func(c int) int {
		s := 0
		for _, l := range lens {
			s += min(l, c)
		}
		return s
	}
	// The largest cap c with capped(c) <= target; cut() adds an ellipsis
	// within the cap, so lengths never exceed c.
	lo, hi := minFieldValue, slices.Max(lens)
	if capped(lo) > target {
		hi = lo
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if capped(mid) <= target {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	for i := range fs {
		fs[i].Value = cut(fs[i].Value, lo)
	}
}

// total is what Discord counts against the 6000 limit.
func total(e *embed) int {
	n := units(e.Title) + units(e.Description)
	for _, f := range e.Fields {
		n += units(f.Name) + units(f.Value)
	}
	if e.Footer != nil {
		n += units(e.Footer.Text)
	}
	return n
}

// units is the length in UTF-16 code units: one per rune, two for runes
// outside the Basic Multilingual Plane. Never less than the rune count.
func units(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// cut shortens s to at most n UTF-16 units on a rune boundary, ending with
// "…" when it cut anything. Invalid UTF-8 is replaced first.
func cut(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if units(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	used := 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if used+w > n-1 { // keep one unit for the ellipsis
			return strings.TrimRight(s[:i], " \t\n") + "…"
		}
		used += w
	}
	return s
}

// precut bounds the work on huge inputs before escaping and fitting. A
// string of more than 4n bytes has more than n UTF-16 units whatever it
// holds, so cutting it to 4n bytes on a rune boundary leaves the result of
// the later cut(…, n) unchanged: the same prefix, and still an ellipsis.
func precut(s string, n int) string {
	limit := 4 * n
	if len(s) <= limit {
		return s
	}
	for limit > 0 && !utf8.RuneStart(s[limit]) {
		limit--
	}
	return s[:limit]
}

// escapeMarkdown keeps paths such as /etc/my_app_conf from turning italic.
func escapeMarkdown(s string) string {
	if !strings.ContainsAny(s, "\\*_~`|") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\*_~`|", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func timestamp(a *pb.Alert) string {
	if a.Timestamp > 0 {
		return time.Unix(a.Timestamp, 0).UTC().Format(time.RFC3339)
	}
	if t, err := time.Parse(time.RFC3339Nano, a.UpdatedTime); err == nil {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

func itoaNonZero(n int32) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(int(n))
}
