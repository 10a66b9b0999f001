#!/usr/bin/env bash
# The project's test command (README): starts the services the tests use, runs every test,
# stops what it started. Safe to run repeatedly; caches live under ~/.cache/streamctl.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/streamctl/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Local AWS emulator (moto) for the tests that call AWS.
moto_env="$(bash tests/aws/moto.sh up)" || { echo "run.sh: the AWS emulator did not start" >&2; exit 1; }
eval "$moto_env"
trap 'bash tests/aws/moto.sh down' EXIT
echo "moto: $STREAMCTL_MOTO_ENDPOINT" >&2

# Apache Kafka's jars (Maven Central) for the tests that boot real brokers.
if [ "${STREAMCTL_SKIP_KAFKA:-}" = "1" ]; then
  echo "WARNING: STREAMCTL_SKIP_KAFKA=1: the Kafka tests will be skipped" >&2
else
  STREAMCTL_KAFKA_LIBS="$(bash tests/kafka/kafka.sh fetch)"
  export STREAMCTL_KAFKA_LIBS
  # The local KRaft cluster (1 controller, 6 brokers, 2 per AZ) for the live-cluster tests.
  kafka_env="$(bash tests/kafka/cluster.sh up)" || { echo "run.sh: the Kafka cluster did not start" >&2; exit 1; }
  eval "$kafka_env"
  trap 'bash tests/kafka/cluster.sh down; bash tests/aws/moto.sh down' EXIT
  echo "kafka: $STREAMCTL_KAFKA_BOOTSTRAP" >&2
  # The tiered variant (KIP-405 with LocalTieredStorage, 3 brokers; tests add more) for
  # `migrate tiered`.
  tiered_env="$(STREAMCTL_KAFKA_TIERED=1 bash tests/kafka/cluster.sh up)" || { echo "run.sh: the tiered Kafka cluster did not start" >&2; exit 1; }
  eval "$tiered_env"
  trap 'STREAMCTL_KAFKA_TIERED=1 bash tests/kafka/cluster.sh down; bash tests/kafka/cluster.sh down; bash tests/aws/moto.sh down' EXIT
  echo "kafka (tiered): $STREAMCTL_TIERED_BOOTSTRAP" >&2
  # The diskless target for `migrate diskless`: nisshi on its own single-threaded moto S3
  # (built once with the nightly toolchain into ~/.cache/streamctl/nisshi).
  diskless_env="$(bash tests/diskless/nisshi.sh up)" || { echo "run.sh: the diskless target (nisshi) did not start" >&2; exit 1; }
  eval "$diskless_env"
  trap 'bash tests/diskless/nisshi.sh down; STREAMCTL_KAFKA_TIERED=1 bash tests/kafka/cluster.sh down; bash tests/kafka/cluster.sh down; bash tests/aws/moto.sh down' EXIT
  echo "diskless (nisshi): $STREAMCTL_DISKLESS_BOOTSTRAP" >&2
  # Kafka Connect (two distributed workers, MirrorMaker 2) for `migrate diskless --engine connect`.
  connect_env="$(bash tests/connect/connect.sh up)" || { echo "run.sh: the Connect workers did not start" >&2; exit 1; }
  eval "$connect_env"
  trap 'bash tests/connect/connect.sh down; bash tests/diskless/nisshi.sh down; STREAMCTL_KAFKA_TIERED=1 bash tests/kafka/cluster.sh down; bash tests/kafka/cluster.sh down; bash tests/aws/moto.sh down' EXIT
  echo "connect: $STREAMCTL_CONNECT_URL $STREAMCTL_CONNECT_URL_2" >&2
fi

cargo test --all-targets "$@"
