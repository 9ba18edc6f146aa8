package relay

import (
	"errors"
	"fmt"

	"github.com/bluelock/bluelock/outputs"
)

// Defaults, as KubeArmor's own per-client channel (1000).
const (
	DefaultClientBuffer = 1000
	DefaultBacklog      = 1000
)

// Config is the relay output's configuration (prefix KUBEARMOR_).
type Config struct {
	// Enabled is KUBEARMOR_ENABLED (default true).
	Enabled bool
	// ClientBuffer is the per-stream buffer (KUBEARMOR_CLIENTBUFFER).
	ClientBuffer int
	// Backlog is how many events per stream are kept while no client
	// watches that stream (KUBEARMOR_BACKLOG); 0 keeps none.
	Backlog int
	// TLSCertFile and TLSKeyFile (KUBEARMOR_TLSCERTFILE,
	// KUBEARMOR_TLSKEYFILE) turn on TLS for the gRPC server; both or neither.
	TLSCertFile string
	TLSKeyFile  string
}

// Factory registers the relay with cmd/sidekick. It is on unless
// KUBEARMOR_ENABLED=false.
var Factory = outputs.Factory{
	Name:   "relay",
	Prefix: "KUBEARMOR",
	Enabled: func(s outputs.Settings) bool {
		cfg, err := ConfigFromSettings(s)
		// A broken config is "enabled" so that New reports why.
		return err != nil || cfg.Enabled
	},
	New: func(s outputs.Settings, d outputs.Deps) (outputs.Output, error) {
		cfg, err := ConfigFromSettings(s)
		if err != nil {
			return nil, err
		}
		return New(cfg, d)
	},
}

// ConfigFromSettings reads the KUBEARMOR_* settings and applies defaults.
func ConfigFromSettings(s outputs.Settings) (Config, error) {
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("relay: %w", err))
		}
	}
	cfg := Config{
		TLSCertFile: outputs.GetString(s, "TLSCERTFILE", ""),
		TLSKeyFile:  outputs.GetString(s, "TLSKEYFILE", ""),
	}
	var err error
	cfg.Enabled, err = outputs.GetBool(s, "ENABLED", true)
	check(err)
	cfg.ClientBuffer, err = outputs.GetInt(s, "CLIENTBUFFER", DefaultClientBuffer, 1, 1_000_000)
	check(err)
	cfg.Backlog, err = outputs.GetInt(s, "BACKLOG", DefaultBacklog, 0, 1_000_000)
	check(err)
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.ClientBuffer < 1 {
		errs = append(errs, fmt.Errorf("relay: KUBEARMOR_CLIENTBUFFER %d: want at least 1", c.ClientBuffer))
	}
	if c.Backlog < 0 {
		errs = append(errs, fmt.Errorf("relay: KUBEARMOR_BACKLOG %d: want 0 or more", c.Backlog))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("relay: set both KUBEARMOR_TLSCERTFILE and KUBEARMOR_TLSKEYFILE, or neither"))
	}
	return errors.Join(errs...)
}
