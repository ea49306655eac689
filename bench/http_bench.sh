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
#                        (default /work/corpora/npm/examples/package/Bundle-searchParams.json; HELIOS_SEARCH_PARAMS)
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
HELIOS_SEARCH_PARAMS=${HELIOS_SEARCH_PARAMS:-/work/corpora/npm/examples/package/Bundle-searchParams.json}

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
RESULTS="$OUT/results.tsv"   # server test conns rps p50 p99 requests non2xx sockerr cpu_us_per_req busy% other%
: > "$RESULTS"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/bench.log" >&2; }

# ---------------------------------------------------------------- data
DATA="$OUT/patients"
python3 "$BENCH_DIR/gen_patients.py" --count "$PATIENTS" --out "$DATA" | tee -a "$OUT/bench.log"

# ---------------------------------------------------------------- helpers
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# CPU time (clock ticks, user+system) of the given pids, summed.
cpu_ticks() {
  local total=0 pid f
  for pid in "$@"; do
    if [ -r "/proc/$pid/stat" ]; then
      # fields after the ")" of the command name: state is $1, utime $12, stime $13
      f=$(sed 's/^.*) //' "/proc/$pid/stat")
      total=$((total + $(echo "$f" | awk '{print $12 + $13}')))
    fi
  done
  echo "$total"
}

# busy and total jiffies of the whole machine
machine_ticks() { awk '/^cpu /{idle=$5+$6; t=0; for(i=2;i<=NF;i++) t+=$i; print t-idle, t}' /proc/stat; }

wait_ready() { # url pid name
  local url=$1 pid=$2 name=$3 i
  for i in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited before answering $url"; return 1
    fi
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" = 200 ]; then
      log "$name ready ($url answered 200 after ~$((i / 10)).$((i % 10)) s)"; return 0
    fi
    sleep 0.1
  done
  log "$name did not answer $url within 60 s"; return 1
}

stop_pid() { # pid name
  local pid=$1 name=$2 i
  kill -0 "$pid" 2>/dev/null || { log "WARNING: $name (pid $pid) was no longer running"; return 0; }
  kill -TERM "$pid"
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { log "$name stopped (SIGTERM, $((i / 10)).$((i % 10)) s)"; wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  log "WARNING: $name did not stop within 30 s of SIGTERM; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

to_ms() { # wrk duration text (612.00us, 2.10ms, 1.02s, 1.00m) -> ms
  awk -v v="$1" 'BEGIN{
    if (v ~ /us$/) { sub(/us$/,"",v); printf "%.3f", v/1000 }
    else if (v ~ /ms$/) { sub(/ms$/,"",v); printf "%.3f", v }
    else if (v ~ /m$/) { sub(/m$/,"",v); printf "%.3f", v*60000 }
    else if (v ~ /s$/) { sub(/s$/,"",v); printf "%.3f", v*1000 }
    else printf "%s", v }'
}

# run_wrk server test conns script seconds record(0|1) pids...
# The FHIR base URL and path prefix come from $BASE_URL / $BASE_PATH.
run_wrk() {
  local server=$1 test=$2 conns=$3 script=$4 secs=$5 record=$6; shift 6
  local pids=("$@") raw="$OUT/wrk-$server-$test-c$conns.txt"
  [ "$record" = 1 ] || raw="$OUT/warmup-$server-$test-c$conns.txt"
  local busy0 tot0 busy1 tot1 c0 c1 wrk_cpu
  read -r busy0 tot0 < <(machine_ticks)
  c0=$(cpu_ticks "${pids[@]}")
  local tf="$OUT/.wrk-time"
  { TIMEFORMAT='%U %S'; time BENCH_BASE="$BASE_PATH" BENCH_IDS="$DATA/ids.txt" \
      BENCH_BODIES="$DATA/create.ndjson" \
      wrk -t"$THREADS" -c"$conns" -d"${secs}s" --timeout 10s --latency \
      -s "$BENCH_DIR/$script" "$BASE_URL_ROOT" > "$raw" 2>&1; } 2> "$tf" || true
  c1=$(cpu_ticks "${pids[@]}")
  read -r busy1 tot1 < <(machine_ticks)
  wrk_cpu=$(awk '{printf "%.0f", ($1 + $2) * 100}' "$tf")   # ticks at 100 Hz
  [ "$record" = 1 ] || { log "warm-up $test c$conns: $(grep -E 'Requests/sec' "$raw" || tail -1 "$raw")"; return 0; }

  local rps reqs p50 p99 non2xx sock hz
  hz=$(getconf CLK_TCK)
  rps=$(awk '/^Requests\/sec:/{print $2}' "$raw")
  reqs=$(awk '/requests in/{print $1}' "$raw")
  p50=$(to_ms "$(awk '$1=="50%"{print $2}' "$raw")")
  p99=$(to_ms "$(awk '$1=="99%"{print $2}' "$raw")")
  non2xx=$(awk '/Non-2xx or 3xx responses:/{print $NF}' "$raw"); non2xx=${non2xx:-0}
  sock=$(awk '/Socket errors:/{gsub(",",""); print $4+$6+$8+$10}' "$raw"); sock=${sock:-0}
  if [ -z "$rps" ] || [ -z "$reqs" ]; then
    log "ERROR: wrk produced no result for $server $test c$conns; output:"; cat "$raw" >&2
    rps=0; reqs=0; p50=NA; p99=NA
  fi
  local cpu_us busy other
  cpu_us=$(awk -v d=$((c1 - c0)) -v r="$reqs" -v hz="$hz" 'BEGIN{ if (r>0) printf "%.0f", d/hz*1e6/r; else print "NA" }')
  busy=$(awk -v b=$((busy1 - busy0)) -v t=$((tot1 - tot0)) 'BEGIN{ if (t>0) printf "%.0f", 100*b/t; else print "NA" }')
  # machine CPU not used by the server(s) or wrk: other processes (builds, ...) during the run
  other=$(awk -v b=$((busy1 - busy0)) -v t=$((tot1 - tot0)) -v s=$((c1 - c0)) -v w="$wrk_cpu" -v hz="$hz" \
    'BEGIN{ o = b - s*100/hz - w; if (o < 0) o = 0; if (t>0) printf "%.0f", 100*o/t; else print "NA" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$test" "$conns" "$rps" "$p50" "$p99" \
    "$reqs" "$non2xx" "$sock" "$cpu_us" "$busy" "$other" >> "$RESULTS"
  log "$server $test c$conns: $rps req/s, p50 ${p50} ms, p99 ${p99} ms, non-2xx $non2xx, socket errors $sock, server CPU ${cpu_us} us/req, machine busy ${busy}%, other ${other}%"
  if [ "$non2xx" != 0 ] || [ "$sock" != 0 ]; then
    log "INVALID: $server $test c$conns had $non2xx non-2xx answers and $sock socket errors (raw: $raw)"
  fi
}

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

check_log() { # server logfile
  local n
  n=$(grep -ciE 'panic|error' "$2" || true)
  if [ "$n" != 0 ]; then
    log "WARNING: $1 log $2 has $n lines mentioning panic/error; first ones:"
    grep -iE 'panic|error' "$2" | head -5 >&2
  fi
}

machine_note() {
  local builds
  builds=$(pgrep -a cargo 2>/dev/null; pgrep -a rustc 2>/dev/null | cut -c1-120) || true
  if [ -n "$builds" ]; then log "NOTE: compilers running at $1: $(echo "$builds" | wc -l) processes"; else log "no cargo/rustc running at $1"; fi
  log "load average at $1: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# ---------------------------------------------------------------- servers
run_fhird_sqlite() {
  [ -x "$FHIRD_BIN" ] || { log "SKIP fhird-sqlite: $FHIRD_BIN not found (cargo build --release)"; return 0; }
  local port dir pid
  port=$(free_port); dir="$OUT/data/fhird-sqlite"; rm -rf "$dir"; mkdir -p "$dir"
  FHIRD_LOG=warn "$FHIRD_BIN" serve --listen "127.0.0.1:$port" --store "sqlite:$dir" \
    --base-url "http://127.0.0.1:$port" > "$OUT/fhird-sqlite.log" 2>&1 &
  pid=$!
  BASE_URL_ROOT="http://127.0.0.1:$port"; BASE_PATH=/fhir; BASE_URL="$BASE_URL_ROOT$BASE_PATH"
  if wait_ready "$BASE_URL/metadata" "$pid" fhird-sqlite; then bench_server fhird-sqlite "$pid"; fi
  stop_pid "$pid" fhird-sqlite
  check_log fhird-sqlite "$OUT/fhird-sqlite.log"
  log "fhird-sqlite data: $(du -sh "$dir" | cut -f1)"
}

run_fhird_mongodb() {
  [ -x "$FHIRD_BIN" ] || { log "SKIP fhird-mongodb: $FHIRD_BIN not found (cargo build --release)"; return 0; }
  command -v "$SECANTUSD_BIN" >/dev/null || { log "SKIP fhird-mongodb: $SECANTUSD_BIN not found"; return 0; }
  local dir mpid mport port pid i
  dir="$OUT/data/fhird-mongodb"; rm -rf "$dir"; mkdir -p "$dir/db"
  "$SECANTUSD_BIN" --host 127.0.0.1 --port 0 --storage-path "$dir/db" --log-file-max 16MB \
    --log-level WARNING > "$OUT/secantusd.log" 2>&1 &
  mpid=$!
  mport=
  for i in $(seq 1 300); do
    mport=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$OUT/secantusd.log" | head -1 | sed 's/.*://') || true
    [ -n "$mport" ] && break
    kill -0 "$mpid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$mport" ]; then
    log "ERROR: secantusd-rs did not report its port"; cat "$OUT/secantusd.log" >&2; stop_pid "$mpid" secantusd-rs; return 0
  fi
  log "secantusd-rs listening on port $mport"
  port=$(free_port)
  FHIRD_LOG=warn "$FHIRD_BIN" serve --listen "127.0.0.1:$port" \
    --store "mongodb://127.0.0.1:$mport/?db=fhirdbench" \
    --base-url "http://127.0.0.1:$port" > "$OUT/fhird-mongodb.log" 2>&1 &
  pid=$!
  BASE_URL_ROOT="http://127.0.0.1:$port"; BASE_PATH=/fhir; BASE_URL="$BASE_URL_ROOT$BASE_PATH"
  if wait_ready "$BASE_URL/metadata" "$pid" fhird-mongodb; then bench_server fhird-mongodb "$pid" "$mpid"; fi
  stop_pid "$pid" fhird-mongodb
  stop_pid "$mpid" secantusd-rs
  check_log fhird-mongodb "$OUT/fhird-mongodb.log"
  log "fhird-mongodb data: $(du -sh "$dir" | cut -f1)"
}

# helios-sqlite: Helios with the official R4 SearchParameters (it indexes every search
# parameter of each resource it writes). helios-sqlite-minimal: the same without that file,
# so Helios falls back to its 10 built-in parameters (less indexing work per write).
run_helios_sqlite() {
  local name=${1:-helios-sqlite}
  [ -x "$HFS_BIN" ] || { log "SKIP $name: $HFS_BIN not found (cargo install helios-hfs --version =0.2.7 --locked --no-default-features --features R4,sqlite)"; return 0; }
  [ -r "$HELIOS_SEARCH_PARAMS" ] || { log "SKIP $name: search parameters $HELIOS_SEARCH_PARAMS not found"; return 0; }
  local port dir pid
  port=$(free_port); dir="$OUT/data/$name"; rm -rf "$dir"; mkdir -p "$dir"
  [ "$name" = helios-sqlite-minimal ] || cp "$HELIOS_SEARCH_PARAMS" "$dir/search-parameters-r4.json"
  "$HFS_BIN" --host 127.0.0.1 --port "$port" --base-url "http://127.0.0.1:$port" \
    --database-url "$dir/db.sqlite" --data-dir "$dir" --log-level error > "$OUT/$name.log" 2>&1 &
  pid=$!
  BASE_URL_ROOT="http://127.0.0.1:$port"; BASE_PATH=""; BASE_URL="$BASE_URL_ROOT"
  if wait_ready "$BASE_URL/metadata" "$pid" "$name"; then bench_server "$name" "$pid"; fi
  stop_pid "$pid" "$name"
  check_log "$name" "$OUT/$name.log"
  log "$name data: $(du -sh "$dir" | cut -f1)"
}

log "benchmark: servers=$SERVERS patients=$PATIENTS duration=${DURATION}s warmup=${WARMUP}s wrk threads=$THREADS read conns=$READ_CONNS create conns=$CREATE_CONNS out=$OUT"
log "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/^Mem:/{print $2}') GB RAM, kernel $(uname -r)"
machine_note start
if [ -x "$FHIRD_BIN" ]; then
  log "fhird: $FHIRD_BIN ($("$FHIRD_BIN" --version 2>/dev/null), built $(date -r "$FHIRD_BIN" '+%F %T'), repo at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$REPO" status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null)" ] && echo ' + uncommitted changes'))"
fi
[ -x "$HFS_BIN" ] && log "helios: $HFS_BIN ($("$HFS_BIN" --version 2>/dev/null | head -1))"

for s in ${SERVERS//,/ }; do
  case "$s" in
    fhird-sqlite) run_fhird_sqlite ;;
    fhird-mongodb) run_fhird_mongodb ;;
    helios-sqlite) run_helios_sqlite helios-sqlite ;;
    helios-sqlite-minimal) run_helios_sqlite helios-sqlite-minimal ;;
    *) log "unknown server '$s' (fhird-sqlite, fhird-mongodb, helios-sqlite, helios-sqlite-minimal)" ;;
  esac
done
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
