// Package outputs is the contract every sidekick output implements, plus the
// code they share (HTTP posting, retry classification, secret redaction).
// Each output lives in its own subpackage with its own Config; only
// cmd/sidekick imports the subpackages, to wire them.
package outputs

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluelock/bluelock/schema"
)

// Output delivers one event somewhere. Send must honour ctx and return a
// *SendError when it knows whether a retry can help.
type Output interface {
	Name() string
	Send(ctx context.Context, ev schema.Event) error
}

// BatchOutput is an Output that prefers batches (CloudWatch Logs). The
// dispatcher collects up to MaxBatch events or waits at most MaxWait.
type BatchOutput interface {
	Output
	SendBatch(ctx context.Context, evs []schema.Event) error
	BatchLimits() (maxBatch int, maxWait time.Duration)
}

// SendError classifies a failed delivery so the dispatcher can decide.
type SendError struct {
	Err        error
	Retryable  bool
	RetryAfter time.Duration // from a Retry-After header or an SDK hint; 0 = use backoff
	Reason     string        // bounded metric label: "ratelimit", "5xx", "4xx", "network", "timeout", "invalid"
}

func (e *SendError) Error() string {
	return fmt.Sprintf("%s: %v", e.Reason, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// Settings is one output's configuration: the keys under its prefix, merged
// from the optional YAML file and the environment (the environment wins), the
// way falcosidekick reads SLACK_WEBHOOKURL or slack.webhookurl.
type Settings interface {
	// Get returns the value of key (upper-case, without the prefix: "WEBHOOKURL").
	Get(key string) (string, bool)
}

// Deps are what the sidekick gives every output it builds.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	HTTPClient *http.Client
}

// Factory builds one kind of output. cmd/sidekick holds the list; adding an
// output adds one line there and touches nothing else.
type Factory struct {
	// Name is the lower-case name used in logs and metric labels: "slack".
	Name string
	// Prefix is the env prefix and, lower-cased, the YAML section: "SLACK",
	// "AWS_CLOUDWATCHLOGS".
	Prefix string
	// Enabled reports whether the settings turn the output on (its key
	// setting is present, or it is on by default).
	Enabled func(s Settings) bool
	// New builds the output; an error fails sidekick start-up with its message.
	New func(s Settings, d Deps) (Output, error)
	// DefaultTypes is what <PREFIX>_TYPES means when unset: "" for every
	// event, "alerts" for outputs where a log per exec or open would be noise
	// (chat), so enabling Slack never floods a channel with file opens.
	DefaultTypes string
}
