package discord

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/bluelock/bluelock/outputs"
)

// DefaultUsername is the sender name shown when DISCORD_USERNAME is unset.
const DefaultUsername = "bluelock"

// maxUsername is Discord's limit for a webhook's username override.
const maxUsername = 80

// Config is the Discord output's configuration.
type Config struct {
	// WebhookURL (DISCORD_WEBHOOKURL) enables the output; it is a secret.
	WebhookURL string
	// Icon is the avatar image URL (DISCORD_ICON).
	Icon string
	// Username overrides the webhook's name (DISCORD_USERNAME, default bluelock).
	Username string
	// MinimumSeverity (DISCORD_MINIMUMSEVERITY) is applied by the dispatcher.
	MinimumSeverity string
}

// Factory registers the Discord output with cmd/sidekick.
var Factory = outputs.Factory{
	Name:    "discord",
	Prefix:  "DISCORD",
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

// ConfigFromSettings reads the DISCORD_* settings and applies defaults.
func ConfigFromSettings(s outputs.Settings) (Config, error) {
	get := func(k string) string { return outputs.GetString(s, k, "") }
	cfg := Config{
		WebhookURL:      get("WEBHOOKURL"),
		Icon:            get("ICON"),
		Username:        get("USERNAME"),
		MinimumSeverity: get("MINIMUMSEVERITY"),
	}
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
}

// Validate checks the configuration; errors never contain the webhook URL.
func (c Config) Validate() error {
	var errs []error
	if c.WebhookURL == "" {
		errs = append(errs, errors.New("discord: WEBHOOKURL: empty"))
	} else if u, err := url.Parse(c.WebhookURL); err != nil {
		errs = append(errs, errors.New("discord: WEBHOOKURL: not a valid URL"))
	} else if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("discord: WEBHOOKURL: want an https URL with a host, got %s", outputs.RedactURL(c.WebhookURL)))
	}
	if n := len([]rune(c.Username)); n > maxUsername {
		errs = append(errs, fmt.Errorf("discord: USERNAME: %d characters, Discord allows %d", n, maxUsername))
	}
	// Discord refuses webhook names containing these words with a 400.
	for _, bad := range []string{"discord", "clyde"} {
		if strings.Contains(strings.ToLower(c.Username), bad) {
			errs = append(errs, fmt.Errorf("discord: USERNAME %q: Discord rejects names containing %q", c.Username, bad))
		}
	}
	if c.Icon != "" {
		if u, err := url.Parse(c.Icon); err != nil || u.Host == "" {
			errs = append(errs, fmt.Errorf("discord: ICON %q: want an image URL", c.Icon))
		}
	}
	return errors.Join(errs...)
}
