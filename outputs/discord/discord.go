package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

// Discord is the Discord webhook output.
type Discord struct {
	cfg    Config
	client *http.Client
	logger *slog.Logger
}

var _ outputs.Output = (*Discord)(nil)

// New builds the output.
func New(cfg Config, deps outputs.Deps) (*Discord, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client := deps.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Discord{cfg: cfg, client: client, logger: logger.With("output", "discord")}, nil
}

// Name implements outputs.Output.
func (d *Discord) Name() string { return "discord" }

// Send posts one embed for ev. Errors come from outputs.PostJSON, which
// redacts the webhook URL and honours Retry-After on 429 and 5xx.
func (d *Discord) Send(ctx context.Context, ev schema.Event) error {
	body, err := json.Marshal(buildPayload(d.cfg, ev))
	if err != nil {
		return &outputs.SendError{Err: fmt.Errorf("discord: encode: %w", err), Reason: "invalid"}
	}
	err = outputs.PostJSON(ctx, d.client, d.cfg.WebhookURL, body, nil)
	if se, ok := err.(*outputs.SendError); ok {
		se.Err = fmt.Errorf("discord: %w", se.Err)
		return se
	}
	return err
}
