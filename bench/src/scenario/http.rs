//! `http`: K keep-alive clients publishing signed events back to back (each waits for its
//! response before sending the next) to a channel with no subscribers, so the figure is the
//! HTTP API's own cost: parsing, signature and `body_md5` checks, event validation.
//!
//! Reports requests per second, requests per server CPU-second and request latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args as ClapArgs;
use serde_json::{json, Value};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{ratio, secs, server_window, Env};
use crate::client::bench_payload;
use crate::histogram::Histogram;
use crate::publisher::Publisher;

/// Flags of `http`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct Args {
    /// Concurrent keep-alive clients
    #[arg(long, default_value_t = 32)]
    pub(crate) clients: u64,
    /// Seconds to run
    #[arg(long, default_value_t = 10.0)]
    pub(crate) duration: f64,
    /// Upper bound on the number of requests
    #[arg(long, default_value_t = 2_000_000)]
    pub(crate) requests: u64,
    /// Size of each event's data in bytes
    #[arg(long, default_value_t = 100)]
    pub(crate) payload: usize,
    /// Channels published to in turn (`http-bench-0`, …; 1: `http-bench`), e.g. to fill many
    /// channel histories
    #[arg(long, default_value_t = 1)]
    pub(crate) channels: u64,
}

#[derive(Debug, Default)]
struct Counts {
    issued: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    latency: Histogram,
}

/// Runs the scenario.
pub(crate) async fn run(env: &Env, args: &Args) -> anyhow::Result<Value> {
    let counts = Arc::new(Counts::default());
    let before = env.probe.sample();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let mut workers = JoinSet::new();
    for _ in 0..args.clients.max(1) {
        let mut publisher = Publisher::new(env.target.clone());
        let counts = counts.clone();
        let (limit, payload, channels) = (args.requests, args.payload, args.channels.max(1));
        workers.spawn(async move {
            while Instant::now() < deadline && counts.issued.fetch_add(1, Ordering::Relaxed) < limit
            {
                let sequence = counts.issued.load(Ordering::Relaxed);
                let data = bench_payload(sequence, payload);
                let sent = Instant::now();
                let channel = match channels {
                    1 => "http-bench".to_string(),
                    n => format!("http-bench-{}", sequence % n),
                };
                match publisher.publish(&channel, "bench-event", &data).await {
                    Ok(()) => {
                        counts.latency.record(sent.elapsed());
                        counts.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => {
                        counts.errors.fetch_add(1, Ordering::Relaxed);
                        let mut first = counts.first_error.lock().expect("not poisoned");
                        first.get_or_insert(format!("{err:#}"));
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let after = env.probe.sample();
    let ok = counts.ok.load(Ordering::Relaxed);
    let cpu_s = crate::probe::cpu_seconds(before.as_ref(), after.as_ref());
    let first_error = counts.first_error.lock().expect("not poisoned").clone();
    Ok(json!({
        "params": {
            "clients": args.clients,
            "duration_s": args.duration,
            "payload_bytes": args.payload,
            "channels": args.channels,
        },
        "requests_ok": ok,
        "errors": counts.errors.load(Ordering::Relaxed),
        "first_error": first_error,
        "elapsed_s": secs(elapsed),
        "requests_per_s": ratio(ok as f64, Some(elapsed.as_secs_f64())),
        "requests_per_server_cpu_s": ratio(ok as f64, cpu_s),
        "latency": counts.latency.summary(),
        "server": server_window(before.as_ref(), after.as_ref()),
    }))
}
