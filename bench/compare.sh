#!/usr/bin/env bash
# bench/compare.sh: runs the same bench scenarios against sockwave and, where installed,
# Sockudo and Soketi, alternating the servers case by case in one run, then prints a table
# of medians and ratios (sockwave ÷ peer).
#
# Every case starts a fresh server (so memory figures start from a clean process), runs one
# sockwave-bench scenario against it with --server-pid, and stops it by its PID. Peers are
# optional: a missing peer is reported and skipped, never an error.
#
# Usage: bench/compare.sh [--quick] [--rounds N] [--cases "idle10k fanout1k …"] [--out DIR]
#   --quick    sizes divided by ten, a few seconds per case (default: full sizes)
#   --rounds   how many times each case runs per server (default 1; the table shows medians)
#   --cases    which cases to run (default: all but soak; "soak" adds the 10-minute soak)
#   --out      where results.jsonl and server logs go (default: target/bench/<timestamp>)
#   --all      then also every sockwave-only scenario of docs/performance.md, each into its
#              own file under --out: cross-node backpressure, fan-out time at 10k
#              subscribers, publishing patterns, history on and off, TLS, compression,
#              2- and 3-node clusters over Redis and NATS (two nodes also with Sockudo
#              over Redis, when Sockudo is found; TLS also with Soketi, when SOKETI_DIR
#              holds it), and the 100,000-subscriber crowd
#              over 6 nodes (Redis, NATS and the protocol tests' npm packages needed; about
#              30 minutes more)
# Peers are found through SOCKUDO_BIN (default: `sockudo` on PATH) and SOKETI_DIR (a
# directory whose node_modules holds @soketi/soketi; default: none, or `soketi` on PATH).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."

quick=0
all=0
rounds=1
cases="idle10k idle19k fanout1k fanout1k-paced fanout10k http32 churn presence"
out="target/bench/$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --rounds) rounds="$2"; shift ;;
    --cases) cases="$2"; shift ;;
    --out) out="$2"; shift ;;
    --all) all=1 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out/logs"
results="$out/results.jsonl"

echo "==> building release binaries" >&2
cargo build --release --quiet -p sockwave -p sockwave-bench
bench="$PWD/target/release/sockwave-bench"
sockwave_bin="$PWD/target/release/sockwave"

# Which servers to compare, in the order they alternate.
servers="sockwave"
sockudo_bin="${SOCKUDO_BIN:-$(command -v sockudo || true)}"
if [ -n "$sockudo_bin" ] && [ -x "$sockudo_bin" ]; then servers="$servers sockudo"
else echo "==> Sockudo not found (set SOCKUDO_BIN or put sockudo on PATH): skipped" >&2; fi
soketi_js=""
if [ -n "${SOKETI_DIR:-}" ] && [ -f "$SOKETI_DIR/node_modules/@soketi/soketi/bin/server.js" ]; then
  soketi_js="$SOKETI_DIR/node_modules/@soketi/soketi/bin/server.js"
elif command -v soketi > /dev/null; then
  soketi_js="$(readlink -f "$(command -v soketi)")"
fi
if [ -n "$soketi_js" ]; then servers="$servers soketi"
else echo "==> Soketi not found (set SOKETI_DIR): skipped" >&2; fi

# The scenario flags of each case; --quick divides sizes by ten.
case_args() {
  local q=$quick
  case "$1" in
    idle10k)   echo "idle --connections $([ $q = 1 ] && echo 1000 || echo 10000)" ;;
    idle19k)   echo "idle --connections $([ $q = 1 ] && echo 1900 || echo 19000)" ;;
    # Saturated: publishers send back to back, the server and the bench share both cores.
    fanout1k)  echo "fanout --subscribers 1000 --channels 1 --rate 0 --events $([ $q = 1 ] && echo 1000 || echo 10000)" ;;
    # Paced at 100 events/s (100k deliveries/s), the load the peers' figures were taken at.
    fanout1k-paced) echo "fanout --subscribers 1000 --channels 1 --rate 100 --events $([ $q = 1 ] && echo 300 || echo 3000)" ;;
    fanout10k) echo "fanout --subscribers $([ $q = 1 ] && echo 1000 || echo 10000) --channels 1 --rate 10 --events $([ $q = 1 ] && echo 50 || echo 300)" ;;
    http32)    echo "http --clients 32 --duration $([ $q = 1 ] && echo 2 || echo 10)" ;;
    churn)     echo "churn --workers 64 --duration $([ $q = 1 ] && echo 2 || echo 10)" ;;
    presence)  echo "presence --members $([ $q = 1 ] && echo 500 || echo 5000) --per-channel 100" ;;
    soak)      echo "soak --duration $([ $q = 1 ] && echo 60 || echo 600) --warmup $([ $q = 1 ] && echo 10 || echo 60)" ;;
    *) echo "unknown case $1" >&2; exit 2 ;;
  esac
}

port_of() {
  case "$1" in sockwave) echo 6101 ;; sockudo) echo 6102 ;; soketi) echo 6103 ;; esac
}

server_pid=""
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2> /dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$server_pid" 2> /dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2> /dev/null || true
  wait "$server_pid" 2> /dev/null || true
  server_pid=""
}
trap stop_server EXIT

# Starts one server in the background with the bench's credentials; sets server_pid.
start_server() {
  local name="$1" port="$2" log="$3"
  if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
    echo "port $port is already in use" >&2; exit 1
  fi
  # Servers start with an empty environment, so no SOCKWAVE_*, SOKETI_* or PUSHER_* variable
  # of the caller changes what is measured.
  local clean=(env -i "PATH=$PATH" "HOME=$HOME")
  case "$name" in
    sockwave)
      "${clean[@]}" "$sockwave_bin" --host 127.0.0.1 --port "$port" > "$log" 2>&1 & ;;
    sockudo)
      # A local, memory-only Sockudo with its per-IP rate limiter off (it would refuse the
      # load generator after 20 connections a minute).
      "${clean[@]}" HOST=127.0.0.1 PORT="$port" SOCKUDO_DEFAULT_APP_ID=app-id \
        SOCKUDO_DEFAULT_APP_KEY=app-key SOCKUDO_DEFAULT_APP_SECRET=app-secret \
        SOCKUDO_DEFAULT_APP_MAX_CONNECTIONS=100000 \
        RATE_LIMITER_ENABLED=false ADAPTER_DRIVER=local CACHE_DRIVER=memory \
        QUEUE_DRIVER=memory APP_MANAGER_DRIVER=memory \
        "$sockudo_bin" > "$log" 2>&1 & ;;
    soketi)
      "${clean[@]}" SOKETI_HOST=127.0.0.1 SOKETI_PORT="$port" SOKETI_DEFAULT_APP_ID=app-id \
        SOKETI_DEFAULT_APP_KEY=app-key SOKETI_DEFAULT_APP_SECRET=app-secret \
        node "$soketi_js" start > "$log" 2>&1 & ;;
  esac
  server_pid=$!
  for _ in $(seq 1 300); do
    if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then sleep 1; return 0; fi
    kill -0 "$server_pid" 2> /dev/null || { echo "$name exited; see $log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$name did not listen on $port within 30 s; see $log" >&2
  exit 1
}

echo "==> servers: $servers; cases: $cases; rounds: $rounds; results: $results" >&2
for round in $(seq 1 "$rounds"); do
  for case_name in $cases; do
    # Rotate the starting server each round so no server always runs first.
    order=$(echo $servers | tr ' ' '\n' | awk -v r="$round" '{a[NR]=$0} END {for (i=0;i<NR;i++) print a[(i+r-1)%NR+1]}')
    for name in $order; do
      port=$(port_of "$name")
      start_server "$name" "$port" "$out/logs/$name-$case_name-$round.log"
      echo "==> round $round, $case_name, $name (pid $server_pid)" >&2
      # shellcheck disable=SC2046
      line=$("$bench" $(case_args "$case_name") --url "ws://127.0.0.1:$port" \
        --http "http://127.0.0.1:$port" --server-pid "$server_pid" --server-name "$name") \
        || line='{"error":"bench failed"}'
      # The 1-minute load average shows when something else was using the cores.
      printf '{"case":"%s","round":%s,"server":"%s","load":%s,"result":%s}\n' \
        "$case_name" "$round" "$name" "$(cut -d' ' -f1 /proc/loadavg)" "$line" >> "$results"
      stop_server
    done
  done
done

python3 "$here/table.py" "$results"

if [ "$all" = 1 ]; then
  echo "==> sockwave-only scenarios (results under $out)" >&2
  bench/backpressure.sh "$out/backpressure.jsonl"
  ENGINE=nats bench/backpressure.sh "$out/backpressure.jsonl"
  BATCH=10 bench/backpressure.sh "$out/backpressure.jsonl"
  ENGINE=nats BATCH=10 bench/backpressure.sh "$out/backpressure.jsonl"
  bench/fanout-seconds.sh "$out/fanout-seconds.jsonl"
  bench/publish-patterns.sh "$out/publish-patterns.jsonl"
  bench/history.sh --rounds "$rounds" --out "$out/history.jsonl"
  # The scripts measure Soketi when SOKETI_DIR is set: unset for sockwave's own runs.
  env -u SOKETI_DIR node bench/tls-idle.mjs 2000 "$out/tls-idle.jsonl"
  env -u SOKETI_DIR node bench/compression.mjs 1000 10 20 "$rounds" "$out/compression.jsonl"
  env -u SOKETI_DIR VARIANTS=plain,tls,tls-deflate node bench/compression.mjs 1000 20 20 "$rounds" "$out/tls-fanout.jsonl"
  if [ -n "${SOKETI_DIR:-}" ] && [[ " $servers " == *" soketi "* ]]; then  # the same, Soketi's TLS
    SOKETI_DIR="$SOKETI_DIR" node bench/tls-idle.mjs 2000 "$out/tls-idle.jsonl"
    SOKETI_DIR="$SOKETI_DIR" VARIANTS=plain,tls node bench/compression.mjs 1000 20 20 "$rounds" "$out/tls-fanout.jsonl"
  fi
  for engine in redis nats; do  # cluster efficiency: 2 and 3 nodes, 1,000 subscribers each, 100 events/s
    for nodes in 2 3; do ENGINE=$engine bench/crowd.sh $((nodes * 1000)) $nodes 3000 0.01 "$out/cluster.jsonl"; done
  done
  # The same two-node case against Sockudo's Redis cluster, one right after the other.
  if [[ " $servers " == *" sockudo "* ]]; then
    SERVER=sockudo SOCKUDO_BIN="$sockudo_bin" ENGINE=redis bench/crowd.sh 2000 2 3000 0.01 "$out/cluster.jsonl"
  fi
  bench/crowd.sh 100000 6 30 2 "$out/crowd.jsonl"
fi
