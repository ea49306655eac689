# shellcheck shell=bash
# Shared by the benchmark scripts (sourced): logging, CPU accounting, wrk runs and starting
# and stopping the servers under test on fresh data directories. The caller sets OUT, RESULTS,
# THREADS, FHIRD_BIN, HFS_BIN, SECANTUSD_BIN, HELIOS_SEARCH_PARAMS and BENCH_FN (the function
# called with the server name and its pids once a server answers), and exports what its wrk
# scripts read (BENCH_IDS, BENCH_QUERIES, ...). Each server's data size after it stopped is
# appended to $OUT/data-sizes.tsv (server, bytes, human-readable).

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/bench.log" >&2; }

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

# CPU over a measured window: cpu_window_begin PIDS...; (the work); cpu_window_end CLIENT_S PIDS...
# CLIENT_S is the load generator's own CPU seconds in the window. cpu_window_end sets
# CW_SERVER_TICKS (CPU of PIDS, clock ticks), CW_SERVER_S (the same in seconds), CW_BUSY_PCT
# (machine busy %) and CW_OTHER_PCT (machine CPU used by neither PIDS nor the load generator:
# other processes such as builds, %).
cpu_window_begin() {
  read -r CW_BUSY0 CW_TOT0 < <(machine_ticks)
  CW_SRV0=$(cpu_ticks "$@")
}
# shellcheck disable=SC2034  # CW_* are read by the callers
cpu_window_end() {
  local client_s=$1; shift
  local srv1 busy1 tot1 hz
  srv1=$(cpu_ticks "$@")
  read -r busy1 tot1 < <(machine_ticks)
  hz=$(getconf CLK_TCK)
  CW_SERVER_TICKS=$((srv1 - CW_SRV0))
  CW_SERVER_S=$(awk -v d="$CW_SERVER_TICKS" -v hz="$hz" 'BEGIN{printf "%.2f", d/hz}')
  CW_BUSY_PCT=$(awk -v b=$((busy1 - CW_BUSY0)) -v t=$((tot1 - CW_TOT0)) 'BEGIN{ if (t>0) printf "%.0f", 100*b/t; else print "NA" }')
  CW_OTHER_PCT=$(awk -v b=$((busy1 - CW_BUSY0)) -v t=$((tot1 - CW_TOT0)) -v s="$CW_SERVER_TICKS" -v c="$client_s" -v hz="$hz" \
    'BEGIN{ o = b - s - c*hz; if (o < 0) o = 0; if (t>0) printf "%.0f", 100*o/t; else print "NA" }')
}

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
  local tf="$OUT/.wrk-time"
  cpu_window_begin "${pids[@]}"
  { TIMEFORMAT='%U %S'; time BENCH_BASE="$BASE_PATH" \
      wrk -t"$THREADS" -c"$conns" -d"${secs}s" --timeout 10s --latency \
      -s "$BENCH_DIR/$script" "$BASE_URL_ROOT" > "$raw" 2>&1; } 2> "$tf" || true
  cpu_window_end "$(awk '{print $1 + $2}' "$tf")" "${pids[@]}"
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
  local cpu_us busy=$CW_BUSY_PCT other=$CW_OTHER_PCT
  cpu_us=$(awk -v d="$CW_SERVER_TICKS" -v r="$reqs" -v hz="$hz" 'BEGIN{ if (r>0) printf "%.0f", d/hz*1e6/r; else print "NA" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$test" "$conns" "$rps" "$p50" "$p99" \
    "$reqs" "$non2xx" "$sock" "$cpu_us" "$busy" "$other" >> "$RESULTS"
  log "$server $test c$conns: $rps req/s, p50 ${p50} ms, p99 ${p99} ms, non-2xx $non2xx, socket errors $sock, server CPU ${cpu_us} us/req, machine busy ${busy}%, other ${other}%"
  if [ "$non2xx" != 0 ] || [ "$sock" != 0 ]; then
    log "INVALID: $server $test c$conns had $non2xx non-2xx answers and $sock socket errors (raw: $raw)"
  fi
}

check_log() { # server logfile
  local n
  n=$(grep -ciE 'panic|error' "$2" || true)
  if [ "$n" != 0 ]; then
    log "WARNING: $1 log $2 has $n lines mentioning panic/error; first ones:"
    grep -iE 'panic|error' "$2" | head -5 >&2
  fi
}

# The machine and the binaries under test, once at the start of a run.
log_setup() {
  log "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/^Mem:/{print $2}') GB RAM, kernel $(uname -r)"
  if [ -x "$FHIRD_BIN" ]; then
    log "fhird: $FHIRD_BIN ($("$FHIRD_BIN" --version 2>/dev/null), built $(date -r "$FHIRD_BIN" '+%F %T'), repo at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$REPO" status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null)" ] && echo ' + uncommitted changes'))"
  fi
  if [ -x "$HFS_BIN" ]; then log "helios: $HFS_BIN ($("$HFS_BIN" --version 2>/dev/null | head -1))"; fi
}

machine_note() {
  local builds
  builds=$(pgrep -a cargo 2>/dev/null; pgrep -a rustc 2>/dev/null | cut -c1-120) || true
  if [ -n "$builds" ]; then log "NOTE: compilers running at $1: $(echo "$builds" | wc -l) processes"; else log "no cargo/rustc running at $1"; fi
  log "load average at $1: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# ---------------------------------------------------------------- servers
# Where the servers keep their data: $OUT/data, or with BENCH_REUSE_DATA=DIR the data a
# previous run left in DIR/<server> (kept with --keep-data), used as it is.
data_root() { echo "${BENCH_REUSE_DATA:-$OUT/data}"; }
fresh_dir() { # dir: emptied unless data is being reused
  if [ -n "${BENCH_REUSE_DATA:-}" ]; then
    [ -d "$1" ] || { log "ERROR: no data to reuse in $1"; return 1; }
  else
    rm -rf "$1"; mkdir -p "$1"
  fi
}

record_data_size() { # server dir: logs the size of a stopped server's data and appends it to $OUT/data-sizes.tsv
  local h
  h=$(du -sh "$2" | cut -f1)
  log "$1 data: $h"
  printf '%s\t%s\t%s\n' "$1" "$(du -sb "$2" | cut -f1)" "$h" >> "$OUT/data-sizes.tsv"
}

SERVER_NAMES="fhird-sqlite, fhird-mongodb, helios-sqlite, helios-sqlite-minimal"
run_server() { # name: starts it on a fresh data directory, calls $BENCH_FN, stops it
  case "$1" in
    fhird-sqlite) run_fhird_sqlite ;;
    fhird-mongodb) run_fhird_mongodb ;;
    helios-sqlite|helios-sqlite-minimal) run_helios_sqlite "$1" ;;
    *) log "unknown server '$1' ($SERVER_NAMES)" ;;
  esac
}

run_fhird_sqlite() {
  [ -x "$FHIRD_BIN" ] || { log "SKIP fhird-sqlite: $FHIRD_BIN not found (cargo build --release)"; return 0; }
  local port dir pid
  port=$(free_port); dir="$(data_root)/fhird-sqlite"; fresh_dir "$dir"
  FHIRD_LOG=warn "$FHIRD_BIN" serve --listen "127.0.0.1:$port" --store "sqlite:$dir" \
    --base-url "http://127.0.0.1:$port" > "$OUT/fhird-sqlite.log" 2>&1 &
  pid=$!
  BASE_URL_ROOT="http://127.0.0.1:$port"; BASE_PATH=/fhir; BASE_URL="$BASE_URL_ROOT$BASE_PATH"
  if wait_ready "$BASE_URL/metadata" "$pid" fhird-sqlite; then "$BENCH_FN" fhird-sqlite "$pid"; fi
  stop_pid "$pid" fhird-sqlite
  check_log fhird-sqlite "$OUT/fhird-sqlite.log"
  record_data_size fhird-sqlite "$dir"
}

run_fhird_mongodb() {
  [ -x "$FHIRD_BIN" ] || { log "SKIP fhird-mongodb: $FHIRD_BIN not found (cargo build --release)"; return 0; }
  command -v "$SECANTUSD_BIN" >/dev/null || { log "SKIP fhird-mongodb: $SECANTUSD_BIN not found"; return 0; }
  local dir mpid mport port pid i
  dir="$(data_root)/fhird-mongodb"; fresh_dir "$dir"; mkdir -p "$dir/db"
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
  if wait_ready "$BASE_URL/metadata" "$pid" fhird-mongodb; then "$BENCH_FN" fhird-mongodb "$pid" "$mpid"; fi
  stop_pid "$pid" fhird-mongodb
  stop_pid "$mpid" secantusd-rs
  check_log fhird-mongodb "$OUT/fhird-mongodb.log"
  record_data_size fhird-mongodb "$dir"
}

# helios-sqlite: Helios with the official R4 SearchParameters (it indexes every search
# parameter of each resource it writes). helios-sqlite-minimal: the same without that file,
# so Helios falls back to its 10 built-in parameters (less indexing work per write).
run_helios_sqlite() {
  local name=${1:-helios-sqlite}
  [ -x "$HFS_BIN" ] || { log "SKIP $name: $HFS_BIN not found (cargo install helios-hfs --version =0.2.7 --locked --no-default-features --features R4,sqlite)"; return 0; }
  [ -r "$HELIOS_SEARCH_PARAMS" ] || { log "SKIP $name: search parameters $HELIOS_SEARCH_PARAMS not found"; return 0; }
  local port dir pid
  port=$(free_port); dir="$(data_root)/$name"; fresh_dir "$dir"
  [ "$name" = helios-sqlite-minimal ] || cp "$HELIOS_SEARCH_PARAMS" "$dir/search-parameters-r4.json"
  "$HFS_BIN" --host 127.0.0.1 --port "$port" --base-url "http://127.0.0.1:$port" \
    --database-url "$dir/db.sqlite" --data-dir "$dir" --log-level error > "$OUT/$name.log" 2>&1 &
  pid=$!
  BASE_URL_ROOT="http://127.0.0.1:$port"; BASE_PATH=""; BASE_URL="$BASE_URL_ROOT"
  if wait_ready "$BASE_URL/metadata" "$pid" "$name"; then "$BENCH_FN" "$name" "$pid"; fi
  stop_pid "$pid" "$name"
  check_log "$name" "$OUT/$name.log"
  record_data_size "$name" "$dir"
}

