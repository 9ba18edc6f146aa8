package cloudwatch

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	pb "github.com/kubearmor/KubeArmor/protobuf"

	"github.com/bluelock/bluelock/schema"
)

// logEvent is one CloudWatch log event before it goes on the wire.
type logEvent struct {
	stream  string
	ts      int64 // unix ms
	message string
}

func (e logEvent) size() int { return len(e.message) + EventOverhead }

// truncMarker ends a message that was cut to fit MaxEventBytes.
const truncMarker = "…[truncated by bluelock: %d of %d bytes kept]"

// fitMessage cuts msg so that it plus the per-event overhead fits
// MaxEventBytes, on a UTF-8 boundary, and says so at the end.
func fitMessage(msg string) (string, bool) {
	limit := MaxEventBytes - EventOverhead
	if len(msg) <= limit {
		return msg, false
	}
	// The marker's length depends on the numbers in it; reserve the widest.
	room := limit - len(fmt.Sprintf(truncMarker, limit, len(msg)))
	cut := room
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + fmt.Sprintf(truncMarker, cut, len(msg)), true
}

// eventTime is the event's time in unix milliseconds: UpdatedTime (which
// has microseconds) when it parses, else Timestamp (seconds), else now.
func eventTime(ev schema.Event, now time.Time) int64 {
	var updated string
	switch {
	case ev.Alert != nil:
		updated = ev.Alert.UpdatedTime
	case ev.Log != nil:
		updated = ev.Log.UpdatedTime
	}
	if updated != "" {
		if t, err := time.Parse(time.RFC3339Nano, updated); err == nil {
			return t.UnixMilli()
		}
	}
	if ts := ev.Timestamp(); ts > 0 {
		return ts * 1000
	}
	return now.UnixMilli()
}

// chunk splits events already sorted by time into PutLogEvents-sized
// batches: ≤ MaxBatchEvents events, ≤ MaxBatchBytes bytes (with overhead),
// and a span from first to last event of less than MaxBatchSpan.
func chunk(evs []logEvent) [][]logEvent {
	var out [][]logEvent
	start, bytes := 0, 0
	for i, e := range evs {
		full := i-start >= MaxBatchEvents ||
			bytes+e.size() > MaxBatchBytes ||
			e.ts-evs[start].ts >= MaxBatchSpan.Milliseconds()
		if i > start && full {
			out = append(out, evs[start:i])
			start, bytes = i, 0
		}
		bytes += e.size()
	}
	if start < len(evs) {
		out = append(out, evs[start:])
	}
	return out
}

// sortByTime orders events chronologically, keeping arrival order for
// equal timestamps.
func sortByTime(evs []logEvent) {
	slices.SortStableFunc(evs, func(a, b logEvent) int {
		switch {
		case a.ts < b.ts:
			return -1
		case a.ts > b.ts:
			return 1
		}
		return 0
	})
}

// DefaultLogStream names a stream per pod on Kubernetes, per task on ECS
// (where the container context sets PodName to the task id and
// NamespaceName to "container_namespace"), else per sidekick host.
const DefaultLogStream = `{{if not .PodName}}bluelock-{{hostname}}` +
	`{{else if eq .NamespaceName "container_namespace" ""}}ecs/{{.PodName}}` +
	`{{else}}{{.NamespaceName}}/{{.PodName}}{{end}}`

// maxStreamName is CloudWatch's limit on log stream names.
const maxStreamName = 512

// parseStreamTemplate parses the stream-name template and runs it once over
// an empty event, so a bad field name fails start-up. An empty text gives
// the default (see Config.LogStream).
func parseStreamTemplate(text, hostname string) (*template.Template, error) {
	if strings.TrimSpace(text) == "" {
		text = DefaultLogStream
	}
	funcs := template.FuncMap{"hostname": func() string { return hostname }}
	t, err := template.New("logstream").Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, &pb.Alert{}); err != nil {
		return nil, err
	}
	return t, nil
}

// streamName renders the template for ev and makes the result a legal
// stream name: no ':' or '*', 1..512 characters.
func streamName(t *template.Template, ev schema.Event, fallback string) string {
	var b strings.Builder
	if err := t.Execute(&b, ev.AsAlert()); err != nil {
		return fallback
	}
	name := strings.Map(func(r rune) rune {
		if r == ':' || r == '*' || r == utf8.RuneError {
			return '_'
		}
		return r
	}, strings.TrimSpace(b.String()))
	if name == "" {
		return fallback
	}
	if len(name) > maxStreamName {
		cut := maxStreamName
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	return name
}
