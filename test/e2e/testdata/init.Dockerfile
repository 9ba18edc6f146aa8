# The init container: nothing but the static tracer. Its only job is
# `bluelock install /kubearmor` into the shared volume (dependsOn: COMPLETE / initContainers).
# Same content as the final stage of Dockerfile.bluelock (TestDockerfilesMatchRelease checks it).
FROM scratch
COPY bluelock /bluelock
ENTRYPOINT ["/bluelock", "install", "/kubearmor"]
