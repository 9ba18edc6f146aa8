package e2e

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bluelock/bluelock/policy"
)

// TestFixturePolicies: the e2e policies load and decide what the container scenarios
// expect, so a container failure points at the tracer or the wiring, not at the fixture.
func TestFixturePolicies(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	td := filepath.Join(filepath.Dir(file), "testdata")
	var all []policy.KubeArmorPolicy
	for _, f := range []string{"policies/block-secret.yaml", "policies/block-apt.yaml", "ecs-policy.yaml"} {
		b, err := os.ReadFile(filepath.Join(td, f))
		if err != nil {
			t.Fatal(err)
		}
		ps, err := policy.Parse(b, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		all = append(all, ps...)
	}
	store := policy.NewStore(policy.Options{ContainerName: "app"})
	if err := store.Apply("e2e", all); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		req    policy.Request
		want   policy.Verdict
		policy string
	}{
		{"secret read", policy.Request{Op: policy.OpFile, Path: "/secret/api-token", Source: "/usr/bin/cat"}, policy.Block, "e2e-block-secret-read"},
		{"apt exec", policy.Request{Op: policy.OpProcess, Path: "/usr/bin/apt", Source: "/usr/bin/bash"}, policy.Block, "e2e-block-pkg-mngr-exec"},
		{"public read", policy.Request{Op: policy.OpFile, Path: "/app/public.txt", Source: "/usr/bin/cat"}, policy.Allow, ""},
		{"id exec", policy.Request{Op: policy.OpProcess, Path: "/usr/bin/id", Source: "/usr/bin/bash"}, policy.Allow, ""},
	}
	for _, tc := range cases {
		d := store.Decide(tc.req)
		if d.Verdict != tc.want || (tc.policy != "" && d.PolicyName != tc.policy) {
			t.Errorf("%s: %v by %q, want %v by %q", tc.name, d.Verdict, d.PolicyName, tc.want, tc.policy)
		}
	}
}
