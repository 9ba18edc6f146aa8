package sidekick

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/bluelock/bluelock/outputs"
)

// Source is the merged configuration: flattened YAML keys overridden by the
// environment. It records which keys were read, so keys nobody reads can be
// reported as unknown.
type Source struct {
	yaml  map[string]string // "SLACK_WEBHOOKURL" -> value
	paths map[string]string // "SLACK_WEBHOOKURL" -> "slack.webhookurl", for messages
	env   func(string) (string, bool)
	used  map[string]bool
}

// mapValuedKeys are settings whose YAML form may be a mapping, rendered to
// the env form "k:v,k2:v2" instead of being flattened into more keys.
var mapValuedKeys = [...]string{"CUSTOMHEADERS"}

// NewSource parses the YAML document (may be empty) and takes env lookups
// from env (os.LookupEnv in production).
func NewSource(yamlDoc []byte, env func(string) (string, bool)) (*Source, error) {
	s := &Source{yaml: map[string]string{}, paths: map[string]string{}, env: env, used: map[string]bool{}}
	if env == nil {
		s.env = func(string) (string, bool) { return "", false }
	}
	if len(bytes.TrimSpace(yamlDoc)) == 0 {
		return s, nil
	}
	js, err := yaml.YAMLToJSON(yamlDoc)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	if root == nil {
		return s, nil
	}
	top, ok := root.(map[string]any)
	if !ok {
		return nil, errors.New("config file: want a YAML mapping at the top level")
	}
	if err := s.flatten("", "", top); err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return s, nil
}

func (s *Source) flatten(key, path string, m map[string]any) error {
	for k, v := range m {
		fk := strings.ToUpper(k)
		fp := strings.ToLower(k)
		if key != "" {
			fk = key + "_" + fk
			fp = path + "." + fp
		}
		switch v := v.(type) {
		case map[string]any:
			if isMapValued(fk) {
				keys := make([]string, 0, len(v))
				for hk := range v {
					keys = append(keys, hk)
				}
				sort.Strings(keys)
				items := make([]string, 0, len(keys))
				for _, hk := range keys {
					sv, err := scalar(fp+"."+hk, v[hk])
					if err != nil {
						return err
					}
					items = append(items, hk+":"+sv)
				}
				s.set(fk, fp, strings.Join(items, ","))
				continue
			}
			if err := s.flatten(fk, fp, v); err != nil {
				return err
			}
		case []any:
			items := make([]string, 0, len(v))
			for i, it := range v {
				sv, err := scalar(fmt.Sprintf("%s[%d]", fp, i), it)
				if err != nil {
					return err
				}
				items = append(items, sv)
			}
			s.set(fk, fp, strings.Join(items, ","))
		default:
			sv, err := scalar(fp, v)
			if err != nil {
				return err
			}
			s.set(fk, fp, sv)
		}
	}
	return nil
}

func (s *Source) set(key, path, v string) {
	s.yaml[key] = v
	s.paths[key] = path
}

func isMapValued(key string) bool {
	for _, k := range mapValuedKeys {
		if strings.HasSuffix(key, "_"+k) || key == k {
			return true
		}
	}
	return false
}

func scalar(path string, v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case json.Number:
		return v.String(), nil
	}
	return "", fmt.Errorf("%s: want a scalar value, got %T", path, v)
}

// Get returns the value of a full key ("LISTENPORT", "SLACK_WEBHOOKURL"):
// the environment variable if set, else the YAML value.
func (s *Source) Get(key string) (string, bool) {
	s.used[key] = true
	if v, ok := s.env(key); ok {
		return v, true
	}
	v, ok := s.yaml[key]
	return v, ok
}

// KeyName implements outputs.KeyNamer for the global keys.
func (s *Source) KeyName(key string) string {
	if p, ok := s.paths[key]; ok {
		return key + " (" + p + ")"
	}
	return key
}

// Sub is the view of the keys under prefix, as an output sees them.
func (s *Source) Sub(prefix string) outputs.Settings { return sub{s: s, prefix: prefix} }

type sub struct {
	s      *Source
	prefix string
}

func (p sub) Get(key string) (string, bool) { return p.s.Get(p.prefix + "_" + key) }
func (p sub) KeyName(key string) string     { return p.s.KeyName(p.prefix + "_" + key) }

// unreadYAMLKeys lists the YAML keys nobody read whose flattened name starts
// with one of prefixes (all keys when prefixes is nil), as "path (KEY)".
func (s *Source) unreadYAMLKeys(match func(key string) bool) []string {
	var out []string
	for k := range s.yaml {
		if !s.used[k] && match(k) {
			out = append(out, fmt.Sprintf("%s (%s)", s.paths[k], k))
		}
	}
	sort.Strings(out)
	return out
}

// UnreadEnv lists the environment variables (from environ, "K=V" items)
// under one of prefixes that nothing read: likely typos such as
// WEBHOOK_ADRESS. Call it after BuildRoutes; the caller warns.
func (s *Source) UnreadEnv(environ []string, prefixes []string) []string {
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if s.used[k] {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(k, p+"_") {
				out = append(out, k)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// TLSServerConfig is the ingest listener's TLS (falcosidekick's names).
type TLSServerConfig struct {
	Deploy     bool   // TLSSERVER_DEPLOY
	CertFile   string // TLSSERVER_CERTFILE
	KeyFile    string // TLSSERVER_KEYFILE
	MutualTLS  bool   // TLSSERVER_MUTUALTLS: require a client cert signed by CACertFile
	CACertFile string // TLSSERVER_CACERTFILE
	// NoTLSPort, if not 0, serves /healthz, /ping and /metrics in plain HTTP
	// on this port (TLSSERVER_NOTLSPORT; falcosidekick uses 2810).
	NoTLSPort int
}

// Config is the sidekick's global configuration. Per-output settings stay in
// the Source and are read by BuildRoutes and the factories.
type Config struct {
	ListenAddress     string // LISTENADDRESS (default "": all interfaces)
	ListenPort        int    // LISTENPORT (default 2801)
	BodyLimit         int64  // BODYLIMIT bytes (default 4 MiB)
	AuthToken         string // AUTH_TOKEN: bearer token required on / and /test
	TLSServer         TLSServerConfig
	QueueSize         int           // OUTPUT_QUEUESIZE (default 10000), per output
	ShutdownTimeout   time.Duration // SHUTDOWN_TIMEOUT (default 10s)
	GRPCListenAddress string        // GRPC_LISTENADDRESS (default ":32767"; "" disables)
	HostName          string        // HOSTNAME, used in /test alerts
	LogLevel          slog.Level    // LOGLEVEL debug|info|warn|error, or DEBUG=true

	ClientCACertFile       string // TLSCLIENT_CACERTFILE
	MutualTLSClientCert    string // MUTUALTLSCLIENT_CERTFILE
	MutualTLSClientKey     string // MUTUALTLSCLIENT_KEYFILE
	MutualTLSClientCACert  string // MUTUALTLSCLIENT_CACERTFILE
	ReadHeaderTimeout      time.Duration
	ReadTimeout            time.Duration
	IdleTimeout            time.Duration
	MaxConcurrentIngestReq int
}

// Defaults.
const (
	DefaultListenPort      = 2801
	DefaultBodyLimit       = 4 << 20
	DefaultShutdownTimeout = 10 * time.Second
	DefaultGRPCAddress     = ":32767"
)

// LoadConfig reads the global keys. Every problem is reported, joined, each
// naming its key.
func LoadConfig(s *Source) (Config, error) {
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	c := Config{
		ListenAddress:     outputs.GetString(s, "LISTENADDRESS", ""),
		AuthToken:         outputs.GetString(s, "AUTH_TOKEN", ""),
		HostName:          outputs.GetString(s, "HOSTNAME", "bluelock-sidekick"),
		ClientCACertFile:  outputs.GetString(s, "TLSCLIENT_CACERTFILE", ""),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	// falcosidekick's layout: MUTUALTLSFILESPATH/{client.crt,client.key,ca.crt}
	// unless the files are named one by one. Only outputs with
	// <PREFIX>_MUTUALTLS=true load them.
	mtlsDir := outputs.GetString(s, "MUTUALTLSFILESPATH", "/etc/certs")
	c.MutualTLSClientCert = outputs.GetString(s, "MUTUALTLSCLIENT_CERTFILE", filepath.Join(mtlsDir, "client.crt"))
	c.MutualTLSClientKey = outputs.GetString(s, "MUTUALTLSCLIENT_KEYFILE", filepath.Join(mtlsDir, "client.key"))
	c.MutualTLSClientCACert = outputs.GetString(s, "MUTUALTLSCLIENT_CACERTFILE", "")
	if c.MutualTLSClientCACert == "" {
		if ca := filepath.Join(mtlsDir, "ca.crt"); fileExists(ca) {
			c.MutualTLSClientCACert = ca
		}
	}
	var err error
	c.ListenPort, err = outputs.GetInt(s, "LISTENPORT", DefaultListenPort, 0, 65535)
	check(err)
	limit, err := outputs.GetInt(s, "BODYLIMIT", DefaultBodyLimit, 1024, 1<<30)
	check(err)
	c.BodyLimit = int64(limit)
	c.QueueSize, err = outputs.GetInt(s, "OUTPUT_QUEUESIZE", 10000, 1, 10_000_000)
	check(err)
	c.ShutdownTimeout, err = outputs.GetDuration(s, "SHUTDOWN_TIMEOUT", DefaultShutdownTimeout)
	check(err)
	c.MaxConcurrentIngestReq, err = outputs.GetInt(s, "MAXCONCURRENTINGEST", 64, 1, 100000)
	check(err)
	if v, ok := s.Get("GRPC_LISTENADDRESS"); ok {
		c.GRPCListenAddress = strings.TrimSpace(v)
	} else {
		c.GRPCListenAddress = DefaultGRPCAddress
	}
	c.TLSServer.Deploy, err = outputs.GetBool(s, "TLSSERVER_DEPLOY", false)
	check(err)
	c.TLSServer.MutualTLS, err = outputs.GetBool(s, "TLSSERVER_MUTUALTLS", false)
	check(err)
	c.TLSServer.CertFile = outputs.GetString(s, "TLSSERVER_CERTFILE", "/etc/certs/server/server.crt")
	c.TLSServer.KeyFile = outputs.GetString(s, "TLSSERVER_KEYFILE", "/etc/certs/server/server.key")
	c.TLSServer.CACertFile = outputs.GetString(s, "TLSSERVER_CACERTFILE", "/etc/certs/server/ca.crt")
	c.TLSServer.NoTLSPort, err = outputs.GetInt(s, "TLSSERVER_NOTLSPORT", 0, 0, 65535)
	check(err)
	if c.TLSServer.MutualTLS && !c.TLSServer.Deploy {
		errs = append(errs, errors.New("TLSSERVER_MUTUALTLS=true needs TLSSERVER_DEPLOY=true"))
	}
	debug, err := outputs.GetBool(s, "DEBUG", false)
	check(err)
	switch lv := strings.ToLower(outputs.GetString(s, "LOGLEVEL", "")); lv {
	case "":
		if debug {
			c.LogLevel = slog.LevelDebug
		}
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("LOGLEVEL: want debug, info, warn or error, got %q", lv))
	}
	return c, errors.Join(errs...)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
