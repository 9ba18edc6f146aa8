#!/bin/bash
# The e2e application. It serves on port 8080 (APP_PORT): every connection runs handler.sh,
# which reads one request line. On SIGTERM it stops its server and exits 42, its own code,
# so a test can tell a graceful exit (42) from a signal death (143) or SIGKILL (137).
port=${APP_PORT:-8080}
on_term() {
	echo "app: SIGTERM received, exiting 42"
	kill "$server" 2>/dev/null
	wait "$server" 2>/dev/null
	exit 42
}
trap on_term TERM
socat "TCP-LISTEN:$port,reuseaddr,fork" EXEC:/app/handler.sh &
server=$!
echo "app: serving on $port as uid $(id -u)"
# wait returns early when a trapped signal arrives; loop until the server itself is gone.
while kill -0 "$server" 2>/dev/null; do
	wait "$server"
done
echo "app: server exited"
exit 1
