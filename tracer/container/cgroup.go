package container

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"
)

// containerIDRe matches a whole path component that is a container ID:
// 64 hex digits (Docker, containerd, CRI-O, ECS on EC2), or ECS on Fargate's
// "<32 hex task id>-<digits>" form (the DataDog agent learned this one the
// hard way: datadog-agent#24192).
var containerIDRe = regexp.MustCompile(`^(?:[0-9a-f]{64}|[0-9a-f]{32}-[0-9]{1,10})$`)

// runtimePrefixes are what systemd cgroup drivers put before the ID in a
// scope name: "cri-containerd-<id>.scope", "docker-<id>.scope", ...
var runtimePrefixes = []string{"cri-containerd-", "docker-", "crio-", "containerd-", "libpod-"}

// IDFromCgroup finds the container ID in /proc/self/cgroup content: cgroup
// v1 lines ("12:cpuset:/docker/<id>"), the v2 line ("0::/kubepods.slice/
// .../cri-containerd-<id>.scope"), kubepods, and ECS "/ecs/<task>/<id>"
// paths. It returns "" when no line names a container, as with cgroup v2
// and a private cgroup namespace ("0::/"), where mountinfo is the fallback.
func IDFromCgroup(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path; the path may contain ':'.
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if id := idFromPath(parts[2]); id != "" {
			return id
		}
	}
	return ""
}

// idFromPath returns the innermost path component that is a container ID.
// Innermost, because nested runtimes and ECS put the task or pod first.
func idFromPath(p string) string {
	comps := strings.Split(p, "/")
	for i := len(comps) - 1; i >= 0; i-- {
		c := strings.TrimSuffix(comps[i], ".scope")
		for _, pre := range runtimePrefixes {
			if strings.HasPrefix(c, pre) {
				c = c[len(pre):]
				break
			}
		}
		if containerIDRe.MatchString(c) {
			return c
		}
	}
	return ""
}

// mountinfoIDRe matches the host-side source of the per-container files a
// runtime bind-mounts into the container: Docker's
// /var/lib/docker/containers/<id>/{hostname,hosts,resolv.conf} and
// Podman's .../overlay-containers/<id>/userdata/{hostname,...}. Sandbox
// files (containerd's .../sandboxes/<pod sandbox id>/hostname) are
// deliberately not matched: that ID is the pause container's, not ours.
var mountinfoIDRe = regexp.MustCompile(`/(?:containers|overlay-containers)/([0-9a-f]{64})/(?:userdata/)?(?:hostname|hosts|resolv\.conf)$`)

// IDFromMountinfo finds the container ID in /proc/self/mountinfo content,
// for cgroup v2 with a private cgroup namespace (Docker's default), where
// /proc/self/cgroup says only "0::/".
func IDFromMountinfo(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// mount-ID parent-ID major:minor root mount-point options ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		if m := mountinfoIDRe.FindStringSubmatch(fields[3]); m != nil {
			return m[1]
		}
	}
	return ""
}
