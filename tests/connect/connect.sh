#!/usr/bin/env bash
# A Kafka Connect cluster for `migrate diskless --engine connect` tests: two distributed workers
# (org.apache.kafka.connect.cli.ConnectDistributed, connect-runtime + connect-mirror of the
# brokers' version from Maven Central), their internal topics on the local source cluster.
#
#   tests/connect/connect.sh up        start both workers (needs STREAMCTL_KAFKA_BOOTSTRAP from
#                                      tests/kafka/cluster.sh up); prints `export ...` lines
#   tests/connect/connect.sh down      stop the workers (by PID)
#   tests/connect/connect.sh status    exit 0 when both run
#   tests/connect/connect.sh kill N    kill -9 worker N (1 or 2): the tests' worker failure
#   tests/connect/connect.sh start N   start worker N again
#
# STREAMCTL_CONNECT_LOG4J=FILE gives the workers another log4j2 config (default: warnings only),
# e.g. to log the herder's rebalances while chasing a stall.
#
# Exactly-once source support stays disabled: the diskless test target (nisshi) refuses
# transactional producers, and a worker with it enabled makes every source task transactional.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VENV="${STREAMCTL_VENV:-$HOME/.cache/streamctl/venv}"
STATE="${STREAMCTL_CONNECT_STATE:-${TMPDIR:-/tmp}/streamctl-connect-$(id -u)}"

free_port() { "$VENV/bin/python" "$here/../common/free_port.py"; }

running() { [ -f "$STATE/w$1.pid" ] && kill -0 "$(cat "$STATE/w$1.pid")" 2>/dev/null; }

exports() {
  cat <<EOT
export STREAMCTL_CONNECT_URL=http://127.0.0.1:$(cat "$STATE/w1.port")
export STREAMCTL_CONNECT_URL_2=http://127.0.0.1:$(cat "$STATE/w2.port")
export STREAMCTL_CONNECT_STATE=$STATE
EOT
}

start() {
  local n=$1
  running "$n" && return
  local libs clibs port
  libs="$(bash "$here/../kafka/kafka.sh" fetch)"
  clibs="$(bash "$here/../kafka/kafka.sh" fetch-connect)"
  port=$(cat "$STATE/w$n.port")
  cat > "$STATE/w$n.properties" <<EOF
bootstrap.servers=$(cat "$STATE/bootstrap")
group.id=streamctl-test-connect
config.storage.topic=streamctl-connect-configs
offset.storage.topic=streamctl-connect-offsets
status.storage.topic=streamctl-connect-status
config.storage.replication.factor=3
offset.storage.replication.factor=3
status.storage.replication.factor=3
key.converter=org.apache.kafka.connect.converters.ByteArrayConverter
value.converter=org.apache.kafka.connect.converters.ByteArrayConverter
listeners=http://127.0.0.1:$port
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$port
# streamctl points the connector's producer at the target cluster.
connector.client.config.override.policy=All
exactly.once.source.support=disabled
# A dead worker's tasks move after 5 s (default 5 min), and offsets are committed every 2 s
# (default 60 s), so a replay after a failure is short.
scheduled.rebalance.max.delay.ms=5000
offset.flush.interval.ms=2000
plugin.discovery=service_load
EOF
  nohup java -Xmx384m -Dlog4j2.configurationFile="${STREAMCTL_CONNECT_LOG4J:-$here/../kafka/tools-log4j2.properties}" \
    -cp "$clibs/*:$libs/*" org.apache.kafka.connect.cli.ConnectDistributed "$STATE/w$n.properties" \
    >"$STATE/w$n.log" 2>&1 &
  echo $! > "$STATE/w$n.pid"
}

wait_ready() {
  local n=$1 port
  port=$(cat "$STATE/w$n.port")
  for _ in $(seq 1 300); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/connectors")" = 200 ]; then return; fi
    running "$n" || break
    sleep 0.3
  done
  echo "connect.sh: worker $n did not start; see $STATE/w$n.log" >&2
  tail -20 "$STATE/w$n.log" >&2
  down
  exit 1
}

up() {
  if running 1 && running 2; then exports; return; fi
  : "${STREAMCTL_KAFKA_BOOTSTRAP:?connect.sh: start the Kafka cluster first (tests/kafka/cluster.sh up)}"
  mkdir -p "$STATE"
  echo "$STREAMCTL_KAFKA_BOOTSTRAP" > "$STATE/bootstrap"
  for n in 1 2; do [ -f "$STATE/w$n.port" ] || free_port > "$STATE/w$n.port"; done
  start 1; start 2
  wait_ready 1; wait_ready 2
  exports
}

down() {
  for n in 1 2; do
    if [ -f "$STATE/w$n.pid" ]; then kill "$(cat "$STATE/w$n.pid")" 2>/dev/null || true; rm -f "$STATE/w$n.pid"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) if running 1 && running 2; then exports; else echo "connect not running" >&2; exit 1; fi ;;
  kill) kill -9 "$(cat "$STATE/w${2:?worker 1 or 2}.pid")"; rm -f "$STATE/w$2.pid" ;;
  start) start "${2:?worker 1 or 2}"; wait_ready "$2" ;;
  *) echo "usage: $0 up|down|status|kill N|start N" >&2; exit 2 ;;
esac
