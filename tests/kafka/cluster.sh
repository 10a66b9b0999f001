#!/usr/bin/env bash
# A real Apache Kafka cluster in KRaft mode on loopback, for tests and the README demo:
# one controller and six brokers, two per AZ (broker.rack = us-east-1a|b|c), small heaps,
# data under a temp dir, ports from a free range so parallel runs don't collide. Each broker has a
# PLAINTEXT listener, a SASL_PLAINTEXT and a SASL_SSL one (user admin / admin-secret for PLAIN,
# SCRAM-SHA-256 and SCRAM-SHA-512; OAUTHBEARER with Kafka's unsecured JWT validator; a throwaway
# CA for TLS) and an SSL one that requires a client certificate (mutual TLS; the client's
# certificate and key are exported beside the CA).
#
#   tests/kafka/cluster.sh up       start (idempotent); prints `export STREAMCTL_KAFKA_BOOTSTRAP=...`
#   tests/kafka/cluster.sh status   what runs
#   tests/kafka/cluster.sh skewed-topic [NAME]   create a rack-unaware topic with 20 MB of data
#   tests/kafka/cluster.sh stop-broker N | start-broker N   take one broker down and back
#   tests/kafka/cluster.sh down     stop what `up` started (by PID) and remove its data
#
#   tests/kafka/cluster.sh add-broker   start one more broker (next id, next AZ) in the running cluster
#
# Environment: STREAMCTL_KAFKA_BROKERS (6), STREAMCTL_KAFKA_STATE (state dir; STREAMCTL_TIERED_STATE
# for the tiered variant),
# STREAMCTL_KAFKA_EXTRA_PROPS (extra server properties, one per line, appended to every node's file).
#
# The tiered variant (STREAMCTL_KAFKA_TIERED=1): KIP-405 tiered storage on every broker with Kafka's
# reference remote storage manager, LocalTieredStorage (Kafka's test jars), in one directory all
# brokers share (`$state/remote`); three brokers by default, its own state dir, fast tiering and
# retention checks, short copy-quota windows; it exports STREAMCTL_TIERED_* instead of
# STREAMCTL_KAFKA_*, so both clusters can run side by side.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tiered="${STREAMCTL_KAFKA_TIERED:-}"
if [ -n "$tiered" ]; then
  # Its own variable: the main cluster's exported STREAMCTL_KAFKA_STATE must not redirect it.
  state="${STREAMCTL_TIERED_STATE:-${TMPDIR:-/tmp}/streamctl-kafka-tiered-$(id -u)}"
  brokers="${STREAMCTL_KAFKA_BROKERS:-3}"
  env_prefix=STREAMCTL_TIERED
else
  state="${STREAMCTL_KAFKA_STATE:-${TMPDIR:-/tmp}/streamctl-kafka-$(id -u)}"
  brokers="${STREAMCTL_KAFKA_BROKERS:-6}"
  env_prefix=STREAMCTL_KAFKA
fi
racks=(us-east-1a us-east-1b us-east-1c)
# Ports are laid out for up to this many brokers (add-broker included).
max_brokers=9

# A base port with a free range after it: below the kernel's ephemeral range (client sockets
# take ports from there) and checked by binding, not just by connecting.
pick_base() {
  python3 - "$(( 31 + max_brokers ))" <<'PY'
import random, socket, sys
span = int(sys.argv[1])
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except OSError:
    low = 32768
for _ in range(200):
    base = random.randrange(10000, max(10001, low - span))
    socks = []
    try:
        for p in range(base, base + span):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit("cluster.sh: no free port range")
PY
}

java_cmd() {
  java -Xms64m -Xmx320m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$here/log4j2.properties" -cp "$libs/*" "$@"
}

running() { [ -f "$state/pids" ] && while read -r pid; do kill -0 "$pid" 2>/dev/null || return 1; done < "$state/pids"; }

exports() {
  echo "export ${env_prefix}_BOOTSTRAP=$(cat "$state/bootstrap")"
  echo "export ${env_prefix}_SASL_BOOTSTRAP=$(cat "$state/bootstrap-sasl")"
  echo "export ${env_prefix}_SASL_SSL_BOOTSTRAP=$(cat "$state/bootstrap-sasl-ssl")"
  echo "export ${env_prefix}_SSL_BOOTSTRAP=$(cat "$state/bootstrap-ssl")"
  echo "export ${env_prefix}_CA=$state/tls/ca.pem"
  echo "export ${env_prefix}_CLIENT_CERT=$state/tls/client.pem"
  echo "export ${env_prefix}_CLIENT_KEY=$state/tls/client.pk8"
  echo "export STREAMCTL_KAFKA_LIBS=$libs"
  echo "export ${env_prefix}_STATE=$state"
  if [ -n "$tiered" ]; then echo "export STREAMCTL_TIERED_REMOTE_DIR=$state/remote"; fi
}

# KIP-405 tiered storage with Kafka's reference remote storage manager (the tiered variant).
tiered_props() {
  local rf=$(( brokers < 3 ? brokers : 3 ))
  cat <<PROPS
remote.log.storage.system.enable=true
remote.log.storage.manager.class.name=org.apache.kafka.server.log.remote.storage.LocalTieredStorage
rsm.config.dir=$state/remote
rsm.config.delete.enable=true
remote.log.metadata.manager.listener.name=PLAINTEXT
rlmm.config.remote.log.metadata.topic.replication.factor=$rf
rlmm.config.remote.log.metadata.topic.num.partitions=3
# Tier within a second of a segment closing; check retention (local and remote) every second.
remote.log.manager.task.interval.ms=500
log.retention.check.interval.ms=1000
log.initial.task.delay.ms=1000
# Short copy-quota windows (KIP-956), as for replication throttles below: a quota holds within
# seconds rather than averaging over 11 windows.
remote.log.manager.copy.quota.window.num=2
remote.log.manager.copy.quota.window.size.seconds=1
PROPS
}

# SASL users (PLAIN in the JAAS config; SCRAM credentials in the metadata log at format time).
sasl_user=admin
sasl_pass=admin-secret

# Properties every node shares (controller and brokers); needs $state/base.
common() {
  cat <<PROPS
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
controller.listener.names=CONTROLLER
controller.quorum.voters=1001@127.0.0.1:$(cat "$state/base")
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
offsets.topic.num.partitions=3
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
# Seed 004's design: RF 3 with min.insync.replicas 2.
default.replication.factor=3
min.insync.replicas=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
# Short replication-quota windows so throttles bite within seconds on small test moves
# (the default averages over 11 one-second windows).
replication.quota.window.num=2
replication.quota.window.size.seconds=1
# As streamctl renders for brokers it provisions (templates/kafka/server.properties.j2): a follower
# whose throttle window is spent fetches again after 100 ms rather than 1000/500 ms, so throttled
# moves run at their throttle. STREAMCTL_KAFKA_EXTRA_PROPS can set Kafka's defaults back to compare.
replica.fetch.backoff.ms=100
replica.fetch.wait.max.ms=100
PROPS
  # Extra broker/controller properties, one per line (experiments, e.g. quota tuning).
  if [ -n "${STREAMCTL_KAFKA_EXTRA_PROPS:-}" ]; then printf '%s\n' "$STREAMCTL_KAFKA_EXTRA_PROPS"; fi
}

# Write broker N's server.properties (rack us-east-1a/b/c in turn) and format its log dir.
write_broker() {
  local i="$1" base; base=$(cat "$state/base")
  local port=$(( base + i )) sport=$(( base + 10 + i )) tport=$(( base + 20 + i )) mport=$(( base + 30 + i ))
  local tls="$state/tls"
  local jaas_plain="org.apache.kafka.common.security.plain.PlainLoginModule required username=\"$sasl_user\" password=\"$sasl_pass\" user_$sasl_user=\"$sasl_pass\";"
  local jaas_scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  # No server callback handler: Kafka validates OAUTHBEARER tokens with its unsecured JWT
  # validator (alg none, sub/exp checked), which a test token source can satisfy.
  local jaas_oauth="org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"broker\";"
  { echo "process.roles=broker"; echo "node.id=$i"; echo "broker.rack=${racks[$(( (i - 1) % 3 ))]}"
    echo "listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sport,SASL_SSL://127.0.0.1:$tport,SSL://127.0.0.1:$mport"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sport,SASL_SSL://localhost:$tport,SSL://localhost:$mport"
    echo "inter.broker.listener.name=PLAINTEXT"; echo "log.dirs=$state/broker-$i"
    echo "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"
    for l in sasl_plaintext sasl_ssl; do
      echo "listener.name.$l.plain.sasl.jaas.config=$jaas_plain"
      echo "listener.name.$l.scram-sha-256.sasl.jaas.config=$jaas_scram"
      echo "listener.name.$l.scram-sha-512.sasl.jaas.config=$jaas_scram"
      echo "listener.name.$l.oauthbearer.sasl.jaas.config=$jaas_oauth"
    done
    echo "listener.name.sasl_ssl.ssl.keystore.type=PEM"; echo "listener.name.sasl_ssl.ssl.keystore.location=$tls/keystore.pem"
    echo "listener.name.ssl.ssl.keystore.type=PEM"; echo "listener.name.ssl.ssl.keystore.location=$tls/keystore.pem"
    echo "listener.name.ssl.ssl.truststore.type=PEM"; echo "listener.name.ssl.ssl.truststore.location=$tls/ca.pem"
    echo "listener.name.ssl.ssl.client.auth=required"
    echo "replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector"
    if [ -n "$tiered" ]; then tiered_props; fi
    common; } > "$state/broker-$i.properties"
  format_node "$state/broker-$i.properties"
}

format_node() {
  java_cmd kafka.tools.StorageTool format --cluster-id "$(cat "$state/cluster-id")" --config "$1" \
    --add-scram "SCRAM-SHA-256=[name=$sasl_user,password=$sasl_pass]" --add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$sasl_pass]" >/dev/null 2>&1 \
    || { echo "cluster.sh: formatting $1 failed" >&2; return 1; }
}

# The bootstrap lists of every broker written so far.
write_bootstraps() {
  local base; base=$(cat "$state/base")
  local boot=() sboot=() tboot=() mboot=()
  for f in "$state"/broker-*.properties; do
    local i; i=$(basename "$f" .properties); i=${i#broker-}
    boot+=("127.0.0.1:$(( base + i ))"); sboot+=("127.0.0.1:$(( base + 10 + i ))"); tboot+=("localhost:$(( base + 20 + i ))"); mboot+=("localhost:$(( base + 30 + i ))")
  done
  (IFS=,; echo "${boot[*]}") > "$state/bootstrap"
  (IFS=,; echo "${sboot[*]}") > "$state/bootstrap-sasl"
  (IFS=,; echo "${tboot[*]}") > "$state/bootstrap-sasl-ssl"
  (IFS=,; echo "${mboot[*]}") > "$state/bootstrap-ssl"
}

# Wait until broker N has started (once more than `before` times, for a restart).
wait_started() {
  local i="$1" before="${2:-0}" deadline=$(( $(date +%s) + 180 ))
  until [ "$(grep -c "Kafka Server started" "$state/broker-$i.log" 2>/dev/null || true)" -gt "$before" ]; do
    if [ "$(date +%s)" -gt "$deadline" ]; then
      echo "cluster.sh: broker $i did not start; see $state/broker-$i.log" >&2; tail -20 "$state/broker-$i.log" >&2; return 1
    fi
    running || { echo "cluster.sh: a node died; see $state/*.log" >&2; grep -h "ERROR\|Exception" "$state"/*.log | head -5 >&2; return 1; }
    sleep 0.5
  done
}

start_cluster() {
  libs="$(bash "$here/kafka.sh" fetch)"
  if running; then exports; return; fi
  down >/dev/null 2>&1 || true
  mkdir -p "$state" "$state/remote"
  pick_base > "$state/base" || return 1
  java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 > "$state/cluster-id"
  # TLS material for the TLS listeners: a CA, the brokers' certificate for 127.0.0.1/localhost,
  # and a client certificate for the mutual-TLS listener.
  local tls="$state/tls" mk="$here/../common/tls.sh"
  bash "$mk" ca "$tls" streamctl-test-ca
  bash "$mk" server "$tls" broker
  bash "$mk" client "$tls" client
  cat "$tls/broker.pk8" "$tls/broker.pem" "$tls/ca.pem" > "$tls/keystore.pem"
  { echo "process.roles=controller"; echo "node.id=1001"
    echo "listeners=CONTROLLER://127.0.0.1:$(cat "$state/base")"; echo "log.dirs=$state/controller"
    # KRaft controllers validate topic configs: remote.storage.enable is refused unless they too
    # have tiered storage enabled.
    if [ -n "$tiered" ]; then echo "remote.log.storage.system.enable=true"; fi
    common; } > "$state/controller.properties"
  format_node "$state/controller.properties" || exit 1
  for i in $(seq 1 "$brokers"); do write_broker "$i" || exit 1; done
  write_bootstraps
  : > "$state/pids"
  for f in "$state"/controller.properties "$state"/broker-*.properties; do
    local name; name=$(basename "$f" .properties)
    start_node "$name"
  done
  # Wait until every broker has registered and started.
  for i in $(seq 1 "$brokers"); do
    wait_started "$i" || { down; return 1; }
  done
  echo "cluster.sh: controller + $brokers brokers up on $(cat "$state/bootstrap")" >&2
  exports
}

# One more broker in the running cluster: the next id, the next AZ in turn (new, empty brokers
# of an expansion or a drain's target). Prints the exports with the longer bootstrap list.
add_broker() {
  libs="$(bash "$here/kafka.sh" fetch)"
  running || { echo "cluster.sh: the cluster is not up (cluster.sh up)" >&2; exit 1; }
  local n; n=$(ls "$state"/broker-*.properties | wc -l)
  local i=$(( n + 1 ))
  [ "$i" -le "$max_brokers" ] || { echo "cluster.sh: at most $max_brokers brokers" >&2; exit 1; }
  write_broker "$i" || exit 1
  write_bootstraps
  start_node "broker-$i"
  wait_started "$i" || exit 1
  echo "cluster.sh: broker $i (${racks[$(( (i - 1) % 3 ))]}) up" >&2
  exports
}

# Start, retrying with a new port range if a node dies (e.g. a port taken in between).
up() {
  for attempt in 1 2 3; do
    if start_cluster; then return 0; fi
    echo "cluster.sh: start attempt $attempt failed; retrying" >&2
  done
  echo "cluster.sh: the cluster did not start" >&2
  exit 1
}

start_node() {
  local name="$1"
  nohup java -Xms64m -Xmx320m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$here/log4j2.properties" -cp "$libs/*" kafka.Kafka "$state/$name.properties" \
    >> "$state/$name.log" 2>&1 &
  echo $! > "$state/$name.pid"
  echo $! >> "$state/pids"
}

# Stop or start one broker (tests of the offline-broker guard).
stop_broker() {
  local pid; pid=$(cat "$state/broker-$1.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
}

start_broker() {
  # Already running: nothing to do (callers may start a broker again to be sure it is up).
  if [ -f "$state/broker-$1.pid" ] && kill -0 "$(cat "$state/broker-$1.pid")" 2>/dev/null; then return 0; fi
  libs="$(bash "$here/kafka.sh" fetch)"
  local before; before=$(grep -c "Kafka Server started" "$state/broker-$1.log" || true)
  grep -v "^$(cat "$state/broker-$1.pid")\$" "$state/pids" > "$state/pids.new" || true
  mv "$state/pids.new" "$state/pids"
  start_node "broker-$1"
  wait_started "$1" "$before" || { echo "cluster.sh: broker $1 did not come back" >&2; exit 1; }
}

down() {
  if [ -f "$state/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$state/pids"
    for _ in $(seq 1 40); do running 2>/dev/null || break; sleep 0.25; done
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done < "$state/pids"
  fi
  rm -rf "$state"
}

status() {
  if running; then echo "up: $(cat "$state/bootstrap") (pids $(tr '\n' ' ' < "$state/pids"))"; else echo "down"; return 1; fi
}

# A topic laid out without rack awareness (brokers 1 and 4 share us-east-1a, 2 and 5
# us-east-1b, 3 and 6 us-east-1c), with some data: the README demo's starting point.
skewed_topic() {
  local topic="${1:-skewed}"
  libs="$(bash "$here/kafka.sh" fetch)"
  running || { echo "cluster.sh: the cluster is not up (cluster.sh up)" >&2; exit 1; }
  local first; first=$(cut -d, -f1 "$state/bootstrap")
  tool() { java -Xmx256m -Dlog4j2.configurationFile="$here/tools-log4j2.properties" -cp "$libs/*" "$@"; }
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$first" --create --topic "$topic" \
    --replica-assignment 1:4:2,4:1:5,2:5:3,5:2:6,3:6:1,6:3:4 >&2
  tool org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records 20000 --record-size 1000 \
    --throughput -1 --producer-props bootstrap.servers="$(cat "$state/bootstrap")" acks=all >&2
}

case "${1:-}" in
  up) up ;;
  add-broker) add_broker ;;
  skewed-topic) skewed_topic "${2:-skewed}" ;;
  stop-broker) stop_broker "$2" ;;
  start-broker) start_broker "$2" ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status|add-broker|skewed-topic [NAME]|stop-broker N|start-broker N" >&2; exit 2 ;;
esac
