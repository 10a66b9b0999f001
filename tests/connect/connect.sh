#!/usr/bin/env bash
# A Kafka Connect cluster for `migrate diskless --engine connect` tests: two distributed workers
# (org.apache.kafka.connect.cli.ConnectDistributed, connect-runtime + connect-mirror of the
# brokers' version from Maven Central), their internal topics on the local source cluster.
# The REST API is served as production Connect clusters serve it: HTTPS only (a throwaway CA;
# PKCS12 stores, since Connect's Jetty reads no PEM) with HTTP basic auth (Kafka's own
# BasicAuthSecurityRestExtension, user connect-admin). The exports name the CA file and a
# credentials file (user:password), which streamctl and the tests read.
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
export STREAMCTL_CONNECT_URL=https://127.0.0.1:$(cat "$STATE/w1.port")
export STREAMCTL_CONNECT_URL_2=https://127.0.0.1:$(cat "$STATE/w2.port")
export STREAMCTL_CONNECT_CA_FILE=$STATE/tls/ca.pem
export STREAMCTL_CONNECT_CREDENTIALS_FILE=$STATE/credentials
export STREAMCTL_CONNECT_STATE=$STATE
EOT
}

# The REST listener's TLS material and the basic-auth user, made once per state dir.
user=connect-admin
tls_and_users() {
  local tls="$STATE/tls" pass=changeit
  if [ ! -f "$tls/keystore.p12" ]; then
    bash "$here/../common/tls.sh" ca "$tls" streamctl-connect-test-ca
    bash "$here/../common/tls.sh" server "$tls" worker
    openssl pkcs12 -export -in "$tls/worker.pem" -inkey "$tls/worker.key" -name worker \
      -out "$tls/keystore.p12" -passout "pass:$pass" >/dev/null 2>&1
    # The workers forward requests to the leader over HTTPS too: they trust the same CA.
    rm -f "$tls/truststore.p12"
    keytool -importcert -noprompt -alias ca -file "$tls/ca.pem" -keystore "$tls/truststore.p12" \
      -storetype PKCS12 -storepass "$pass" >/dev/null 2>&1
  fi
  if [ ! -f "$STATE/credentials" ]; then
    local secret; secret="connect-secret-$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(8))')"
    echo "$user=$secret" > "$STATE/users.properties"
    echo "$user:$secret" > "$STATE/credentials"
    chmod 600 "$STATE/users.properties" "$STATE/credentials"
  fi
  cat > "$STATE/jaas.conf" <<JAAS
KafkaConnect {
  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required
  file="$STATE/users.properties";
};
JAAS
}

# curl with the CA and the user, for the readiness check.
rest() { curl -s --cacert "$STATE/tls/ca.pem" -u "$(head -1 "$STATE/credentials")" "$@"; }

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
listeners=https://127.0.0.1:$port
rest.advertised.listener=https
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$port
listeners.https.ssl.keystore.type=PKCS12
listeners.https.ssl.keystore.location=$STATE/tls/keystore.p12
listeners.https.ssl.keystore.password=changeit
listeners.https.ssl.key.password=changeit
listeners.https.ssl.truststore.type=PKCS12
listeners.https.ssl.truststore.location=$STATE/tls/truststore.p12
listeners.https.ssl.truststore.password=changeit
rest.extension.classes=org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension
# streamctl points the connector's producer at the target cluster.
connector.client.config.override.policy=All
exactly.once.source.support=disabled
# A dead worker's tasks move after 5 s (default 5 min), and offsets are committed every 2 s
# (default 60 s), so a replay after a failure is short.
scheduled.rebalance.max.delay.ms=5000
offset.flush.interval.ms=2000
plugin.discovery=service_load
EOF
  nohup java -Xmx384m -Djava.security.auth.login.config="$STATE/jaas.conf" -Dlog4j2.configurationFile="${STREAMCTL_CONNECT_LOG4J:-$here/../kafka/tools-log4j2.properties}" \
    -cp "$clibs/*:$libs/*" org.apache.kafka.connect.cli.ConnectDistributed "$STATE/w$n.properties" \
    >"$STATE/w$n.log" 2>&1 &
  echo $! > "$STATE/w$n.pid"
}

wait_ready() {
  local n=$1 port
  port=$(cat "$STATE/w$n.port")
  for _ in $(seq 1 300); do
    if [ "$(rest -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/connectors")" = 200 ]; then return; fi
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
  # Fresh ports at every start: a port kept from an earlier run may since have been taken by a
  # service started in between (the Kafka clusters pick their ranges at random). `start N`
  # after `kill N` keeps the worker's port.
  free_port > "$STATE/w1.port"
  until p=$(free_port) && [ "$p" != "$(cat "$STATE/w1.port")" ]; do :; done
  echo "$p" > "$STATE/w2.port"
  tls_and_users
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
