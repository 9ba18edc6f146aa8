# The init container: nothing but the static tracer. Its only job is
# `bluelock install /kubearmor` into the shared volume (dependsOn: COMPLETE / initContainers).
# Keep equivalent to the final stage of the user-facing Dockerfile (docs/e2e.md).
FROM scratch
COPY bluelock /bluelock
ENTRYPOINT ["/bluelock", "install", "/kubearmor"]
