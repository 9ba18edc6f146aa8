package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

// Config is the webhook output's configuration.
type Config struct {
	// Address is the URL events are POSTed to (WEBHOOK_ADDRESS); it enables
	// the output and may carry a secret.
	Address string
	// Batch sends NDJSON batches instead of one request per event
	// (WEBHOOK_BATCH).
	Batch bool
	// MaxBatch and MaxWait bound a batch (WEBHOOK_MAXBATCH, WEBHOOK_MAXWAIT).
	MaxBatch int
	MaxWait  time.Duration
	// CustomHeaders are added to every request (WEBHOOK_CUSTOMHEADERS).
	CustomHeaders map[string]string
}

// Defaults.
const (
	DefaultMaxBatch = 100
	DefaultMaxWait  = time.Second
)

// Factory registers the webhook output with cmd/sidekick.
var Factory = outputs.Factory{
	Name:   "webhook",
	Prefix: "WEBHOOK",
	Enabled: func(s outputs.Settings) bool {
		return outputs.GetString(s, "ADDRESS", "") != ""
	},
	New: func(s outputs.Settings, d outputs.Deps) (outputs.Output, error) {
		cfg, err := ConfigFromSettings(s)
		if err != nil {
			return nil, err
		}
		return New(cfg, d.HTTPClient)
	},
}

// ConfigFromSettings reads the WEBHOOK_* keys; errors name the key.
func ConfigFromSettings(s outputs.Settings) (Config, error) {
	var errs []error
	c := Config{Address: outputs.GetString(s, "ADDRESS", "")}
	var err error
	if c.Batch, err = outputs.GetBool(s, "BATCH", false); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBatch, err = outputs.GetInt(s, "MAXBATCH", DefaultMaxBatch, 1, 100000); err != nil {
		errs = append(errs, err)
	}
	if c.MaxWait, err = outputs.GetDuration(s, "MAXWAIT", DefaultMaxWait); err != nil {
		errs = append(errs, err)
	}
	if c.CustomHeaders, err = outputs.GetMap(s, "CUSTOMHEADERS"); err != nil {
		errs = append(errs, err)
	}
	if err := validateURL(c.Address); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", outputs.KeyName(s, "ADDRESS"), err))
	}
	return c, errors.Join(errs...)
}

func validateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("unreadable URL %s", outputs.RedactURL(raw))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("want an http:// or https:// URL, got scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("URL has no host")
	}
	return nil
}

// Output posts events to one URL.
type Output struct {
	cfg     Config
	client  *http.Client
	headers map[string]string
}

// BatchingOutput is the WEBHOOK_BATCH=true variant, an outputs.BatchOutput.
type BatchingOutput struct{ *Output }

// New builds the output; with cfg.Batch it returns a *BatchingOutput.
func New(cfg Config, client *http.Client) (outputs.Output, error) {
	if err := validateURL(cfg.Address); err != nil {
		return nil, fmt.Errorf("webhook address: %w", err)
	}
	if client == nil {
		var err error
		if client, err = outputs.NewHTTPClient(outputs.ClientOptions{CheckCert: true}); err != nil {
			return nil, err
		}
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	h := map[string]string{"User-Agent": "bluelock-sidekick"}
	for k, v := range cfg.CustomHeaders {
		if strings.EqualFold(k, "Content-Type") {
			continue // the body decides it
		}
		h[k] = v
	}
	o := &Output{cfg: cfg, client: client, headers: h}
	if cfg.Batch {
		return &BatchingOutput{o}, nil
	}
	return o, nil
}

// Name implements outputs.Output.
func (o *Output) Name() string { return "webhook" }

// Send implements outputs.Output: one event, one JSON body.
func (o *Output) Send(ctx context.Context, ev schema.Event) error {
	body, err := ev.MarshalJSON()
	if err != nil {
		return &outputs.SendError{Err: fmt.Errorf("marshal event: %w", err), Reason: "invalid"}
	}
	return outputs.PostJSON(ctx, o.client, o.cfg.Address, body, o.headers)
}

// BatchLimits implements outputs.BatchOutput.
func (b *BatchingOutput) BatchLimits() (int, time.Duration) { return b.cfg.MaxBatch, b.cfg.MaxWait }

// SendBatch implements outputs.BatchOutput: one NDJSON body.
func (b *BatchingOutput) SendBatch(ctx context.Context, evs []schema.Event) error {
	var body []byte
	for _, ev := range evs {
		var err error
		if body, err = ev.AppendJSON(body); err != nil {
			return &outputs.SendError{Err: fmt.Errorf("marshal event: %w", err), Reason: "invalid"}
		}
		body = append(body, '\n')
	}
	h := make(map[string]string, len(b.headers)+1)
	for k, v := range b.headers {
		h[k] = v
	}
	h["Content-Type"] = "application/x-ndjson"
	return outputs.PostJSON(ctx, b.client, b.cfg.Address, body, h)
}
