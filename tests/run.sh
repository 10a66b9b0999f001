#!/usr/bin/env bash
# The project's test command (README): starts the services the tests use, runs every test,
# stops what it started. Safe to run repeatedly; caches live under ~/.cache/streamctl.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/streamctl/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Local AWS emulator (moto) for the tests that call AWS.
eval "$(bash tests/aws/moto.sh up)"
trap 'bash tests/aws/moto.sh down' EXIT
echo "moto: $STREAMCTL_MOTO_ENDPOINT" >&2

cargo test --all-targets "$@"
