package main

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/bluelock/bluelock/policy/source"
)

// sidekickGRPCPort is the sidekick's KubeArmor port in the same pod/task:
// with the PolicyService forwarder on, it changes policies too.
const sidekickGRPCPort = 32767

// protectedPorts are the local ports the app may not connect to (see
// tracer.Config.ProtectedPorts). "auto" protects the tracer's own policy APIs,
// the sidekick's gRPC port, and the sidekick's ingest port when its URL
// (sidekickURL) is local (so the app can neither lift its policies nor
// flood or forge the telemetry); "none" protects nothing; otherwise a
// comma-separated list.
func protectedPorts(spec string, api source.Config, ingestURL string) ([]int, error) {
	switch strings.TrimSpace(spec) {
	case "none", "off":
		return nil, nil
	case "", "auto":
		ports := []int{sidekickGRPCPort}
		for _, a := range []string{api.API.GRPCAddr, api.API.HTTPAddr} {
			if p := portOf(a); p > 0 {
				ports = append(ports, p)
			}
		}
		if u, err := url.Parse(ingestURL); err == nil && isLocalHost(u.Hostname()) {
			if p, err := strconv.Atoi(u.Port()); err == nil {
				ports = append(ports, p)
			} else if u.Port() == "" {
				ports = append(ports, map[string]int{"http": 80, "https": 443}[u.Scheme])
			}
		}
		slices.Sort(ports)
		return slices.Compact(ports), nil
	}
	var ports []int
	for _, f := range strings.Split(spec, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("--protect-ports: %q is not a port (want auto, none or a comma-separated list)", f)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

func portOf(addr string) int {
	if addr == "" || addr == "off" {
		return 0
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

func isLocalHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// secretEnv are variables the tracer reads but the app must never see: with
// them a compromised app could authenticate to the policy APIs or to the
// sidekick. The tracer itself is non-dumpable, so its own environment is
// not readable through /proc/1/environ either.
var secretEnv = []string{"BLUELOCK_POLICY_TOKEN", "SIDEKICK_TOKEN", "POLICYSERVICE_TOKEN"}

// appEnv is environ without the tracer's secrets.
func appEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(secretEnv, name) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// scrubOwnEnviron overwrites the values of names in this process's initial
// environment block, which is what /proc/<pid>/environ shows. Go has already
// copied the environment at start (os.Getenv keeps working); the block itself
// stays readable to a same-uid process on some kernels even when we are
// non-dumpable, so the secrets must not be there.
func scrubOwnEnviron(names []string) error {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return err
	}
	// Fields after the command name (which may contain spaces) start at ")".
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return fmt.Errorf("unexpected /proc/self/stat")
	}
	f := strings.Fields(s[i+1:])
	// env_start and env_end are fields 50 and 51 of stat; f[0] is field 3.
	if len(f) < 49 {
		return fmt.Errorf("/proc/self/stat has no env_start/env_end")
	}
	start, err1 := strconv.ParseUint(f[47], 10, 64)
	end, err2 := strconv.ParseUint(f[48], 10, 64)
	if err1 != nil || err2 != nil || end <= start || end-start > 1<<24 {
		return fmt.Errorf("env_start/env_end unreadable")
	}
	mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer mem.Close()
	block := make([]byte, end-start)
	if _, err := mem.ReadAt(block, int64(start)); err != nil {
		return fmt.Errorf("read own environment: %w", err)
	}
	changed := false
	for off := 0; off < len(block); {
		n := bytes.IndexByte(block[off:], 0)
		if n < 0 {
			n = len(block) - off
		}
		kv := block[off : off+n]
		if eq := bytes.IndexByte(kv, '='); eq > 0 && slices.Contains(names, string(kv[:eq])) {
			for j := eq + 1; j < len(kv); j++ {
				kv[j] = 'x'
			}
			changed = true
		}
		off += n + 1
	}
	if !changed {
		return nil
	}
	if _, err := mem.WriteAt(block, int64(start)); err != nil {
		return fmt.Errorf("scrub own environment: %w", err)
	}
	return nil
}
