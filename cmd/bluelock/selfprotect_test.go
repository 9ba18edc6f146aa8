package main

import (
	"reflect"
	"testing"

	"github.com/bluelock/bluelock/policy/source"
)

func TestProtectedPorts(t *testing.T) {
	api := func(g, h string) source.Config {
		var c source.Config
		c.API.GRPCAddr, c.API.HTTPAddr = g, h
		return c
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		name    string
		spec    string
		cfg     source.Config
		env     map[string]string
		want    []int
		wantErr bool
	}{
		{"auto: policy APIs, sidekick gRPC and local ingest", "auto", api("127.0.0.1:32766", "127.0.0.1:2802"),
			map[string]string{"SIDEKICK_URL": "http://localhost:2801/"}, []int{2801, 2802, 32766, 32767}, false},
		{"auto: APIs off, remote sidekick", "", api("off", ""),
			map[string]string{"SIDEKICK_URL": "http://kubearmor.kube-system.svc:2801/"}, []int{32767}, false},
		{"auto: ingest on the default http port", "auto", api("", ""),
			map[string]string{"SIDEKICK_URL": "http://127.0.0.1/"}, []int{80, 32767}, false},
		{"none", "none", api("127.0.0.1:32766", ""), nil, nil, false},
		{"explicit list", "9000, 9001", api("127.0.0.1:32766", ""), nil, []int{9000, 9001}, false},
		{"bad list", "9000,http", source.Config{}, nil, nil, true},
		{"out of range", "70000", source.Config{}, nil, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := protectedPorts(c.spec, c.cfg, env(c.env))
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestAppEnvDropsSecrets(t *testing.T) {
	in := []string{"PATH=/bin", "BLUELOCK_POLICY_TOKEN=s1", "SIDEKICK_TOKEN=s2", "POLICYSERVICE_TOKEN=s3", "SIDEKICK_URL=http://x", "HOME=/root"}
	want := []string{"PATH=/bin", "SIDEKICK_URL=http://x", "HOME=/root"}
	if got := appEnv(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("appEnv = %v, want %v", got, want)
	}
}
