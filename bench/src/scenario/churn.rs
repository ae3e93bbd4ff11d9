//! `churn`: W workers, each in a loop of connect → `connection_established` → subscribe →
//! `subscription_succeeded` → close handshake. Reports completed cycles per second (the
//! connect+subscribe rate), the latency of connect+subscribe, and the server's CPU per cycle
//! and descriptors afterwards (a leak shows up as descriptors that stay open).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args as ClapArgs;
use serde_json::{json, Value};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{connect_subscribed, ratio, secs, server_window, Env};
use crate::client::Tally;
use crate::histogram::Histogram;

/// Flags of `churn`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct Args {
    /// Concurrent connect/subscribe/close loops
    #[arg(long, default_value_t = 64)]
    pub(crate) workers: u64,
    /// Seconds to run
    #[arg(long, default_value_t = 10.0)]
    pub(crate) duration: f64,
    /// Upper bound on the number of cycles
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) cycles: u64,
}

#[derive(Debug, Default)]
struct Counts {
    started: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    latency: Histogram,
}

/// Runs the scenario.
pub(crate) async fn run(env: &Env, args: &Args) -> anyhow::Result<Value> {
    let counts = Arc::new(Counts::default());
    let tally = Arc::new(Tally::default());
    let before = env.probe.sample();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let mut workers = JoinSet::new();
    for worker in 0..args.workers.max(1) {
        let target = env.target.clone();
        let counts = counts.clone();
        let tally = tally.clone();
        let limit = args.cycles;
        workers.spawn(async move {
            let channel = format!("churn-{worker}");
            while Instant::now() < deadline
                && counts.started.fetch_add(1, Ordering::Relaxed) < limit
            {
                let cycle_start = Instant::now();
                match connect_subscribed(&target, &channel, &tally).await {
                    Ok(client) => {
                        counts.latency.record(cycle_start.elapsed());
                        client.close().await;
                        counts.completed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => {
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                        let mut first = counts.first_error.lock().expect("not poisoned");
                        first.get_or_insert(format!("{err:#}"));
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let after_run = env.probe.sample();
    let baseline_fds = before.map_or(0, |sample| sample.fds);
    let after = super::wait_for_fds(&env.probe, baseline_fds, Duration::from_secs(10)).await;
    let completed = counts.completed.load(Ordering::Relaxed);
    let cpu_s = crate::probe::cpu_seconds(before.as_ref(), after_run.as_ref());
    let first_error = counts.first_error.lock().expect("not poisoned").clone();
    Ok(json!({
        "params": { "workers": args.workers, "duration_s": args.duration },
        "cycles": completed,
        "failed": counts.failed.load(Ordering::Relaxed),
        "first_error": first_error,
        "elapsed_s": secs(elapsed),
        "connect_subscribe_per_s": ratio(completed as f64, Some(elapsed.as_secs_f64())),
        "cycles_per_server_cpu_s": ratio(completed as f64, cpu_s),
        "connect_subscribe_latency": counts.latency.summary(),
        "server": server_window(before.as_ref(), after.as_ref()),
    }))
}
