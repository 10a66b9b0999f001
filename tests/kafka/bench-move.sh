#!/usr/bin/env bash
# Benchmark a throttled move on the local cluster: a rack-unaware topic of about 300 MB is
# repaired by `streamctl reassign --az-aware --execute` at a per-broker throttle, and the achieved
# time is printed beside the bound (the busiest broker's bytes in or out / throttle). Then the same
# plan on an identical topic is run by Kafka's own kafka-reassign-partitions tool with the same
# throttle (all moves at once), as the reference for what the brokers' throttling achieves.
#
#   bash tests/kafka/bench-move.sh [THROTTLE=20MiB/s] [MB=300] [MAX_MOVES_PER_BROKER=2] [PARTITIONS=12]
#
# PARTITIONS (a multiple of 12) above 12 gives every broker more moves than it may run at once, so
# the schedule (not just the brokers' throttling) decides the time.
set -euo pipefail
cd "$(dirname "$0")/../.."
throttle="${1:-20MiB/s}"
mb="${2:-300}"
per_broker="${3:-2}"
parts="${4:-12}"
(( parts % 12 == 0 )) || { echo "PARTITIONS must be a multiple of 12" >&2; exit 2; }
# Replicas of each partition: two on one AZ (1:4 are both us-east-1a), so every partition moves one.
pattern="1:4:2,4:1:5,2:5:3,5:2:6,3:6:1,6:3:4,1:4:3,4:1:6,2:5:1,5:2:4,3:6:2,6:3:5"
layout=$(for _ in $(seq $(( parts / 12 ))); do echo "$pattern"; done | paste -sd,)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/streamctl/target}"
cargo build -q
bin="$CARGO_TARGET_DIR/debug/streamctl"
eval "$(bash tests/kafka/cluster.sh up)"
first="${STREAMCTL_KAFKA_BOOTSTRAP%%,*}"
tool() { java -Xmx512m -Dlog4j2.configurationFile="$PWD/tests/kafka/tools-log4j2.properties" -cp "$STREAMCTL_KAFKA_LIBS/*" "$@"; }
topic="bench-$(date +%s)"
# Each run writes its data three times over, twice: delete the topics however the script ends.
cleanup() {
  for t in "$topic" "$topic-ref"; do
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$first" --delete --if-exists --topic "$t" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
records=$(( mb * 100 ))
make_topic() {
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$first" --create --topic "$1" \
    --replica-assignment "$layout" >/dev/null
  echo "producing ${mb} MB into $1 ($parts partitions, rack-unaware)..." >&2
  tool org.apache.kafka.tools.ProducerPerformance --topic "$1" --num-records "$records" --record-size 10000 \
    --throughput -1 --producer-props bootstrap.servers="$STREAMCTL_KAFKA_BOOTSTRAP" acks=1 linger.ms=20 batch.size=1048576 >&2
}
make_topic "$topic"
journal=$(mktemp -d)/journal.json
echo "moving at $throttle per broker..." >&2
out=$("$bin" reassign --az-aware --bootstrap-server "$STREAMCTL_KAFKA_BOOTSTRAP" --topics "^$topic\$" --execute \
  --throttle "$throttle" --max-concurrent-moves-per-broker "$per_broker" --journal "$journal" --no-progress -o json)
python3 - "$out" "$throttle" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
moving = r.get("moving_seconds") or float("nan")
ratio = moving / r["bound_seconds"] if r["bound_seconds"] else float("nan")
print(f"moved {r['replicas_moved']} replicas, {r['bytes_moved']/2**20:.0f} MiB at {sys.argv[2]} per broker: "
      f"moves {moving:.1f} s (whole run {r['duration_seconds']:.1f} s), bound {r['bound_seconds']:.1f} s, ratio {ratio:.2f}; "
      f"aggregate {r['achieved_bytes_per_sec']/2**20:.1f} MiB/s; verified={r['verified']}; throttles removed={r['throttles_removed']}")
for a in r.get("advice", []):
    print(f"advice: {a}")
PY

# The reference: Kafka's own tool, same plan shape, same throttle, everything at once.
ref="$topic-ref"
make_topic "$ref"
plan=$(mktemp -d)/plan.json
"$bin" reassign --az-aware --bootstrap-server "$STREAMCTL_KAFKA_BOOTSTRAP" --topics "^$ref\$" --plan-out "$plan" --no-progress >/dev/null
rate=$(python3 -c "import sys; sys.path.insert(0, '.'); print(int(__import__('re').sub('[^0-9.]', '', '$throttle').split('.')[0]) * (1048576 if 'MiB' in '$throttle' else 1000000))")
start=$(date +%s.%N)
tool org.apache.kafka.tools.reassign.ReassignPartitionsCommand --bootstrap-server "$first" --reassignment-json-file "$plan" --execute --throttle "$rate" >/dev/null
# Completion is polled with streamctl's snapshot (fast), comparing replicas with the plan.
until "$bin" snapshot --bootstrap-server "$STREAMCTL_KAFKA_BOOTSTRAP" --topics "^$ref\$" | python3 -c "
import json, sys
snap = {(p['topic'], p['partition']): p['replicas'] for p in json.load(sys.stdin)['partitions']}
plan = json.load(open('$plan'))['partitions']
sys.exit(0 if all(snap.get((p['topic'], p['partition'])) == p['replicas'] for p in plan) else 1)"; do sleep 0.25; done
end=$(date +%s.%N)
tool org.apache.kafka.tools.reassign.ReassignPartitionsCommand --bootstrap-server "$first" --reassignment-json-file "$plan" --verify >/dev/null 2>&1 || true
python3 - "$start" "$end" <<'PY'
import sys
print(f"kafka-reassign-partitions, same plan and throttle, all moves at once: {float(sys.argv[2]) - float(sys.argv[1]):.1f} s from --execute to the last move landing")
PY
