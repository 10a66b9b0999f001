#!/usr/bin/env bash
# The diskless target for `migrate diskless` tests: nisshi (the renamed successor of Tansu, from
# the Rust crate registry) storing in S3 of its own single-threaded moto (see moto_serial.py).
#
#   tests/diskless/nisshi.sh install   build nisshi once into ~/.cache/streamctl/nisshi/<version>
#                                      (needs the nightly toolchain: its lock pins a crate that
#                                      needs rustc 1.96); prints the binary's path
#   tests/diskless/nisshi.sh up        start moto (serial) + nisshi; prints `export ...` lines
#   tests/diskless/nisshi.sh serve B   one more nisshi on the same moto, storing in bucket B (made
#                                      by `streamctl provision` on that moto); prints its bootstrap
#   tests/diskless/nisshi.sh down      stop what `up` and `serve` started (by PID)
#   tests/diskless/nisshi.sh status    exit 0 when it runs
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VERSION=0.8.1
CACHE="${STREAMCTL_NISSHI_HOME:-$HOME/.cache/streamctl/nisshi/$VERSION}"
BIN="$CACHE/bin/nisshi"
VENV="${STREAMCTL_VENV:-$HOME/.cache/streamctl/venv}"
STATE="${STREAMCTL_DISKLESS_STATE:-${TMPDIR:-/tmp}/streamctl-diskless-$(id -u)}"
BUCKET=streamctl-diskless

install() {
  if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then echo "$BIN"; return; fi
  mkdir -p "$(dirname "$CACHE")"
  # One build at a time: .ci/run starts it in the background at the very beginning and the
  # test runner's `up` waits here for that build instead of starting a second one.
  exec 9>"$CACHE.lock"
  if ! flock -n 9; then
    echo "nisshi.sh: another nisshi build is running; waiting for it" >&2
    flock 9
  fi
  if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then echo "$BIN"; return; fi
  command -v rustup >/dev/null || { echo "nisshi.sh: rustup is needed to build nisshi with the nightly toolchain" >&2; exit 1; }
  rustup run nightly rustc --version >/dev/null 2>&1 || { echo "nisshi.sh: the nightly toolchain is missing (nisshi $VERSION needs rustc >= 1.96): rustup toolchain install nightly" >&2; exit 1; }
  echo "nisshi.sh: building nisshi $VERSION with nightly into $CACHE (once; about 25 CPU-minutes)" >&2
  # The tests' broker, not a production one: opt-level 1 halves the build against the default
  # release profile and still keeps moto's S3, not nisshi, the bottleneck of every diskless test
  # and of tests/diskless/bench-copy.sh. Lowest CPU priority: it fills the cores the rest of CI
  # leaves idle. The build dir lives beside the binary and is removed afterwards (1.5 GB).
  CARGO_PROFILE_RELEASE_OPT_LEVEL="${STREAMCTL_NISSHI_OPT_LEVEL:-1}" CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_INCREMENTAL=false CARGO_PROFILE_RELEASE_LTO=off \
    nice -n "${STREAMCTL_NISSHI_NICE:-19}" cargo +nightly install nisshi --version "$VERSION" --locked --quiet \
    --no-default-features --features dynostore \
    --root "$CACHE" --target-dir "$CACHE/build" >&2
  rm -rf "$CACHE/build"
  echo "$BIN"
}

free_port() { "$VENV/bin/python" "$here/../common/free_port.py"; }

exports() {
  cat <<EOT
export STREAMCTL_DISKLESS_BOOTSTRAP=127.0.0.1:$(cat "$STATE/port")
export STREAMCTL_DISKLESS_S3=http://127.0.0.1:$(cat "$STATE/s3port")
export STREAMCTL_DISKLESS_BUCKET=$BUCKET
export STREAMCTL_DISKLESS_STATE=$STATE
EOT
}

running() { [ -f "$STATE/nisshi.pid" ] && kill -0 "$(cat "$STATE/nisshi.pid")" 2>/dev/null; }

# A nisshi broker storing in bucket $1 of the serial moto, its pid and log in $2, on port $3,
# cluster id $4. Only its own S3: the tests' general emulator exports AWS_ENDPOINT_URL, which
# nisshi's S3 client would prefer over AWS_ENDPOINT.
start_broker() {
  local bucket="$1" dir="$2" port="$3" id="$4"
  mkdir -p "$dir"
  env -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3 -u AWS_PROFILE -u AWS_REGION \
    AWS_ENDPOINT="http://127.0.0.1:$(cat "$STATE/s3port")" AWS_ALLOW_HTTP=true \
    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
    nohup "$BIN" broker --cluster-id "$id" \
      --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "s3://$bucket/" >"$dir/nisshi.log" 2>&1 &
  echo $! > "$dir/nisshi.pid"
}

up() {
  if running; then exports; return; fi
  install >/dev/null
  bash "$here/../aws/moto.sh" install
  mkdir -p "$STATE"
  s3port=$(free_port); port=$(free_port)
  echo "$s3port" > "$STATE/s3port"; echo "$port" > "$STATE/port"
  nohup "$VENV/bin/python" "$here/moto_serial.py" "$s3port" >"$STATE/moto.log" 2>&1 &
  echo $! > "$STATE/moto.pid"
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$s3port/" && break
    sleep 0.2
  done
  curl -s -X PUT -o /dev/null -w '' "http://127.0.0.1:$s3port/$BUCKET" \
    || { echo "nisshi.sh: moto (serial) did not start; see $STATE/moto.log" >&2; down; exit 1; }
  start_broker "$BUCKET" "$STATE" "$port" streamctl-diskless
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
  done
  running || { echo "nisshi.sh: nisshi did not start; see $STATE/nisshi.log" >&2; tail -20 "$STATE/nisshi.log" >&2; down; exit 1; }
  exports
}

serve() {
  local bucket="${1:?nisshi.sh serve BUCKET}"
  running || { echo "nisshi.sh: run \`nisshi.sh up\` first (serve uses its moto)" >&2; exit 1; }
  curl -sf -o /dev/null "http://127.0.0.1:$(cat "$STATE/s3port")/$bucket" \
    || { echo "nisshi.sh: bucket $bucket is not on nisshi's moto (provision it there first)" >&2; exit 1; }
  local dir="$STATE/on-$bucket" port; port=$(free_port)
  start_broker "$bucket" "$dir" "$port" "streamctl-$bucket"
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
  done
  kill -0 "$(cat "$dir/nisshi.pid")" 2>/dev/null \
    || { echo "nisshi.sh: nisshi on $bucket did not start; see $dir/nisshi.log" >&2; tail -20 "$dir/nisshi.log" >&2; exit 1; }
  echo "127.0.0.1:$port"
}

down() {
  local f
  for f in "$STATE"/on-*/nisshi.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true; rm -f "$f"
  done
  for p in nisshi moto; do
    if [ -f "$STATE/$p.pid" ]; then kill "$(cat "$STATE/$p.pid")" 2>/dev/null || true; rm -f "$STATE/$p.pid"; fi
  done
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  serve) serve "${2:-}" ;;
  down) down ;;
  status) if running; then echo "nisshi running on 127.0.0.1:$(cat "$STATE/port")"; else echo "nisshi not running"; exit 1; fi ;;
  *) echo "usage: $0 install|up|serve BUCKET|down|status" >&2; exit 2 ;;
esac
