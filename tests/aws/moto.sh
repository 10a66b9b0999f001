#!/usr/bin/env bash
# The local AWS emulator for tests and the README demo: moto's server in a venv under ~/.cache.
#
#   tests/aws/moto.sh install   create the venv and install moto[server] and AWS's MSK IAM signer
#                               (idempotent)
#   tests/aws/moto.sh up        start moto on a free loopback port; prints `export ...` lines
#                               (STREAMCTL_PYTHON: the venv's python, for reference tools)
#   tests/aws/moto.sh down      stop the moto this script started (by PID)
#   tests/aws/moto.sh status
set -euo pipefail

MOTO_SPEC='moto[server]>=5.2,<6'
# AWS's own MSK IAM token signer: the reference streamctl's MSK IAM tokens are checked against.
MSK_SIGNER_SPEC='aws-msk-iam-sasl-signer-python==1.0.2'
# The Prometheus project's own Python client: its text parser reads what --metrics-addr serves.
PROM_SPEC='prometheus_client==0.26.0'
VENV="${STREAMCTL_VENV:-$HOME/.cache/streamctl/venv}"
STATE="${STREAMCTL_MOTO_STATE:-${TMPDIR:-/tmp}/streamctl-moto-$(id -u)}"

install() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >&2
  fi
  if ! "$VENV/bin/python" -c 'import moto, flask, aws_msk_iam_sasl_signer, prometheus_client' 2>/dev/null; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$MOTO_SPEC" "$MSK_SIGNER_SPEC" "$PROM_SPEC" >&2
  fi
}

free_port() {
  "$VENV/bin/python" - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

up() {
  install
  mkdir -p "$STATE"
  if [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
    port=$(cat "$STATE/port")
  else
    port=$(free_port)
    nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$STATE/moto.log" 2>&1 &
    echo $! >"$STATE/pid"
    echo "$port" >"$STATE/port"
    for _ in $(seq 1 100); do
      if curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then break; fi
      sleep 0.2
    done
    curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null || { echo "moto did not start; see $STATE/moto.log" >&2; cat "$STATE/moto.log" >&2; exit 1; }
  fi
  cat <<EOT
export STREAMCTL_MOTO_ENDPOINT=http://127.0.0.1:$port
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export STREAMCTL_PYTHON=$VENV/bin/python
EOT
}

down() {
  if [ -f "$STATE/pid" ]; then
    kill "$(cat "$STATE/pid")" 2>/dev/null || true
    rm -f "$STATE/pid" "$STATE/port"
  fi
}

status() {
  if [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
    echo "moto running on http://127.0.0.1:$(cat "$STATE/port") (pid $(cat "$STATE/pid"))"
  else
    echo "moto not running"; return 1
  fi
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 install|up|down|status" >&2; exit 2 ;;
esac
