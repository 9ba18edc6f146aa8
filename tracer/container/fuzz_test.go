package container

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// FuzzParseDownwardAPI: any input parses without panicking, and whatever
// the kubelet could write (key=%q lines) comes back exactly.
func FuzzParseDownwardAPI(f *testing.F) {
	for _, name := range []string{"podinfo/labels", "podinfo/annotations"} {
		f.Add(string(fixture(f, name)), "", "")
	}
	f.Add("", "app", "web")
	f.Add("a=\"\\\"\"\n", "k.io/x", "line1\nline2 \"q\" \\ é")
	f.Fuzz(func(t *testing.T, raw, key, value string) {
		_, _ = ParseDownwardAPI([]byte(raw)) // must not panic

		if key == "" || strings.ContainsAny(key, "=\n\r") {
			return // not a Kubernetes key
		}
		m := map[string]string{key: value, "zz-other": "v"}
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(&b, "%s=%q\n", k, m[k])
		}
		got, err := ParseDownwardAPI([]byte(b.String()))
		if err != nil || !maps.Equal(got, m) {
			t.Fatalf("round trip of %q: got %q, %v", b.String(), got, err)
		}
	})
}

// FuzzContainerID: any cgroup or mountinfo content is parsed without
// panicking, and an ID found is always a well-formed one.
func FuzzContainerID(f *testing.F) {
	for _, name := range []string{"cgroup/v1-docker", "cgroup/v2-cri-containerd", "cgroup/ecs-fargate", "mountinfo/docker-v2", "mountinfo/podman"} {
		f.Add(fixture(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, id := range []string{IDFromCgroup(data), IDFromMountinfo(data)} {
			if id != "" && !containerIDRe.MatchString(id) {
				t.Fatalf("malformed ID %q from %q", id, data)
			}
		}
	})
}
