package relay

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

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
	get := func(k string) (string, bool) {
		v, ok := s.Get(k)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	cfg := Config{Enabled: true, ClientBuffer: DefaultClientBuffer, Backlog: DefaultBacklog}
	var errs []error
	if v, ok := get("ENABLED"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("relay: KUBEARMOR_ENABLED %q: want true or false", v))
		}
		cfg.Enabled = b
	}
	if v, ok := get("CLIENTBUFFER"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("relay: KUBEARMOR_CLIENTBUFFER %q: not a number", v))
		}
		cfg.ClientBuffer = n
	}
	if v, ok := get("BACKLOG"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("relay: KUBEARMOR_BACKLOG %q: not a number", v))
		}
		cfg.Backlog = n
	}
	cfg.TLSCertFile, _ = get("TLSCERTFILE")
	cfg.TLSKeyFile, _ = get("TLSKEYFILE")
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
