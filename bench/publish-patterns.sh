#!/usr/bin/env bash
# bench/publish-patterns.sh: saturated fan-out to 1,000 subscribers (one release server, fresh
# per run) with the publishes arriving in different ways: 4 keep-alive clients (the bench's
# default), 32 keep-alive clients, 4 and 32 clients opening a new connection per publish.
# Reports deliveries per server CPU-second for each; one JSON line per run to the file given
# (default target/bench/publish-patterns.jsonl). Needs release binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/bench
out="${1:-target/bench/publish-patterns.jsonl}"
port=6141
for pattern in "4" "32" "4 --connection-per-publish" "32 --connection-per-publish"; do
  env -u RUST_LOG NO_COLOR=1 target/release/sockwave --host 127.0.0.1 --port $port > target/bench/publish-patterns-server.log 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/up" > /dev/null && break; sleep 0.1; done
  # shellcheck disable=SC2086
  target/release/sockwave-bench fanout --subscribers 1000 --channels 1 --rate 0 --events 5000 \
    --publishers $pattern --url "ws://127.0.0.1:$port" --http "http://127.0.0.1:$port" \
    --server-pid $pid | tee -a "$out"
  kill -TERM $pid; wait $pid 2> /dev/null || true
done
