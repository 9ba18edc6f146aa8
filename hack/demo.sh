#!/usr/bin/env bash
# make demo: start the sidekick (stdout output, plus any output configured in the
# environment, e.g. SLACK_WEBHOOKURL), run a small app under bluelock with the
# example policies in hack/demo/policy.yaml, and show a blocked access, its
# "Permission denied", and the alerts as they arrive at the sidekick.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
PORT=${DEMO_PORT:-2801}
GRPC=${DEMO_GRPC:-127.0.0.1:32767}
work=/tmp/bluelock-demo
rm -rf "$work"; mkdir -p "$work/credentials"
echo "AKIA-DEMO-NOT-A-REAL-KEY" > "$work/credentials/aws-key"

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }

bold "== 1. the sidekick: KubeArmor events in, stdout (and your configured outputs) out"
# Something already on the port would answer the health check below and take
# the demo's events: say so instead.
for addr in "127.0.0.1:$PORT" "$GRPC"; do
  if (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then
    echo "$addr is already in use (another sidekick?): stop it, or set DEMO_PORT / DEMO_GRPC" >&2
    exit 1
  fi
done
LISTENADDRESS=127.0.0.1 LISTENPORT=$PORT GRPC_LISTENADDRESS=$GRPC \
  "$BIN/sidekick" > "$work/sidekick.out" 2> "$work/sidekick.log" &
sk=$!
tailer=""
# set -e stays in force inside traps: the clean-up must not stop at a failed kill.
cleanup() {
  set +e
  [ -n "$tailer" ] && kill "$tailer" 2>/dev/null
  kill "$sk" 2>/dev/null
  wait "$sk" 2>/dev/null
  return 0
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 $sk 2>/dev/null; then echo "sidekick failed to start:"; cat "$work/sidekick.log"; exit 1; fi
  sleep 0.1
done
grep -h 'enabled outputs' "$work/sidekick.log" || true
echo "sidekick listening on http://127.0.0.1:$PORT (KubeArmor LogService on $GRPC)"

bold "== 2. the policies (hack/demo/policy.yaml), checked before use"
"$BIN/bluelock" policy validate hack/demo/policy.yaml

# Print each alert as it reaches the sidekick, while the app runs.
tail -n +1 -F "$work/sidekick.out" 2>/dev/null | while IFS= read -r line; do
  case "$line" in *'"MatchedPolicy"'*) printf '\033[33m  sidekick ← alert: %s\033[0m\n' "$line";; esac
done &
tailer=$!

bold "== 3. an app under bluelock: /kubearmor/bluelock sh -c '...' in a real pod"
set +e
SIDEKICK_URL="http://127.0.0.1:$PORT/" "$BIN/bluelock" --policy hack/demo/policy.yaml -- sh -c '
  echo "app: starting, hostname is $(cat /etc/hostname)"
  echo "app: reading /etc/passwd (audited)";   head -1 /etc/passwd
  echo "app: reading the cloud credentials";   cat /tmp/bluelock-demo/credentials/aws-key
  echo "app: who am I?";                       whoami
  echo "app: done"; exit 7'
code=$?
set -e
echo "app exit code: $code (bluelock passes the app's own exit code through)"

bold "== 4. what the sidekick received"
# The tracer delivers asynchronously; wait until the sidekick has written the alerts.
for _ in $(seq 1 50); do
  [ "$(grep -c '"MatchedPolicy"' "$work/sidekick.out" 2>/dev/null || true)" -ge 3 ] && break
  sleep 0.1
done
sleep 0.3
kill "$tailer" 2>/dev/null || true
tailer=""
echo "$(grep -c '"MatchedPolicy"' "$work/sidekick.out" || true) alerts and $(grep -c '"ContainerLog"' "$work/sidekick.out" || true) logs; metrics:"
curl -fsS "http://127.0.0.1:$PORT/metrics" | grep -E '^bluelock_sidekick_(inputs|outputs)_total' || true
