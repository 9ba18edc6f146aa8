# The sidekick: static, CGO_ENABLED=0, non-root.
FROM scratch
COPY sidekick /sidekick
USER 65532:65532
ENTRYPOINT ["/sidekick"]
