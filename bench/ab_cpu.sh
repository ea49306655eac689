#!/usr/bin/env bash
# One fhird binary on a loaded store: req/s, p50 and the CPU per request of fhird and of the
# database process, for comparing builds on a machine whose speed drifts (CPU per request
# drifts far less than req/s).
#
# usage: bench/ab_cpu.sh BIN STORE QUERIES_FILE DB_PID [CONNS=8] [SECONDS=10]
#   STORE         a store the binary can open (`mongodb://127.0.0.1:27999/?db=b100k`, `sqlite:DIR`)
#   QUERIES_FILE  a search_bench.sh query list (DATA/queries-KIND.txt)
#   DB_PID        the database server's pid (secantusd-rs), or 0 for none (SQLite)
# Starts BIN on 127.0.0.1:8310, warms up 3 s with wrk, measures SECONDS, prints one line.
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
BIN=$1 STORE=$2 QUERIES=$3 DB_PID=$4 CONNS=${5:-8} SECS=${6:-10}
cd "$(dirname "$0")"
ticks() { [ "$1" = 0 ] && echo 0 || awk '{print $14+$15}' "/proc/$1/stat"; }
"$BIN" serve --listen 127.0.0.1:8310 --store "$STORE" > /tmp/ab_cpu.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:8310/fhir/metadata && break; sleep 0.2; done
export BENCH_QUERIES=$QUERIES
wrk -t1 -c"$CONNS" -d3s -s search.lua http://127.0.0.1:8310 > /dev/null 2>&1
f0=$(ticks $pid) d0=$(ticks "$DB_PID")
out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" -s search.lua --latency http://127.0.0.1:8310)
f1=$(ticks $pid) d1=$(ticks "$DB_PID")
hz=$(getconf CLK_TCK)
echo "$out" | awk -v f=$((f1 - f0)) -v d=$((d1 - d0)) -v hz="$hz" -v s="$SECS" -v c="$CONNS" \
  -v bin="$(basename "$BIN")" -v q="$(basename "$QUERIES")" '
  /Requests\/sec/ {r = $2} $1 == "50%" {p = $2}
  END {n = r * s; printf "%s %s c%d: %.0f req/s p50 %s, CPU per request: fhird %.0f us, database %.0f us\n",
       bin, q, c, r, p, f * 1e6 / hz / n, d * 1e6 / hz / n}'
