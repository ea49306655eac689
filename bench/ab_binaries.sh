#!/usr/bin/env bash
# Two fhird binaries in turn on one loaded store: tells a slower build from a slower machine.
#
# usage: bench/ab_binaries.sh BIN_A BIN_B STORE QUERIES_DIR KIND... [env ROUNDS=2 DURATION=10 CONNS=8]
#   STORE        a store both binaries can open (`sqlite:DIR`, `mongodb://HOST:PORT/?db=NAME`),
#                e.g. the data a search_bench.sh run kept (--keep-data)
#   QUERIES_DIR  a search_bench.sh data directory (queries-KIND.txt)
# Each round starts A, then B, on 127.0.0.1:8310 and runs each kind for DURATION seconds (after a 3 s
# warm-up) with CONNS connections; prints one line of req/s per binary, kind and round.
set -euo pipefail
[ $# -ge 5 ] || { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
A=$1 B=$2 STORE=$3 QUERIES=$4; shift 4
ROUNDS=${ROUNDS:-2} SECONDS_EACH=${DURATION:-10} CONNS=${CONNS:-8}
cd "$(dirname "$0")"
for round in $(seq "$ROUNDS"); do
  for bin in "$A" "$B"; do
    "$bin" serve --listen 127.0.0.1:8310 --store "$STORE" > /tmp/ab_binaries.log 2>&1 &
    pid=$!
    for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:8310/fhir/metadata && break; sleep 0.2; done
    for kind in "$@"; do
      export BENCH_QUERIES="$QUERIES/queries-$kind.txt"
      wrk -t1 -c"$CONNS" -d3s -s search.lua http://127.0.0.1:8310 > /dev/null 2>&1
      r=$(wrk -t1 -c"$CONNS" -d"${SECONDS_EACH}s" -s search.lua http://127.0.0.1:8310 | awk '/Requests\/sec/ {print $2}')
      echo "round $round $bin $kind $r req/s"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
