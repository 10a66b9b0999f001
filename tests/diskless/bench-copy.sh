#!/usr/bin/env bash
# Copy benchmark (a benchmark that prints figures, not a timed test): streamctl's record copier
# beside Apache Kafka's own MirrorMaker 2 (dedicated mode, connect-mirror of the same version) and
# beside streamctl driving MirrorMaker 2 on two Kafka Connect workers (`--engine connect`),
# copying the same topic on the same machine, unthrottled, into an Apache Kafka target (the
# tiered test cluster, so the target is not the bottleneck); then both streamctl engines into
# nisshi.
#
#   bash tests/diskless/bench-copy.sh            N=200000 SIZE=1000 PARTITIONS=6 by default
#
# It starts the local clusters and nisshi when they are not running (and stops what it started).
# streamctl: the release binary when built (cargo build --release), else the debug one.
# Throughput counts payload: records/s and value bytes/s; MirrorMaker 2's time runs from its
# first copied record to its last (its startup is not counted), streamctl's is the copy phase
# of its report (connect, preflight and verification not counted).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-200000}; SIZE=${SIZE:-1000}; PARTITIONS=${PARTITIONS:-6}
target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/streamctl/target}"
bin="$target_dir/release/streamctl"; [ -x "$bin" ] || bin="$target_dir/debug/streamctl"
[ -x "$bin" ] || { echo "bench-copy: build streamctl first (cargo build --release)" >&2; exit 1; }
libs="$(bash tests/kafka/kafka.sh fetch)"; export STREAMCTL_KAFKA_LIBS="$libs"
clibs="$(bash tests/kafka/kafka.sh fetch-connect)"
stop=()
cleanup() { for c in "${stop[@]}"; do eval "$c" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
bash tests/kafka/cluster.sh status >/dev/null 2>&1 || stop+=("bash tests/kafka/cluster.sh down")
eval "$(bash tests/kafka/cluster.sh up)"
STREAMCTL_KAFKA_TIERED=1 bash tests/kafka/cluster.sh status >/dev/null 2>&1 || stop+=("STREAMCTL_KAFKA_TIERED=1 bash tests/kafka/cluster.sh down")
eval "$(STREAMCTL_KAFKA_TIERED=1 bash tests/kafka/cluster.sh up)"
bash tests/diskless/nisshi.sh status >/dev/null 2>&1 || stop+=("bash tests/diskless/nisshi.sh down")
eval "$(bash tests/diskless/nisshi.sh up)"
bash tests/connect/connect.sh status >/dev/null 2>&1 || stop+=("bash tests/connect/connect.sh down")
eval "$(bash tests/connect/connect.sh up)"
src=${STREAMCTL_KAFKA_BOOTSTRAP%%,*}; dst=${STREAMCTL_TIERED_BOOTSTRAP%%,*}; nisshi=$STREAMCTL_DISKLESS_BOOTSTRAP
tools() { java -Xmx512m -Dlog4j2.configurationFile="$PWD/tests/kafka/tools-log4j2.properties" -cp "$libs/*" "$@"; }
work=$(mktemp -d); stop+=("rm -rf $work")
topic="bench-copy-$(date +%s)"

echo "bench-copy: $N records of $SIZE bytes in $PARTITIONS partitions ($(( N * SIZE / 1000000 )) MB) on $src" >&2
tools org.apache.kafka.tools.TopicCommand --bootstrap-server "$src" --create --topic "$topic" \
  --partitions "$PARTITIONS" --replication-factor 3 >/dev/null
tools org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records "$N" --record-size "$SIZE" \
  --throughput -1 --producer-props bootstrap.servers="$src" acks=all linger.ms=20 batch.size=1048576 >/dev/null
# The same again for the Connect rows (the first topic's target copies already exist).
tools org.apache.kafka.tools.TopicCommand --bootstrap-server "$src" --create --topic "$topic-c" \
  --partitions "$PARTITIONS" --replication-factor 3 >/dev/null
tools org.apache.kafka.tools.ProducerPerformance --topic "$topic-c" --num-records "$N" --record-size "$SIZE" \
  --throughput -1 --producer-props bootstrap.servers="$src" acks=all linger.ms=20 batch.size=1048576 >/dev/null

# 1. streamctl into Apache Kafka.
"$bin" --output json migrate diskless --source-bootstrap "$src" --target-bootstrap "$dst" \
  --topics "^$topic\$" --journal "$work/kafka.json" --yes >"$work/kafka.out" 2>"$work/kafka.err" \
  || { cat "$work/kafka.err" >&2; exit 1; }

# 2. MirrorMaker 2 (dedicated mode) into Apache Kafka.
cat >"$work/mm2.properties" <<PROPS
clusters=src,dst
src.bootstrap.servers=$src
dst.bootstrap.servers=$dst
src->dst.enabled=true
src->dst.topics=$topic
dst->src.enabled=false
tasks.max=$PARTITIONS
replication.factor=3
sync.topic.configs.enabled=false
sync.topic.acls.enabled=false
emit.heartbeats.enabled=false
emit.checkpoints.enabled=false
sync.group.offsets.enabled=false
refresh.topics.interval.seconds=2
offset-syncs.topic.replication.factor=3
checkpoints.topic.replication.factor=3
heartbeats.topic.replication.factor=3
config.storage.replication.factor=3
offset.storage.replication.factor=3
status.storage.replication.factor=3
PROPS
mm2_start=$(date +%s.%N)
java -Xmx1g -Dlog4j2.configurationFile="$PWD/tests/kafka/tools-log4j2.properties" -cp "$clibs/*" \
  org.apache.kafka.connect.mirror.MirrorMaker "$work/mm2.properties" >"$work/mm2.log" 2>&1 &
mm2=$!; stop+=("kill $mm2")
first=""; done_at=""
end_sum() {
  local s
  s=$(tools org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$dst" --topic "src.$topic" 2>/dev/null \
    | awk -F: '{s+=$3} END {print s+0}') || s=0
  echo "${s:-0}"
}
deadline=$(( $(date +%s) + 900 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  n=$(end_sum); now=$(date +%s.%N)
  if [ -z "$first" ] && [ "$n" -gt 0 ]; then first=$now; first_n=$n; fi
  if [ "$n" -ge "$N" ]; then done_at=$now; break; fi
  sleep 0.5
done
kill "$mm2" 2>/dev/null || true
[ -n "$done_at" ] || { echo "bench-copy: MirrorMaker 2 did not finish; see $work/mm2.log" >&2; tail -20 "$work/mm2.log" >&2; exit 1; }

# 3. streamctl into nisshi (the diskless target).
"$bin" --output json migrate diskless --source-bootstrap "$src" --target-bootstrap "$nisshi" \
  --topics "^$topic\$" --journal "$work/nisshi.json" --yes >"$work/nisshi.out" 2>"$work/nisshi.err" \
  || { cat "$work/nisshi.err" >&2; exit 1; }

# 4. streamctl driving MirrorMaker 2 on the two Connect workers, into Apache Kafka and into nisshi
# (the target topics of step 1/3 hold that copy already: these go to a copy of the topic).
for t in kafka nisshi; do
  [ "$t" = kafka ] && dest="$dst" || dest="$nisshi"
  "$bin" --output json migrate diskless --engine connect --connect-url "$STREAMCTL_CONNECT_URL" \
    --connector "bench-$t-$(date +%s)" --source-bootstrap "$src" --target-bootstrap "$dest" \
    --topics "^$topic-c\$" --journal "$work/connect-$t.json" --yes >"$work/connect-$t.out" 2>"$work/connect-$t.err" \
    || { cat "$work/connect-$t.err" >&2; exit 1; }
  "$bin" migrate diskless --engine connect --journal "$work/connect-$t.json" --connect-url "$STREAMCTL_CONNECT_URL" \
    --source-bootstrap "$src" --target-bootstrap "$dest" --cancel >/dev/null 2>&1 || true
done

python3 - "$work" "$N" "$SIZE" "$first" "$first_n" "$done_at" "$mm2_start" "$bin" <<'PY'
import json, sys
work, n, size, first, first_n, done, start, binary = sys.argv[1:]
n, size, first_n = int(n), int(size), int(first_n)
first, done, start = float(first), float(done), float(start)
def row(name):
    r = json.load(open(f"{work}/{name}.out"))
    c = r["copy"]
    assert r["verify"]["ok"], f"{name}: verify failed"
    return c["records"], c["seconds"]
sk, sk_s = row("kafka")
sn, sn_s = row("nisshi")
ck, ck_s = row("connect-kafka")
cn, cn_s = row("connect-nisshi")
# MirrorMaker 2: from its first copied record (the poll that first saw records) to its last.
mm_records = n - first_n
mm_s = done - first
rows = [
    ("streamctl -> Apache Kafka", sk, sk_s),
    ("MirrorMaker 2 -> Apache Kafka", mm_records, mm_s),
    ("streamctl -> nisshi (S3 on moto)", sn, sn_s),
    ("streamctl + Connect (2 workers) -> Kafka", ck, ck_s),
    ("streamctl + Connect (2 workers) -> nisshi", cn, cn_s),
]
print(f"copy benchmark: {n} records x {size} B, binary {binary}")
print(f"{'copier':44} {'records':>9} {'seconds':>8} {'records/s':>10} {'MB/s':>7}")
for name, recs, secs in rows:
    print(f"{name:44} {recs:>9} {secs:>8.2f} {recs/secs:>10.0f} {recs*size/secs/1e6:>7.1f}")
ratio = (sk / sk_s) / (mm_records / mm_s)
print(f"streamctl / MirrorMaker 2 (same source, same target): {ratio:.2f} x records/s and bytes/s (goal >= 1.5)")
print(f"MirrorMaker 2 end to end incl. startup: {done - start:.1f} s")
PY
