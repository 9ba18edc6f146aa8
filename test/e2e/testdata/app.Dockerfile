# The application: a Debian bookworm userland (debootstrap, imported from the cache) with a
# tiny socat service. It knows nothing about bluelock; the test wraps its command.
ARG ROOTFS
FROM ${ROOTFS}
COPY app/ /app/
COPY secret/ /secret/
EXPOSE 8080
CMD ["/app/app.sh"]
