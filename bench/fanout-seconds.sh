#!/usr/bin/env bash
# bench/fanout-seconds.sh: 10,000 subscribers × 10 events/s against a fresh release server
# with metrics on: the client-side delivery latency (sockwave-bench) next to the server's own
# `fanout_seconds` and `publish_enqueue_seconds` quantiles (bucket upper bounds, from
# /metrics). Appends one JSON line to the file given (default target/bench/fanout-seconds.jsonl).
# Needs `cargo build --release -p sockwave -p sockwave-bench` first.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/bench
out="${1:-target/bench/fanout-seconds.jsonl}"
port=6121; mport=9621
env -u RUST_LOG NO_COLOR=1 SOCKWAVE_METRICS_ENABLED=true SOCKWAVE_METRICS_PORT=$mport target/release/sockwave --host 127.0.0.1 --port $port > target/bench/fanout-seconds-server.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/up" > /dev/null && break; sleep 0.1; done
target/release/sockwave-bench fanout --subscribers 10000 --channels 1 --rate 10 --events 300 \
  --url "ws://127.0.0.1:$port" --http "http://127.0.0.1:$port" --server-pid $pid --server-name sockwave-metrics-on > target/bench/fanout-seconds-bench.json
curl -fs "http://127.0.0.1:$mport/metrics" > target/bench/fanout-seconds-metrics.txt
kill -TERM $pid; wait $pid 2>/dev/null || true
python3 - "$out" <<'PY'
import json, re, sys
bench = json.load(open('target/bench/fanout-seconds-bench.json'))
text = open('target/bench/fanout-seconds-metrics.txt').read()
def quantiles(name):
    buckets = []
    for m in re.finditer(r'^sockwave_%s_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)' % name, text, re.M):
        le = float('inf') if m.group(1) == '+Inf' else float(m.group(1))
        buckets.append((le, int(m.group(2))))
    buckets.sort()
    total = buckets[-1][1]
    out = {'count': total}
    for q in (0.5, 0.9, 0.99):
        for le, c in buckets:
            if c >= q * total:
                out['p%d_le_ms' % round(q * 100)] = le * 1000
                break
    return out
line = {
    'case': 'fanout10k-paced', 'client_latency': bench.get('latency'),
    'deliveries_lost': bench.get('deliveries_lost'),
    'deliveries_per_server_cpu_s': bench.get('deliveries_per_server_cpu_s'),
    'server_fanout_seconds': quantiles('fanout_seconds'),
    'server_publish_enqueue_seconds': quantiles('publish_enqueue_seconds'),
    'unix_time': bench.get('unix_time'), 'params': bench.get('params'),
}
print(json.dumps(line))
open(sys.argv[1], 'a').write(json.dumps(line) + '\n')
PY
