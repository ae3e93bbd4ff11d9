#!/usr/bin/env python3
"""Prints the comparison table of a bench/compare.sh run.

Reads results.jsonl (one {"case", "round", "server", "result"} object per line), takes the
median of each metric over rounds, and prints a Markdown table with one column per server
and the ratio sockwave ÷ peer for each peer. "better" says which direction wins.
"""

import json
import statistics
import sys

# case -> [(label, path into the result, "higher" | "lower" is better)]
METRICS = {
    "idle10k": [
        ("server bytes / idle subscribed connection", "server_bytes_per_connection", "lower"),
        ("RSS after disconnect vs start, %", "server_rss_after_vs_before_pct", "lower"),
        ("anonymous RSS after disconnect vs start, %", "server_anon_after_vs_before_pct", "lower"),
        ("connect+subscribe / s (ramp-up)", "connect_subscribe_per_s", "higher"),
        ("connected", "connected", "higher"),
    ],
    "idle19k": [
        ("server bytes / idle subscribed connection", "server_bytes_per_connection", "lower"),
        ("RSS after disconnect vs start, %", "server_rss_after_vs_before_pct", "lower"),
        ("anonymous RSS after disconnect vs start, %", "server_anon_after_vs_before_pct", "lower"),
        ("connected", "connected", "higher"),
    ],
    "fanout1k": [
        ("deliveries / server CPU-s", "deliveries_per_server_cpu_s", "higher"),
        ("deliveries / s", "deliveries_per_s", "higher"),
        ("latency p99, ms", "latency.p99_ms", "lower"),
        ("lost deliveries", "deliveries_lost", "lower"),
        ("disconnects", "disconnects", "lower"),
    ],
    "fanout1k-paced": [
        ("deliveries / server CPU-s", "deliveries_per_server_cpu_s", "higher"),
        ("latency p99, ms", "latency.p99_ms", "lower"),
        ("lost deliveries", "deliveries_lost", "lower"),
        ("disconnects", "disconnects", "lower"),
    ],
    "fanout10k": [
        ("latency p50, ms", "latency.p50_ms", "lower"),
        ("latency p99, ms", "latency.p99_ms", "lower"),
        ("deliveries / server CPU-s", "deliveries_per_server_cpu_s", "higher"),
        ("lost deliveries", "deliveries_lost", "lower"),
        ("disconnects", "disconnects", "lower"),
    ],
    "http32": [
        ("publish requests / s", "requests_per_s", "higher"),
        ("requests / server CPU-s", "requests_per_server_cpu_s", "higher"),
        ("latency p99, ms", "latency.p99_ms", "lower"),
        ("errors", "errors", "lower"),
    ],
    "churn": [
        ("connect+subscribe+close / s", "connect_subscribe_per_s", "higher"),
        ("cycles / server CPU-s", "cycles_per_server_cpu_s", "higher"),
        ("connect+subscribe p99, ms", "connect_subscribe_latency.p99_ms", "lower"),
        ("failed", "failed", "lower"),
    ],
    "presence": [
        ("presence joins / s", "joins_per_s", "higher"),
        ("joins / server CPU-s", "joins_per_server_cpu_s", "higher"),
        ("member_added lost", "member_added_lost", "lower"),
    ],
    "soak": [
        ("RSS max after warm-up vs first, %", "after_warmup.rss_max_vs_first_pct", "lower"),
        ("RSS last vs first, %", "after_warmup.rss_last_vs_first_pct", "lower"),
        ("fds last − first", None, "lower"),
        ("lost deliveries", "deliveries_lost", "lower"),
        ("base disconnects", "base_disconnects", "lower"),
    ],
}


def lookup(result, path):
    if path is None:  # computed: descriptor growth over the soak
        warm = result.get("after_warmup") or {}
        if warm.get("fds_last") is None:
            return None
        return warm["fds_last"] - warm["fds_first"]
    value = result
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, (int, float)) else None


def fmt(value):
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:g}"


def main(path):
    runs = [json.loads(line) for line in open(path) if line.strip()]
    servers = []
    for run in runs:
        if run["server"] not in servers:
            servers.append(run["server"])
    peers = [s for s in servers if s != "sockwave"]
    header = ["case", "metric", "better"] + servers + [f"sockwave ÷ {p}" for p in peers]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for case, metrics in METRICS.items():
        case_runs = [r for r in runs if r["case"] == case]
        if not case_runs:
            continue
        for label, key, better in metrics:
            medians = {}
            for server in servers:
                values = [lookup(r["result"], key) for r in case_runs if r["server"] == server]
                values = [v for v in values if v is not None]
                medians[server] = statistics.median(values) if values else None
            row = [case, label, better] + [fmt(medians[s]) for s in servers]
            for peer in peers:
                ours, theirs = medians.get("sockwave"), medians.get(peer)
                ok = ours is not None and theirs not in (None, 0)
                row.append(f"{ours / theirs:.2f}" if ok else "–")
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
