#!/usr/bin/env bash
# bench/crowd.sh: one channel with a crowd larger than one process may hold (the file limit
# here is 20,000 descriptors per process). N release nodes over the machine's Redis
# (127.0.0.1:6379), each with its share of the subscribers from its own `sockwave-bench
# listen` process (source addresses spread over 127.0.0.2-250); once all are subscribed, a
# `sockwave-bench publish` process sends one event every INTERVAL seconds to node 1.
# Reports the connect ramp, how long the nodes took to digest the burst of subscribes
# (each also crosses Redis to every other node), each node's memory per connection (right
# after the crowd connected, and at the end), every delivery (lost ones
# counted) and the latency merged exactly over all listeners. One JSON line to OUT.
#   bench/crowd.sh [subscribers=100000] [nodes=6] [events=30] [interval=2] [out=target/bench/crowd.jsonl]
# ENGINE=nats runs the nodes over the machine's NATS (127.0.0.1:4222) instead; SERVER=sockudo
# runs Sockudo nodes (SOCKUDO_BIN, default `sockudo` on PATH) with the same engine; the same
# script with a few thousand subscribers and an interval of 0.01 measures a cluster at
# 100 events/s (docs/performance.md, "Cluster efficiency").
# Needs release binaries (`cargo build --release -p sockwave -p sockwave-bench`) and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
total="${1:-100000}"; nodes="${2:-6}"; events="${3:-30}"; interval="${4:-2}"
out="${5:-target/bench/crowd.jsonl}"
per_node=$(( (total + nodes - 1) / nodes ))
work="target/bench/crowd-$$"
mkdir -p "$work"
ulimit -n "$(ulimit -Hn)"
prefix="crowd$RANDOM"
engine="${ENGINE:-redis}"
server="${SERVER:-sockwave}"
sockudo_bin="${SOCKUDO_BIN:-$(command -v sockudo || true)}"
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# utime + stime (clock ticks) of the given processes, summed.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done; echo "$t"; }
# stime alone (clock ticks): the kernel's share, mostly the sends.
sys_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $13}'))); done; echo "$t"; }

pids=(); ports=()
cleanup() { kill -TERM "${pids[@]}" "${listeners[@]:-}" 2> /dev/null || true; }
trap cleanup EXIT
for i in $(seq 1 "$nodes"); do
  port=$((6140 + i))
  case "$server" in
    sockwave)
      env -u RUST_LOG NO_COLOR=1 SOCKWAVE_CLUSTER_DRIVER="$engine" SOCKWAVE_CLUSTER_PREFIX="$prefix" \
        target/release/sockwave --host 127.0.0.1 --port "$port" > "$work/node-$i.log" 2>&1 & ;;
    sockudo)
      # Memory-only apps, its cache in Redis (its cluster mode requires it), rate limiter and
      # metrics off (one metrics port would clash).
      env -i "PATH=$PATH" "HOME=$HOME" HOST=127.0.0.1 PORT="$port" SOCKUDO_DEFAULT_APP_ID=app-id \
        SOCKUDO_DEFAULT_APP_KEY=app-key SOCKUDO_DEFAULT_APP_SECRET=app-secret \
        SOCKUDO_DEFAULT_APP_MAX_CONNECTIONS=200000 RATE_LIMITER_ENABLED=false METRICS_ENABLED=false \
        ADAPTER_DRIVER="$engine" REDIS_URL=redis://127.0.0.1:6379/0 NATS_SERVERS=nats://127.0.0.1:4222 \
        CACHE_DRIVER=redis QUEUE_DRIVER=memory APP_MANAGER_DRIVER=memory \
        "$sockudo_bin" > "$work/node-$i.log" 2>&1 & ;;
    *) echo "SERVER must be sockwave or sockudo" >&2; exit 2 ;;
  esac
  pids+=($!); ports+=("$port")
done
for port in "${ports[@]}"; do
  for _ in $(seq 1 300); do (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null && break; sleep 0.1; done
done
sleep 1
rss_before=(); for pid in "${pids[@]}"; do rss_before+=("$(rss_kb "$pid")"); done

started=$(date +%s.%N)
listeners=()
for i in $(seq 0 $((nodes - 1))); do
  target/release/sockwave-bench listen --subscribers "$per_node" --concurrency 128 \
    --url "ws://127.0.0.1:${ports[$i]}" --http "http://127.0.0.1:${ports[$i]}" --server-pid "${pids[$i]}" \
    --ready-file "$work/ready-$i" --stop-file "$work/stop" --max-seconds 1200 \
    > "$work/listen-$i.json" 2> "$work/listen-$i.err" &
  listeners+=($!)
done
for _ in $(seq 1 6000); do
  ready=$(find "$work" -name "ready-*" | wc -l)
  [ "$ready" -eq "$nodes" ] && break
  sleep 0.1
done
connected=$(date +%s.%N)
# Every subscribe also went to the other nodes over Redis; publish once the nodes have
# digested them (under 0.1 CPU-s a second across all of them), so the first events do not
# queue behind the connect burst.
for _ in $(seq 1 120); do
  t0=$(cpu_ticks "${pids[@]}"); sleep 1; t1=$(cpu_ticks "${pids[@]}")
  [ $((t1 - t0)) -lt 10 ] && break
done
settled=$(date +%s.%N)
rss_after=(); for pid in "${pids[@]}"; do rss_after+=("$(rss_kb "$pid")"); done
cpu_before="$(cpu_ticks "${pids[@]}") $(cpu_ticks "${listeners[@]}") $(sys_ticks "${pids[@]}")"

target/release/sockwave-bench publish --events "$events" --interval "$interval" \
  --url "ws://127.0.0.1:${ports[0]}" --http "http://127.0.0.1:${ports[0]}" > "$work/publish.json"
sleep 10
cpu_after="$(cpu_ticks "${pids[@]}") $(cpu_ticks "${listeners[@]}") $(sys_ticks "${pids[@]}")"
rss_end=(); for pid in "${pids[@]}"; do rss_end+=("$(rss_kb "$pid")"); done
touch "$work/stop"
wait "${listeners[@]}" || true
listeners=()

ENGINE="$engine" SERVER="$server" python3 - "$work" "$nodes" "$started" "$connected" "$settled" "${rss_before[*]}" "${rss_after[*]}" "$cpu_before" "$cpu_after" "${rss_end[*]}" <<'EOF' | tee -a "$out"
import json, math, os, sys, time
work, nodes, started, connected, settled = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6])
sys.argv.pop(5)
before, after = [list(map(int, a.split())) for a in sys.argv[5:7]]
# CPU seconds (USER_HZ = 100) of the nodes, of the listeners and of the nodes in the kernel,
# from the first publish to the end of the drain.
end = list(map(int, sys.argv[9].split()))
(nodes_cpu, listeners_cpu, nodes_system) = [(b - a) / 100 for a, b in zip(*[map(int, x.split()) for x in sys.argv[7:9]])]
listens = [json.loads(open(f"{work}/listen-{i}.json").read()) for i in range(nodes)]
publish = json.loads(open(f"{work}/publish.json").read())
subscribed = [l["connect"]["subscribed"] for l in listens]
expected = publish["published"] * sum(subscribed)
received = sum(l["deliveries_received"] for l in listens)
merged = {}
for l in listens:
    for upper, count in l["latency_buckets_us"]:
        merged[upper] = merged.get(upper, 0) + count
def quantile(q):
    total = sum(merged.values())
    rank, seen = max(1, math.ceil(q * total)), 0
    for upper in sorted(merged):
        seen += merged[upper]
        if seen >= rank:
            return upper / 1000
    return None
per_conn = [round((a - b) * 1024 / max(1, s)) for a, b, s in zip(after, before, subscribed)]
print(json.dumps({
    "scenario": "crowd", "server": os.environ["SERVER"], "nodes": nodes, "engine": os.environ["ENGINE"],
    "subscribers": sum(subscribed), "subscribe_failed": sum(l["connect"]["failed"] for l in listens),
    "connect_s": round(connected - started, 1), "connect_per_s": round(sum(subscribed) / (connected - started)),
    "cluster_settle_s": round(settled - connected, 1),
    "ramp_per_second_by_listener": [l["connect"]["ramp_per_second"] for l in listens],
    "events_per_s": round(1 / publish["params"]["interval_s"], 2),
    "published": publish["published"], "publish_errors": publish["publish_errors"],
    "refused_429_then_retried": publish["refused_429_then_retried"],
    "deliveries_expected": expected, "deliveries_received": received, "deliveries_lost": expected - received,
    "latency_ms": {"p50": quantile(0.5), "p99": quantile(0.99), "max": max(l["latency"]["max_ms"] for l in listens)},
    "disconnects": sum(l["disconnects"] for l in listens),
    "publish_phase_cpu_s": {"nodes": nodes_cpu, "nodes_system": nodes_system, "listeners": listeners_cpu},
    "events_per_s_reached": round(publish["published"] / publish["seconds"], 1),
    "deliveries_per_node_cpu_s": round(received / nodes_cpu) if nodes_cpu else None,
    "node_rss_kb_before": before, "node_rss_kb_after": after,
    "bytes_per_connection_by_node": per_conn, "total_rss_mb": round(sum(after) / 1024, 1),
    "node_rss_kb_end": end,
    "bytes_per_connection_by_node_end": [round((e - b) * 1024 / max(1, s)) for e, b, s in zip(end, before, subscribed)],
    "unix_time": int(time.time()),
}))
EOF
