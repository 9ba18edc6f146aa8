package main

import (
	"reflect"
	"slices"
	"testing"

	"github.com/bluelock/bluelock/policy/source"
	"github.com/bluelock/bluelock/tracer/emit"
)

func TestProtectedPorts(t *testing.T) {
	api := func(g, h string) source.Config {
		var c source.Config
		c.API.GRPCAddr, c.API.HTTPAddr = g, h
		return c
	}
	cases := []struct {
		name    string
		spec    string
		cfg     source.Config
		ingest  string // the sidekick's URL, sidekickURL's answer
		want    []int
		wantErr bool
	}{
		{"auto: policy APIs, sidekick gRPC and local ingest", "auto", api("127.0.0.1:32766", "127.0.0.1:2802"),
			"http://localhost:2801/", []int{2801, 2802, 32766, 32767}, false},
		{"auto: APIs off, remote sidekick", "", api("off", ""),
			"http://kubearmor.kube-system.svc:2801/", []int{32767}, false},
		{"auto: ingest on the default http port", "auto", api("", ""),
			"http://127.0.0.1/", []int{80, 32767}, false},
		{"auto: no sidekick", "auto", api("", ""), "", []int{32767}, false},
		{"none", "none", api("127.0.0.1:32766", ""), "", nil, false},
		{"explicit list", "9000, 9001", api("127.0.0.1:32766", ""), "", []int{9000, 9001}, false},
		{"bad list", "9000,http", source.Config{}, "", nil, true},
		{"out of range", "70000", source.Config{}, "", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := protectedPorts(c.spec, c.cfg, c.ingest)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

// TestSidekickURL: --emit sidekick without SIDEKICK_URL means the sidecar
// on localhost:2801 (docs/configuration.md), and so its ingest port is
// protected from the app; SIDEKICK_URL always counts, whatever --emit says.
func TestSidekickURL(t *testing.T) {
	cases := []struct {
		name, emit, env, want string
	}{
		{"sidekick, default", "sidekick", "", emit.DefaultSidekickURL},
		{"sidekick, set", "sidekick", "http://10.0.0.7:2801/", "http://10.0.0.7:2801/"},
		{"stdout, set", "stdout", "http://localhost:2801/", "http://localhost:2801/"},
		{"stdout, unset", "stdout", "", ""},
		{"file, unset", "file:/dev/null", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := sidekickURL(c.emit, func(k string) string {
				if k == "SIDEKICK_URL" {
					return c.env
				}
				return ""
			})
			if got != c.want {
				t.Fatalf("sidekickURL(%q) with SIDEKICK_URL=%q = %q, want %q", c.emit, c.env, got, c.want)
			}
		})
	}
	ports, err := protectedPorts("auto", source.Config{}, sidekickURL("sidekick", func(string) string { return "" }))
	if err != nil || !slices.Contains(ports, 2801) {
		t.Fatalf("--emit sidekick without SIDEKICK_URL protects %v (%v), want 2801 among them", ports, err)
	}
}

func TestAppEnvDropsSecrets(t *testing.T) {
	in := []string{"PATH=/bin", "BLUELOCK_POLICY_TOKEN=s1", "SIDEKICK_TOKEN=s2", "POLICYSERVICE_TOKEN=s3", "SIDEKICK_URL=http://x", "HOME=/root"}
	want := []string{"PATH=/bin", "SIDEKICK_URL=http://x", "HOME=/root"}
	if got := appEnv(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("appEnv = %v, want %v", got, want)
	}
}
