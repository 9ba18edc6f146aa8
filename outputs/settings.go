package outputs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MapSettings is a Settings backed by a map of keys without the prefix. Tests
// use it; Prefix only serves error messages.
type MapSettings struct {
	Prefix string
	Values map[string]string
}

// Get implements Settings.
func (m MapSettings) Get(key string) (string, bool) {
	v, ok := m.Values[key]
	return v, ok
}

// KeyName implements KeyNamer.
func (m MapSettings) KeyName(key string) string {
	if m.Prefix == "" {
		return key
	}
	return m.Prefix + "_" + key
}

// KeyNamer is implemented by Settings that know the full name of a key
// ("WEBHOOK_ADDRESS" for "ADDRESS"), so errors can name what the user set.
type KeyNamer interface {
	KeyName(key string) string
}

// KeyName returns the full name of key in s, or key itself.
func KeyName(s Settings, key string) string {
	if n, ok := s.(KeyNamer); ok {
		return n.KeyName(key)
	}
	return key
}

// GetString returns the trimmed value of key, or def when unset or blank.
func GetString(s Settings, key, def string) string {
	v, ok := s.Get(key)
	if v = strings.TrimSpace(v); !ok || v == "" {
		return def
	}
	return v
}

// GetBool parses key as a boolean (true/false, 1/0, yes/no, on/off).
func GetBool(s Settings, key string, def bool) (bool, error) {
	v := GetString(s, key, "")
	switch strings.ToLower(v) {
	case "":
		return def, nil
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return def, fmt.Errorf("%s: want true or false, got %q", KeyName(s, key), v)
}

// GetInt parses key as an integer in [min, max].
func GetInt(s Settings, key string, def, min, max int) (int, error) {
	v := GetString(s, key, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def, fmt.Errorf("%s: want an integer, got %q", KeyName(s, key), v)
	}
	if n < min || n > max {
		return def, fmt.Errorf("%s: %d out of range [%d, %d]", KeyName(s, key), n, min, max)
	}
	return n, nil
}

// GetDuration parses key as a Go duration ("1500ms", "2m") or a plain number
// of seconds ("30"); it must not be negative.
func GetDuration(s Settings, key string, def time.Duration) (time.Duration, error) {
	v := GetString(s, key, "")
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, err2 := strconv.ParseFloat(v, 64)
		if err2 != nil {
			return def, fmt.Errorf("%s: want a duration such as 10s or 1m30s, got %q", KeyName(s, key), v)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < 0 {
		return def, fmt.Errorf("%s: must not be negative, got %q", KeyName(s, key), v)
	}
	return d, nil
}

// GetList splits key on commas, trimming spaces and dropping empty items.
func GetList(s Settings, key string) []string {
	var out []string
	for _, item := range strings.Split(GetString(s, key, ""), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// GetMap parses key as "k:v,k2:v2". Each item splits at its first ':', so
// values may contain ':' (URLs, "Bearer a:b"); an item without ':' or with
// an empty key is an error, never silently dropped.
func GetMap(s Settings, key string) (map[string]string, error) {
	items := GetList(s, key)
	if len(items) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(items))
	for i, item := range items {
		k, v, ok := strings.Cut(item, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: item %d %q: want key:value", KeyName(s, key), i+1, item)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// EnabledBy is a Factory.Enabled that turns an output on when key is set,
// the falcosidekick convention (SLACK_WEBHOOKURL enables Slack).
func EnabledBy(key string) func(Settings) bool {
	return func(s Settings) bool { return GetString(s, key, "") != "" }
}
