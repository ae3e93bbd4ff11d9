#!/usr/bin/env bash
# bench/backpressure.sh: the cross-node flood. Two release nodes over the machine's Redis
# (127.0.0.1:6379), 1,000 subscribers on node A, 32 keep-alive clients publishing as fast as
# they can to node B for 30 s; backpressure on (default, backpressure_fanout_ms = 250) and
# off (0). Reports accepted publishes, deliveries lost among accepted ones, subscribers cut,
# delivery latency, and the publishes refused (429). One JSON line per run to the file given
# (default target/bench/backpressure.jsonl). ENGINE=nats runs the nodes over the machine's
# NATS (127.0.0.1:4222) instead of Redis; BATCH=10 publishes 10 events per request through
# `POST /batch_events` instead of one per `POST /events`. SETTINGS=250 runs only
# the given backpressure_fanout_ms settings (default: 250 and 0). Needs release binaries
# (`cargo build --release -p sockwave -p sockwave-bench`).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/bench
out="${1:-target/bench/backpressure.jsonl}"
engine="${ENGINE:-redis}"
pids=()
# Nodes left running (a failed run) would answer the next run's requests on the same ports.
trap 'kill -TERM "${pids[@]}" 2> /dev/null || true' EXIT
for setting in ${SETTINGS:-250 0}; do
  prefix="bp$RANDOM"
  pids=()
  for port in 6131 6132; do
    env -u RUST_LOG NO_COLOR=1 SOCKWAVE_CLUSTER_DRIVER="$engine" SOCKWAVE_CLUSTER_PREFIX="$prefix" \
      SOCKWAVE_BACKPRESSURE_FANOUT_MS=$setting \
      target/release/sockwave --host 127.0.0.1 --port $port > "target/bench/backpressure-$port.log" 2>&1 &
    pids+=($!)
  done
  for port in 6131 6132; do
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/up" > /dev/null && break; sleep 0.1; done
  done
  sleep 1
  target/release/sockwave-bench fanout --subscribers 1000 --channels 1 --rate 0 --events 100000000 \
    --publishers 32 --duration 30 --drain 60 --batch "${BATCH:-1}" \
    --url ws://127.0.0.1:6131 --http http://127.0.0.1:6132 --server-pid "${pids[0]}" \
    --server-name "sockwave-2node-$engine-backpressure-$setting" \
    | python3 -c "import json,sys; [print(json.dumps({**json.loads(l), 'backpressure_fanout_ms': $setting})) for l in sys.stdin]" \
    | tee -a "$out"
  kill -TERM "${pids[@]}"; wait "${pids[@]}" 2> /dev/null || true
done
