package slack

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"

	"github.com/bluelock/bluelock/outputs"
)

// Output formats (SLACK_OUTPUTFORMAT), as in falcosidekick.
const (
	FormatAll    = "all"    // attachment text and fields
	FormatText   = "text"   // attachment text only (the fields folded into it)
	FormatFields = "fields" // attachment fields only
)

// DefaultUsername is the bot name shown when SLACK_USERNAME is unset.
const DefaultUsername = "bluelock"

// Config is the Slack output's configuration.
type Config struct {
	// WebhookURL is the incoming-webhook URL (SLACK_WEBHOOKURL). It enables
	// the output and is a secret.
	WebhookURL string
	// Channel overrides the webhook's default channel (SLACK_CHANNEL).
	Channel string
	// Username is the displayed sender (SLACK_USERNAME, default "bluelock").
	Username string
	// Icon is an image URL or an emoji such as ":shield:" (SLACK_ICON).
	Icon string
	// OutputFormat is all, text or fields (SLACK_OUTPUTFORMAT, default all).
	OutputFormat string
	// MessageFormat is an optional text/template for the top-level text
	// (SLACK_MESSAGEFORMAT), executed over the event's KubeArmor fields
	// ({{.PolicyName}}, {{.NamespaceName}}, ...). Errors fail start-up.
	MessageFormat string
	// Footer is the attachment footer (SLACK_FOOTER, default "bluelock").
	Footer string
	// MinimumSeverity (SLACK_MINIMUMSEVERITY) is applied by the dispatcher,
	// not here; it is kept so the value shows up in the parsed config.
	MinimumSeverity string
}

// Factory registers the Slack output with cmd/sidekick.
var Factory = outputs.Factory{
	Name:    "slack",
	Prefix:  "SLACK",
	Enabled: outputs.EnabledBy("WEBHOOKURL"),
	// A message per exec or open would drown the channel: alerts unless
	// <PREFIX>_TYPES says otherwise.
	DefaultTypes: "alerts",
	New: func(s outputs.Settings, d outputs.Deps) (outputs.Output, error) {
		cfg, err := ConfigFromSettings(s)
		if err != nil {
			return nil, err
		}
		return New(cfg, d)
	},
}

// ConfigFromSettings reads the SLACK_* settings and applies defaults.
func ConfigFromSettings(s outputs.Settings) (Config, error) {
	get := func(k string) string { return outputs.GetString(s, k, "") }
	cfg := Config{
		WebhookURL:      get("WEBHOOKURL"),
		Channel:         get("CHANNEL"),
		Username:        get("USERNAME"),
		Icon:            get("ICON"),
		OutputFormat:    strings.ToLower(get("OUTPUTFORMAT")),
		Footer:          get("FOOTER"),
		MinimumSeverity: get("MINIMUMSEVERITY"),
	}
	// A template may rely on its spaces; keep it verbatim.
	cfg.MessageFormat, _ = s.Get("MESSAGEFORMAT")
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (c *Config) applyDefaults() {
	if c.Username == "" {
		c.Username = DefaultUsername
	}
	if c.OutputFormat == "" {
		c.OutputFormat = FormatAll
	}
	if c.Footer == "" {
		c.Footer = "bluelock"
	}
}

// Validate checks the configuration; errors never contain the webhook URL.
func (c Config) Validate() error {
	var errs []error
	if err := validateWebhookURL(c.WebhookURL); err != nil {
		errs = append(errs, fmt.Errorf("slack: WEBHOOKURL: %w", err))
	}
	switch c.OutputFormat {
	case "", FormatAll, FormatText, FormatFields:
	default:
		errs = append(errs, fmt.Errorf("slack: OUTPUTFORMAT %q: want all, text or fields", c.OutputFormat))
	}
	if _, err := parseTemplate(c.MessageFormat); err != nil {
		errs = append(errs, fmt.Errorf("slack: MESSAGEFORMAT: %w", err))
	}
	return errors.Join(errs...)
}

func validateWebhookURL(raw string) error {
	if raw == "" {
		return errors.New("empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL: do not wrap it.
		return errors.New("not a valid URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("scheme %q: want https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

// parseTemplate parses the message format and executes it once over an empty
// event, so that a reference to a field that does not exist fails start-up
// rather than every delivery. An empty format gives a nil template.
func parseTemplate(format string) (*template.Template, error) {
	if strings.TrimSpace(format) == "" {
		return nil, nil
	}
	t, err := template.New("slack").Option("missingkey=error").Parse(format)
	if err != nil {
		return nil, err
	}
	if err := t.Execute(discardWriter{}, templateData(sampleEvent())); err != nil {
		return nil, err
	}
	return t, nil
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
