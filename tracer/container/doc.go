// Package container finds out where the tracer runs, once at start-up, so
// every event carries KubeArmor's container fields: ClusterName, HostName,
// NamespaceName, PodName, Labels, ContainerID, ContainerName, ContainerImage.
//
// How it works (each source fills what the previous ones left empty, except
// where noted; docs/telemetry.md has the full mapping):
//
//  1. HostName is the kernel host name: on Fargate the pod or task's.
//  2. Kubernetes identity comes from the downward API: POD_NAME,
//     POD_NAMESPACE, CONTAINER_NAME (set by our injector), CLUSTER_NAME, and
//     a downward API volume (BLUELOCK_PODINFO_DIR, default /etc/podinfo) with
//     files "labels" and "annotations" in the `key="value"` format
//     (ParseDownwardAPI). Reading the API server instead, as the PoC did,
//     needs a cluster-wide service account in every pod; the downward API
//     needs none.
//  3. The container ID comes from BLUELOCK_CONTAINER_ID if set, else from
//     /proc/self/cgroup (IDFromCgroup: v1 and v2 lines, Docker, containerd,
//     CRI-O, kubepods, ECS and Fargate's "<task>-<n>" IDs), else from
//     /proc/self/mountinfo (IDFromMountinfo: the runtime's per-container
//     hostname/hosts/resolv.conf bind mounts, for cgroup v2 with a private
//     cgroup namespace).
//  4. On ECS (ECS_CONTAINER_METADATA_URI_V4 set), the task metadata endpoint
//     v4: the container document (Name, DockerId, Image, ImageID, Labels) and
//     the task document (Cluster, TaskARN, Family). DockerId overrides the
//     /proc guess. All requests share a 2 s budget with short per-request
//     timeouts and a few retries, so start-up never waits longer.
//  5. Defaults as KubeArmor has them: ClusterName "default", NamespaceName
//     "container_namespace" outside Kubernetes.
//
// Every input (filesystem, environment, host name, HTTP client, waits) is in
// Config, so the tests run on fixtures.
package container
