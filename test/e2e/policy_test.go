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
	load := func(files ...string) []policy.KubeArmorPolicy {
		var all []policy.KubeArmorPolicy
		for _, f := range files {
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
		return all
	}
	pod := load("policies/block-secret.yaml", "policies/block-apt.yaml")
	ecs := load("ecs-policy.yaml")
	secret := policy.Request{Op: policy.OpFile, Path: "/secret/api-token", Source: "/usr/bin/cat"}
	apt := policy.Request{Op: policy.OpProcess, Path: "/usr/bin/apt", Source: "/usr/bin/bash"}
	public := policy.Request{Op: policy.OpFile, Path: "/app/public.txt", Source: "/usr/bin/cat"}
	id := policy.Request{Op: policy.OpProcess, Path: "/usr/bin/id", Source: "/usr/bin/bash"}
	podOpts := policy.Options{ContainerName: podContainer, Namespace: podNamespace, Labels: map[string]string{"app": "e2e", "team": "security"}}
	// What the tracer sees in an ECS task: no labels, KubeArmor's non-Kubernetes namespace.
	ecsOpts := policy.Options{ContainerName: "armored-container", Namespace: "container_namespace"}
	cases := []struct {
		name     string
		policies []policy.KubeArmorPolicy
		opts     policy.Options
		req      policy.Request
		want     policy.Verdict
		policy   string
	}{
		{"pod secret read", pod, podOpts, secret, policy.Block, "e2e-block-secret-read"},
		{"pod apt exec", pod, podOpts, apt, policy.Block, "e2e-block-pkg-mngr-exec"},
		{"pod public read", pod, podOpts, public, policy.Allow, ""},
		{"pod id exec", pod, podOpts, id, policy.Allow, ""},
		{"pod policies skip other labels", pod, policy.Options{Namespace: podNamespace, Labels: map[string]string{"app": "other"}}, secret, policy.Allow, ""},
		{"ecs secret read", ecs, ecsOpts, secret, policy.Block, "e2e-ecs-block-secret-read"},
		{"ecs id exec", ecs, ecsOpts, id, policy.Allow, ""},
	}
	for _, tc := range cases {
		store := policy.NewStore(tc.opts)
		if err := store.Apply("e2e", tc.policies); err != nil {
			t.Fatal(err)
		}
		d := store.Decide(tc.req)
		if d.Verdict != tc.want || (tc.policy != "" && d.PolicyName != tc.policy) {
			t.Errorf("%s: %v by %q, want %v by %q", tc.name, d.Verdict, d.PolicyName, tc.want, tc.policy)
		}
	}
}
