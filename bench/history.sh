#!/usr/bin/env bash
# bench/history.sh: what channel history costs and what a resume takes. Each case runs
# against a fresh release server, alternating history off and on, on the in-memory store
# (one node) and on Redis (driver = "redis", the machine's 127.0.0.1:6379):
#   http32        32 keep-alive clients publishing signed events to one channel, 10 s
#   http-1k       the same spread over 1,000 channels (fills 1,000 histories: memory)
#   fanout1k      1,000 subscribers, publishes as fast as they go (deliveries per CPU-s)
#   resume50      200 clients away while 50 events are published, then all resume at once
# History "on" means history_channels covers the bench's channels; "off" has none.
#
# Usage: bench/history.sh [--rounds N] [--out FILE] (default: 1 round, target/bench/history.jsonl)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
rounds=1
out="target/bench/history.jsonl"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift ;;
    --out) out="$2"; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$(dirname "$out")"
cargo build --release --quiet -p sockwave -p sockwave-bench
bench="$PWD/target/release/sockwave-bench"
bin="$PWD/target/release/sockwave"
port=6111

run_case() { # store history case
  local store="$1" history="$2" case="$3" env=(env -u RUST_LOG NO_COLOR=1)
  [ "$history" = on ] && env+=(SOCKWAVE_APP_HISTORY_CHANNELS='http-*,fanout-*,history-*')
  [ "$store" = redis ] && env+=(SOCKWAVE_CLUSTER_DRIVER=redis SOCKWAVE_CLUSTER_PREFIX="bench$RANDOM")
  "${env[@]}" "$bin" --host 127.0.0.1 --port "$port" > "target/bench/history-server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/up" > /dev/null && break; sleep 0.1; done
  local args
  case "$case" in
    http32) args="http --clients 32 --duration 10" ;;
    http-1k) args="http --clients 32 --duration 10 --channels 1000 --payload 200" ;;
    fanout1k) args="fanout --subscribers 1000 --channels 1 --rate 0 --events 5000" ;;
    resume50) args="resume --clients 200 --missed 50 --payload 200" ;;
  esac
  # shellcheck disable=SC2086
  "$bench" $args --url "ws://127.0.0.1:$port" --http "http://127.0.0.1:$port" \
    --server-pid "$pid" --server-name "sockwave-$store-history-$history" \
    | python3 -c "import json,sys; [print(json.dumps({**json.loads(l), 'case': '$case', 'store': '$store', 'history': '$history'})) for l in sys.stdin]" \
    | tee -a "$out"
  kill -TERM "$pid"; wait "$pid" 2> /dev/null || true
}

for round in $(seq 1 "$rounds"); do
  for store in memory redis; do
    for case in http32 http-1k fanout1k; do
      for history in off on; do run_case "$store" "$history" "$case"; done
    done
    run_case "$store" on resume50
  done
done
echo "==> results in $out" >&2
