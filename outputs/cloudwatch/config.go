package cloudwatch

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/bluelock/bluelock/outputs"
)

// PutLogEvents limits (aws-sdk-go-v2 cloudwatchlogs PutLogEvents docs).
// If you change them, change docs/outputs.md and the fake server in
// cloudwatch_test.go.
const (
	MaxBatchEvents = 10_000
	MaxBatchBytes  = 1_048_576
	EventOverhead  = 26
	MaxBatchSpan   = 24 * time.Hour
	// MaxEventBytes is the most a single event may take, overhead included;
	// longer messages are cut with a marker.
	MaxEventBytes = 256 * 1024
)

// DefaultBatchWait is how long the dispatcher may hold events to fill a batch.
const DefaultBatchWait = 2 * time.Second

// Config is the CloudWatch Logs output's configuration (prefix AWS_CLOUDWATCHLOGS_).
type Config struct {
	// LogGroup (AWS_CLOUDWATCHLOGS_LOGGROUP) enables the output. The group
	// must exist; streams are created.
	LogGroup string
	// LogStream (AWS_CLOUDWATCHLOGS_LOGSTREAM) is a text/template over the
	// event's KubeArmor fields, plus the function hostname (the sidekick's
	// host name). Empty means DefaultLogStream: "<namespace>/<pod>" on
	// Kubernetes, "ecs/<task-id>" on ECS, else "bluelock-<hostname>".
	LogStream string
	// Region (AWS_CLOUDWATCHLOGS_REGION) overrides AWS_REGION.
	Region string
	// Endpoint (AWS_CLOUDWATCHLOGS_ENDPOINT) overrides the service endpoint.
	Endpoint string
	// BatchSize (AWS_CLOUDWATCHLOGS_BATCHSIZE) is the most events the
	// dispatcher hands over at once (default and maximum 10,000).
	BatchSize int
	// BatchWait (AWS_CLOUDWATCHLOGS_BATCHWAIT) is how long the dispatcher
	// waits to fill a batch (default 2s).
	BatchWait time.Duration
	// MinimumSeverity (AWS_CLOUDWATCHLOGS_MINIMUMSEVERITY) is applied by
	// the dispatcher.
	MinimumSeverity string
}

// Factory registers the CloudWatch Logs output with cmd/sidekick.
var Factory = outputs.Factory{
	Name:    "cloudwatch",
	Prefix:  "AWS_CLOUDWATCHLOGS",
	Enabled: outputs.EnabledBy("LOGGROUP"),
	New: func(s outputs.Settings, d outputs.Deps) (outputs.Output, error) {
		cfg, err := ConfigFromSettings(s)
		if err != nil {
			return nil, err
		}
		return New(cfg, d)
	},
}

// ConfigFromSettings reads the AWS_CLOUDWATCHLOGS_* settings.
func ConfigFromSettings(s outputs.Settings) (Config, error) {
	get := func(k string) string { return outputs.GetString(s, k, "") }
	cfg := Config{
		LogGroup:        get("LOGGROUP"),
		LogStream:       get("LOGSTREAM"),
		Region:          get("REGION"),
		Endpoint:        get("ENDPOINT"),
		MinimumSeverity: get("MINIMUMSEVERITY"),
	}
	var errs []error
	var err error
	cfg.BatchSize, err = outputs.GetInt(s, "BATCHSIZE", MaxBatchEvents, 1, MaxBatchEvents)
	if err != nil {
		errs = append(errs, fmt.Errorf("cloudwatch: %w", err))
	}
	cfg.BatchWait, err = outputs.GetDuration(s, "BATCHWAIT", DefaultBatchWait)
	if err != nil {
		errs = append(errs, fmt.Errorf("cloudwatch: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (c *Config) applyDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = MaxBatchEvents
	}
	if c.BatchWait == 0 {
		c.BatchWait = DefaultBatchWait
	}
}

// Validate checks the configuration, including that the stream template
// parses and runs.
func (c Config) Validate() error {
	var errs []error
	if c.LogGroup == "" {
		errs = append(errs, errors.New("cloudwatch: AWS_CLOUDWATCHLOGS_LOGGROUP is empty"))
	}
	if c.BatchSize < 1 || c.BatchSize > MaxBatchEvents {
		errs = append(errs, fmt.Errorf("cloudwatch: AWS_CLOUDWATCHLOGS_BATCHSIZE %d: want 1..%d", c.BatchSize, MaxBatchEvents))
	}
	if c.BatchWait < 0 {
		errs = append(errs, fmt.Errorf("cloudwatch: AWS_CLOUDWATCHLOGS_BATCHWAIT %v: negative", c.BatchWait))
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("cloudwatch: AWS_CLOUDWATCHLOGS_ENDPOINT %q: want a URL such as http://localhost:4566", c.Endpoint))
		}
	}
	if _, err := parseStreamTemplate(c.LogStream, "host"); err != nil {
		errs = append(errs, fmt.Errorf("cloudwatch: AWS_CLOUDWATCHLOGS_LOGSTREAM: %w", err))
	}
	return errors.Join(errs...)
}
