# Test helper (test/e2e/e2etool): `pause` holds a task's network namespace as Fargate's and
# Kubernetes' pause containers do; `http` reaches 127.0.0.1 ports inside that namespace.
FROM scratch
COPY e2etool /e2etool
USER 65532:65532
ENTRYPOINT ["/e2etool"]
