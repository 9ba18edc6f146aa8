package sidekick

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
	"github.com/bluelock/bluelock/sidekick/dispatch"
)

// Keys every output has (read here, not by the output). If you add one, add
// it to docs/sidekick.md.
const (
	keyMinimumSeverity = "MINIMUMSEVERITY"
	keyActions         = "ACTIONS"
	keyTypes           = "TYPES"
	keyNamespaces      = "NAMESPACES"
	keyQueueSize       = "QUEUESIZE"
	keyWorkers         = "MAXCONCURRENTREQUESTS"
	keyMaxRetries      = "MAXRETRIES"
	keyMaxAge          = "MAXAGE"
	keyCheckCert       = "CHECKCERT"
	keyMutualTLS       = "MUTUALTLS"
	keyTimeout         = "TIMEOUT"
)

// Defaults of the common output keys.
const (
	DefaultMaxRetries = 5
	DefaultMaxAge     = 10 * time.Minute
)

// BuiltOutput is one enabled output and its route.
type BuiltOutput struct {
	Name   string
	Output outputs.Output
	Route  dispatch.Route
}

// BuildRoutes builds every enabled output. It returns all problems at once:
// bad common keys, constructor errors, and unknown YAML keys (under an
// enabled output's section, or under no known section at all).
func BuildRoutes(src *Source, cfg Config, factories []outputs.Factory, logger *slog.Logger, reg prometheus.Registerer) ([]BuiltOutput, error) {
	var errs []error
	var built []BuiltOutput
	names := map[string]bool{}
	enabledPrefixes := map[string]bool{}
	for _, f := range factories {
		if names[f.Name] {
			errs = append(errs, fmt.Errorf("two outputs named %q", f.Name))
			continue
		}
		names[f.Name] = true
		s := src.Sub(f.Prefix)
		if f.Enabled == nil || f.New == nil || !f.Enabled(s) {
			continue
		}
		enabledPrefixes[f.Prefix] = true
		route, client, err := commonRoute(s, cfg, f.DefaultTypes)
		if err != nil {
			errs = append(errs, fmt.Errorf("output %s: %w", f.Name, err))
			continue
		}
		out, err := f.New(s, outputs.Deps{
			Logger:     logger.With("output", f.Name),
			Registerer: reg,
			HTTPClient: client,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("output %s: %w", f.Name, err))
			continue
		}
		if out.Name() != f.Name {
			errs = append(errs, fmt.Errorf("output %s: its Name() is %q; it must match the factory name", f.Name, out.Name()))
			continue
		}
		route.Output = out
		built = append(built, BuiltOutput{Name: f.Name, Output: out, Route: route})
	}
	errs = append(errs, unknownKeyErrors(src, factories, enabledPrefixes, logger)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return built, nil
}

// commonRoute reads the keys every output has and builds its HTTP client.
func commonRoute(s outputs.Settings, cfg Config, defaultTypes string) (dispatch.Route, *http.Client, error) {
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var r dispatch.Route
	var err error
	r.Filter.MinSeverity, err = outputs.GetInt(s, keyMinimumSeverity, 0, 0, 10)
	check(err)
	for _, a := range outputs.GetList(s, keyActions) {
		if !slices.Contains(schema.Actions(), a) {
			errs = append(errs, fmt.Errorf("%s: unknown action %q, want some of %s", outputs.KeyName(s, keyActions), a, strings.Join(schema.Actions(), ", ")))
			continue
		}
		r.Filter.Actions = append(r.Filter.Actions, a)
	}
	types := outputs.GetList(s, keyTypes)
	if _, set := s.Get(keyTypes); !set && defaultTypes != "" {
		types = strings.Split(defaultTypes, ",")
	}
	for _, t := range types {
		switch strings.ToLower(t) {
		case "alerts", "alert":
			r.Filter.Types |= dispatch.TypeAlerts
		case "logs", "log":
			r.Filter.Types |= dispatch.TypeLogs
		default:
			errs = append(errs, fmt.Errorf("%s: unknown type %q, want alerts and/or logs", outputs.KeyName(s, keyTypes), t))
		}
	}
	r.Filter.Namespaces = outputs.GetList(s, keyNamespaces)
	r.QueueSize, err = outputs.GetInt(s, keyQueueSize, cfg.QueueSize, 1, 10_000_000)
	check(err)
	r.Workers, err = outputs.GetInt(s, keyWorkers, dispatch.DefaultWorkers, 1, 1024)
	check(err)
	r.MaxRetries, err = outputs.GetInt(s, keyMaxRetries, DefaultMaxRetries, 0, 1000)
	check(err)
	r.MaxAge, err = outputs.GetDuration(s, keyMaxAge, DefaultMaxAge)
	check(err)
	opts := outputs.ClientOptions{
		CACertFile:       cfg.ClientCACertFile,
		CertFile:         cfg.MutualTLSClientCert,
		KeyFile:          cfg.MutualTLSClientKey,
		MutualCACertFile: cfg.MutualTLSClientCACert,
	}
	opts.CheckCert, err = outputs.GetBool(s, keyCheckCert, true)
	check(err)
	opts.MutualTLS, err = outputs.GetBool(s, keyMutualTLS, false)
	check(err)
	opts.Timeout, err = outputs.GetDuration(s, keyTimeout, outputs.DefaultTimeout)
	check(err)
	if len(errs) > 0 {
		return r, nil, errors.Join(errs...)
	}
	// The attempt bound sits above the client's own timeout, for outputs that
	// make several requests per send.
	r.AttemptTimeout = max(3*opts.Timeout, dispatch.DefaultAttemptTimeout)
	client, err := outputs.NewHTTPClient(opts)
	if err != nil {
		return r, nil, fmt.Errorf("%s/%s: %w", outputs.KeyName(s, keyCheckCert), outputs.KeyName(s, keyMutualTLS), err)
	}
	return r, client, nil
}

// unknownKeyErrors reports YAML keys nobody read. Keys under a known but
// disabled output's section only get a warning: the output may be enabled
// by env later, and its keys are not read while it is off.
func unknownKeyErrors(src *Source, factories []outputs.Factory, enabled map[string]bool, logger *slog.Logger) []error {
	prefixes := make([]string, 0, len(factories))
	for _, f := range factories {
		prefixes = append(prefixes, f.Prefix)
	}
	// Longest prefix first: AWS_CLOUDWATCHLOGS before a hypothetical AWS.
	sort.Slice(prefixes, func(i, j int) bool { return len(prefixes[i]) > len(prefixes[j]) })
	owner := func(key string) string {
		for _, p := range prefixes {
			if strings.HasPrefix(key, p+"_") {
				return p
			}
		}
		return ""
	}
	var errs []error
	for _, k := range src.unreadYAMLKeys(func(key string) bool { p := owner(key); return p == "" || enabled[p] }) {
		errs = append(errs, fmt.Errorf("config file: unknown key %s", k))
	}
	disabled := src.unreadYAMLKeys(func(key string) bool { p := owner(key); return p != "" && !enabled[p] })
	if len(disabled) > 0 {
		logger.Warn("config file sets keys of outputs that are not enabled", "keys", disabled)
	}
	return errs
}
