#!/usr/bin/env bash
# The test command (README.md): installs and starts everything the tests need, then runs every
# test on both stores.
#   - SecantusDB, a MongoDB-wire server (one-node replica set, so transactions work), installed
#     with cargo if `secantusd-rs` is not on PATH, started on a free port;
#   - the official FHIR R4 examples (npm hl7.fhir.r4.examples@4.0.1);
#   - cargo fmt / clippy, the Rust unit and integration tests (SQLite and MongoDB);
#   - the Python suite with real FHIR clients (fhirpy, fhirclient) against the real binary,
#     once per store.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/target/test-env
mkdir -p "$WORK"
export PATH="$HOME/.cargo/bin:$PATH"
# A build from a clean clone gains nothing from incremental state, which took 1.5 GB of disk
# in a clean-clone run; set CARGO_INCREMENTAL=1 to keep it on a machine that runs this often.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

pids=()
cleanup() {
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }

# 1. SecantusDB, built in the background while our own code compiles.
secantus_install_pid=""
if ! command -v secantusd-rs >/dev/null 2>&1; then
  step "installing SecantusDB (secantus-mdb 0.5.3-beta.196) in the background"
  if ! command -v cmake >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq cmake) >"$WORK/apt.log" 2>&1 \
      || { cat "$WORK/apt.log"; echo "cmake could not be installed"; exit 1; }
  fi
  cargo install secantus-mdb --version =0.5.3-beta.196 --locked --ignore-rust-version \
    >"$WORK/secantus-install.log" 2>&1 &
  secantus_install_pid=$!
fi

# 2. The official R4 examples.
EXAMPLES=$WORK/r4-examples/package
if [ ! -f "$EXAMPLES/Patient-example.json" ]; then
  step "fetching hl7.fhir.r4.examples@4.0.1"
  mkdir -p "$WORK/r4-examples"
  (cd "$WORK/r4-examples" && npm pack --silent hl7.fhir.r4.examples@4.0.1 >/dev/null \
    && tar xzf hl7.fhir.r4.examples-4.0.1.tgz)
fi
export FHIR_R4_EXAMPLES=$EXAMPLES

# 3. Style and lints, then build everything the tests run.
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "building tests"
cargo test --workspace --locked --no-run

if [ -n "$secantus_install_pid" ]; then
  step "waiting for the SecantusDB install"
  if ! wait "$secantus_install_pid"; then
    tail -50 "$WORK/secantus-install.log"; echo "SecantusDB install failed"; exit 1
  fi
fi

# 4. Start SecantusDB on a free port.
step "starting SecantusDB"
rm -rf "$WORK/secantus-data" && mkdir -p "$WORK/secantus-data"
secantusd-rs --host 127.0.0.1 --port 0 --storage-path "$WORK/secantus-data" \
  --log-file-max 16MB --log-level WARNING >"$WORK/secantus.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$WORK/secantus.out" | head -1 | cut -d: -f2 || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "${port:-}" ] || { cat "$WORK/secantus.out"; echo "SecantusDB did not start"; exit 1; }
export FHIRD_TEST_MONGODB="mongodb://127.0.0.1:$port"
echo "SecantusDB at $FHIRD_TEST_MONGODB"

# 5. The Rust tests, every integration test on both stores.
step "cargo test"
cargo test --workspace --locked -- --test-threads 4

# 6. Real FHIR clients against the real binary, on each store.
run_python_suite() {
  local store=$1 name=$2 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # The public base the clients use, so that they can follow the server's paging links.
  "$ROOT/target/debug/fhird" serve --listen "127.0.0.1:$port" --store "$store" \
    --base-url "http://127.0.0.1:$port" >"$WORK/fhird-$name.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/fhir/metadata" >/dev/null 2>&1 && break
    sleep 0.1
  done
  step "python client suite on $name"
  FHIRD_URL="http://127.0.0.1:$port" bash "$ROOT/tests/python/run.sh"
  kill -TERM "$pid"
  wait "$pid"
}
rm -rf "$WORK/py-sqlite"
run_python_suite "sqlite:$WORK/py-sqlite" sqlite
run_python_suite "$FHIRD_TEST_MONGODB/?db=pyclients_$$" mongodb

step "all tests passed"
