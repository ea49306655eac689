#!/usr/bin/env bash
# HTTP benchmark of Patient read and create, fhird side by side with Helios HFS.
# See BENCHMARKS.md for what it measures and the recorded results.
#
# usage: bench/http_bench.sh [options]
#   --servers LIST       comma-separated: fhird-sqlite,fhird-mongodb,helios-sqlite,helios-sqlite-minimal
#                        (default: fhird-sqlite,fhird-mongodb,helios-sqlite; env BENCH_SERVERS)
#                        helios-sqlite loads the official R4 SearchParameters (--search-params) and
#                        indexes them on every write; helios-sqlite-minimal starts without them.
#   --patients N         Patients preloaded with PUT and read round robin (default 1000; BENCH_PATIENTS)
#   --duration S         seconds per measured wrk run (default 30; BENCH_DURATION)
#   --warmup S           seconds of unmeasured reads, and of creates, before measuring (default 10; BENCH_WARMUP)
#   --threads T          wrk threads (default 2; BENCH_THREADS)
#   --read-conns C       connections for the read test (default 16; BENCH_READ_CONNS)
#   --create-conns LIST  connection counts for the create tests (default 8,16; BENCH_CREATE_CONNS)
#   --out DIR            where raw wrk output, server logs and results.md go
#                        (default /tmp/fhird-bench-DATE; BENCH_OUT)
#   --keep-data          keep the servers' data directories (under OUT/data)
#   --fhird BIN          fhird binary (default REPO/target/release/fhird; FHIRD_BIN)
#   --hfs BIN            Helios binary (default: hfs on PATH or ~/.cargo/bin/hfs; HFS_BIN)
#   --secantusd BIN      MongoDB-compatible server for fhird-mongodb (default secantusd-rs; SECANTUSD_BIN)
#   --search-params F    R4 search parameter Bundle Helios loads at start
#                        (default profiles/search-parameters.json, the official Bundle; HELIOS_SEARCH_PARAMS)
# A server whose binary is missing is skipped with a message. Every run starts each server on a
# fresh data directory and stops it with SIGTERM afterwards. A run with non-2xx answers or socket
# errors is marked INVALID in the table.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")

SERVERS=${BENCH_SERVERS:-fhird-sqlite,fhird-mongodb,helios-sqlite}
PATIENTS=${BENCH_PATIENTS:-1000}
DURATION=${BENCH_DURATION:-30}
WARMUP=${BENCH_WARMUP:-10}
THREADS=${BENCH_THREADS:-2}
READ_CONNS=${BENCH_READ_CONNS:-16}
CREATE_CONNS=${BENCH_CREATE_CONNS:-8,16}
OUT=${BENCH_OUT:-/tmp/fhird-bench-$(date +%Y%m%d-%H%M%S)}
KEEP_DATA=0
FHIRD_BIN=${FHIRD_BIN:-$REPO/target/release/fhird}
HFS_BIN=${HFS_BIN:-$(command -v hfs || echo "$HOME/.cargo/bin/hfs")}
SECANTUSD_BIN=${SECANTUSD_BIN:-$(command -v secantusd-rs || echo secantusd-rs)}
HELIOS_SEARCH_PARAMS=${HELIOS_SEARCH_PARAMS:-$REPO/profiles/search-parameters.json}

while [ $# -gt 0 ]; do
  case "$1" in
    --servers) SERVERS=$2; shift 2 ;;
    --patients) PATIENTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --read-conns) READ_CONNS=$2; shift 2 ;;
    --create-conns) CREATE_CONNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep-data) KEEP_DATA=1; shift ;;
    --fhird) FHIRD_BIN=$2; shift 2 ;;
    --hfs) HFS_BIN=$2; shift 2 ;;
    --secantusd) SECANTUSD_BIN=$2; shift 2 ;;
    --search-params) HELIOS_SEARCH_PARAMS=$2; shift 2 ;;
    -h|--help) sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
BENCH_FN=bench_server
RESULTS="$OUT/results.tsv"   # server test conns rps p50 p99 requests non2xx sockerr cpu_us_per_req busy% other%
: > "$RESULTS"


# ---------------------------------------------------------------- data
DATA="$OUT/patients"
python3 "$BENCH_DIR/gen_patients.py" --count "$PATIENTS" --out "$DATA" | tee -a "$OUT/bench.log"
export BENCH_IDS="$DATA/ids.txt" BENCH_BODIES="$DATA/create.ndjson"

# One request of each kind with curl, to show the exact answers (and catch errors early).
probe() { # server
  local server=$1 id body_file="$OUT/.probe-body.json" hdr="$OUT/.probe-hdr"
  id=$(head -1 "$DATA/ids.txt")
  head -1 "$DATA/create.ndjson" > "$body_file"
  local st
  st=$(curl -s -o "$OUT/probe-$server-read.json" -D "$hdr" -w '%{http_code}' \
       -H 'Accept: application/fhir+json' "$BASE_URL/Patient/$id")
  log "probe: GET $BASE_URL/Patient/$id -> $st, $(wc -c < "$OUT/probe-$server-read.json") bytes"
  [ "$st" = 200 ] || { log "PROBE FAILED: GET $BASE_URL/Patient/$id -> $st"; cat "$hdr" "$OUT/probe-$server-read.json" >&2; }
  st=$(curl -s -o "$OUT/probe-$server-create.json" -D "$hdr" -w '%{http_code}' -X POST \
       -H 'Content-Type: application/fhir+json' -H 'Accept: application/fhir+json' \
       --data-binary @"$body_file" "$BASE_URL/Patient")
  log "probe: POST $BASE_URL/Patient ($(wc -c < "$body_file") bytes) -> $st, Location: $(awk 'tolower($1)=="location:"{print $2}' "$hdr" | tr -d '\r')"
  [ "$st" = 201 ] || { log "PROBE FAILED: POST $BASE_URL/Patient -> $st"; cat "$hdr" "$OUT/probe-$server-create.json" >&2; }
}

bench_server() { # server pids...
  local server=$1; shift
  local pids=("$@") c
  if ! python3 "$BENCH_DIR/preload.py" "$BASE_URL" "$DATA/preload.ndjson" > "$OUT/preload-$server.txt" 2>&1; then
    cat "$OUT/preload-$server.txt" >&2
    log "ERROR: preload into $server failed (above); skipping its measurements"
    return 0
  fi
  log "$(cat "$OUT/preload-$server.txt")"
  probe "$server"
  log "$server: warm-up reads ${WARMUP}s"
  run_wrk "$server" read "$READ_CONNS" read.lua "$WARMUP" 0 "${pids[@]}"
  log "$server: reads ${DURATION}s, $READ_CONNS connections"
  run_wrk "$server" read "$READ_CONNS" read.lua "$DURATION" 1 "${pids[@]}"
  log "$server: warm-up creates ${WARMUP}s"
  run_wrk "$server" create 8 create.lua "$WARMUP" 0 "${pids[@]}"
  for c in ${CREATE_CONNS//,/ }; do
    log "$server: creates ${DURATION}s, $c connections"
    run_wrk "$server" create "$c" create.lua "$DURATION" 1 "${pids[@]}"
  done
}

log "benchmark: servers=$SERVERS patients=$PATIENTS duration=${DURATION}s warmup=${WARMUP}s wrk threads=$THREADS read conns=$READ_CONNS create conns=$CREATE_CONNS out=$OUT"
log_setup
machine_note start

for s in ${SERVERS//,/ }; do run_server "$s"; done
machine_note end
[ "$KEEP_DATA" = 1 ] || rm -rf "$OUT/data"

# ---------------------------------------------------------------- report
{
  echo "| server | test | conns | req/s | p50 ms | p99 ms | requests | non-2xx | socket errors | server CPU µs/req | machine busy % | other procs % |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{ flag = ($8 != 0 || $9 != 0) ? " **INVALID**" : "";
    printf "| %s | %s | %s | %.0f%s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, ($2=="read" ? "read GET Patient/{id}" : "create POST Patient"), $3, $4, flag, $5, $6, $7, $8, $9, $10, $11, $12 }' "$RESULTS"
  if grep -q '^helios-sqlite' "$RESULTS"; then
    echo
    echo "| ratio vs helios-sqlite | test | conns | req/s ratio | p50 ratio (helios/x, >1 = faster) | p99 ratio | CPU/req ratio (helios/x) |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    awk -F'\t' '
      { line[NR]=$0; if ($1=="helios-sqlite") h[$2" "$3]=$0 }
      END { for (k=1;k<=NR;k++) { split(line[k], r, "\t"); key=r[2]" "r[3]
              if (r[1] ~ /^helios/ || !(key in h)) continue; split(h[key], x, "\t")
              printf "| %s / helios | %s | %s | %.2f× | %.2f× | %.2f× | %.2f× |\n", r[1], r[2], r[3],
                (x[4]>0 ? r[4]/x[4] : 0), (r[5]>0 ? x[5]/r[5] : 0), (r[6]>0 ? x[6]/r[6] : 0), (r[10]>0 ? x[10]/r[10] : 0) } }' "$RESULTS"
  fi
} > "$OUT/results.md"
echo
cat "$OUT/results.md"
echo
echo "raw wrk output, server logs and results.md are in $OUT"
