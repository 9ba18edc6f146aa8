# The sidekick: static, CGO_ENABLED=0, non-root. Same content as the final stage of
# Dockerfile.sidekick (TestDockerfilesMatchRelease checks it).
FROM scratch
COPY sidekick /sidekick
USER 65532:65532
EXPOSE 2801 32767
ENTRYPOINT ["/sidekick"]
