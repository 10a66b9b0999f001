#!/usr/bin/env bash
# The project's test command (README): starts the services the tests use, runs every test,
# stops what it started. Safe to run repeatedly; caches live under ~/.cache/streamctl.
#
# Without arguments it runs in two rounds, so that the one long install (the diskless broker,
# nisshi, built once with the nightly toolchain) overlaps the tests that do not need it:
#   1. every test target but migrate_diskless, migrate_connect and runbooks, against moto and the
#      two local Kafka clusters, while nisshi builds in the background at the lowest CPU priority;
#   2. those three, once nisshi and the Kafka Connect workers are up.
# With arguments (`bash tests/run.sh --test cli`, `bash tests/run.sh -- some_filter`) it starts
# every service first and runs `cargo test --all-targets ARGS` once.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/streamctl/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
logs="${STREAMCTL_LOG_DIR:-$HOME/.cache/streamctl/logs}"
mkdir -p "$logs"

# What this run started, stopped in reverse order however it ends.
stops=()
stop_all() {
  local i
  for ((i = ${#stops[@]} - 1; i >= 0; i--)); do eval "${stops[$i]}" >/dev/null 2>&1 || true; done
}
trap stop_all EXIT

# The targets that need the diskless target (nisshi) and Kafka Connect (runbooks: nisshi).
late=(migrate_diskless migrate_connect runbooks)

# Local AWS emulator (moto) for the tests that call AWS.
moto_env="$(bash tests/aws/moto.sh up)" || { echo "run.sh: the AWS emulator did not start" >&2; exit 1; }
eval "$moto_env"
stops+=("bash tests/aws/moto.sh down")
echo "moto: $STREAMCTL_MOTO_ENDPOINT" >&2

if [ "${STREAMCTL_SKIP_KAFKA:-}" = "1" ]; then
  echo "WARNING: STREAMCTL_SKIP_KAFKA=1: the Kafka tests will be skipped" >&2
  cargo test --all-targets "$@"
  exit
fi

# nisshi: built now if missing, in the background (tests/diskless/nisshi.sh holds a lock, so a
# build .ci/run already started is waited for, not repeated).
bash tests/diskless/nisshi.sh install >"$logs/nisshi-install.log" 2>&1 &
nisshi_install=$!

# Apache Kafka's jars (Maven Central) for the tests that boot real brokers.
STREAMCTL_KAFKA_LIBS="$(bash tests/kafka/kafka.sh fetch)"
export STREAMCTL_KAFKA_LIBS
# The local KRaft cluster (1 controller, 6 brokers, 2 per AZ) and its tiered variant (KIP-405 with
# LocalTieredStorage, 3 brokers; tests add more), started side by side.
bash tests/kafka/cluster.sh up >"$logs/kafka.env" 2>"$logs/kafka-up.log" &
kafka_up=$!
STREAMCTL_KAFKA_TIERED=1 bash tests/kafka/cluster.sh up >"$logs/tiered.env" 2>"$logs/tiered-up.log" &
tiered_up=$!
stops+=("bash tests/kafka/cluster.sh down" "STREAMCTL_KAFKA_TIERED=1 bash tests/kafka/cluster.sh down")
wait "$kafka_up" || { cat "$logs/kafka-up.log" >&2; echo "run.sh: the Kafka cluster did not start" >&2; exit 1; }
wait "$tiered_up" || { cat "$logs/tiered-up.log" >&2; echo "run.sh: the tiered Kafka cluster did not start" >&2; exit 1; }
eval "$(cat "$logs/kafka.env" "$logs/tiered.env")"
echo "kafka: $STREAMCTL_KAFKA_BOOTSTRAP" >&2
echo "kafka (tiered): $STREAMCTL_TIERED_BOOTSTRAP" >&2

late_services() {
  # Kafka Connect (two distributed workers, MirrorMaker 2) for `migrate diskless --engine connect`:
  # it needs only the Kafka cluster, so it starts while the nisshi build may still run.
  connect_env="$(bash tests/connect/connect.sh up)" || { echo "run.sh: the Connect workers did not start" >&2; exit 1; }
  eval "$connect_env"
  stops+=("bash tests/connect/connect.sh down")
  echo "connect: $STREAMCTL_CONNECT_URL $STREAMCTL_CONNECT_URL_2" >&2
  # The diskless target for `migrate diskless`: nisshi on its own single-threaded moto S3.
  if ! wait "$nisshi_install"; then
    tail -30 "$logs/nisshi-install.log" >&2
    echo "run.sh: building the diskless target (nisshi) failed; see $logs/nisshi-install.log" >&2
    exit 1
  fi
  diskless_env="$(bash tests/diskless/nisshi.sh up)" || { echo "run.sh: the diskless target (nisshi) did not start" >&2; exit 1; }
  eval "$diskless_env"
  stops+=("bash tests/diskless/nisshi.sh down")
  echo "diskless (nisshi): $STREAMCTL_DISKLESS_BOOTSTRAP" >&2
}

if [ $# -gt 0 ]; then
  late_services
  cargo test --all-targets "$@"
  exit
fi

# Round 1: everything but the late targets. Both rounds run every target even after a failure
# (--no-fail-fast), so one red run reports everything that is red.
early=()
for f in tests/*.rs; do
  t=$(basename "$f" .rs)
  case " ${late[*]} " in *" $t "*) ;; *) early+=(--test "$t") ;; esac
done
status=0
t0=$(date +%s)
cargo test --no-fail-fast --lib --bins --benches "${early[@]}" || status=$?
echo "run.sh: round 1 (lib, bins, benches and $(( ${#early[@]} / 2 )) test targets) took $(( $(date +%s) - t0 )) s" >&2

# Round 2: the diskless and Connect targets. They need the main cluster, not the tiered one:
# its brokers' CPU goes to the nisshi build if that is still running.
STREAMCTL_KAFKA_TIERED=1 bash tests/kafka/cluster.sh down >/dev/null 2>&1 || true
t0=$(date +%s)
late_services
echo "run.sh: the diskless target and Connect were ready after $(( $(date +%s) - t0 )) s" >&2
late_args=()
for t in "${late[@]}"; do late_args+=(--test "$t"); done
t0=$(date +%s)
cargo test --no-fail-fast "${late_args[@]}" || status=$?
echo "run.sh: round 2 (${late[*]}) took $(( $(date +%s) - t0 )) s" >&2
exit "$status"
