//! `idle`: N connections, each subscribed to one of C public channels, then silence. Reports
//! the server's memory per idle subscribed connection (RSS delta / connections), whether the
//! memory comes back after they all disconnect, and the connect+subscribe rate on the way up.
//!
//! Between connecting and measuring the bench waits `--settle` seconds, so allocations made
//! while handshaking (and freed right after) do not count as per-connection memory.

use std::sync::Arc;
use std::time::Duration;

use clap::Args as ClapArgs;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{connect_subscribed, run_bounded, server_window, Env, Listeners};
use crate::client::Tally;
use crate::probe::Probe;

/// Flags of `idle`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct Args {
    /// Connections to open
    #[arg(long, default_value_t = 1000)]
    pub(crate) connections: u64,
    /// Public channels they subscribe to (round-robin)
    #[arg(long, default_value_t = 100)]
    pub(crate) channels: u64,
    /// Handshakes in flight at once
    #[arg(long, default_value_t = 256)]
    pub(crate) concurrency: usize,
    /// Seconds to wait after connecting (and after disconnecting) before reading RSS
    #[arg(long, default_value_t = 3.0)]
    pub(crate) settle: f64,
    /// Upper bound on the connect phase, in seconds
    #[arg(long, default_value_t = 120.0)]
    pub(crate) duration: f64,
}

/// Runs the scenario.
pub(crate) async fn run(env: &Env, args: &Args) -> anyhow::Result<Value> {
    let settle = Duration::from_secs_f64(args.settle);
    let before = env.probe.sample();
    let generator_before = Probe::this_process().sample();
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let n_channels = args.channels.max(1);
    let batch = run_bounded(args.connections, args.concurrency, deadline, |index| {
        let target = env.target.clone();
        let tally = tally.clone();
        async move {
            let channel = format!("idle-{}", index % n_channels);
            connect_subscribed(&target, &channel, &tally).await
        }
    })
    .await;
    let connect_time = started.elapsed();
    let connected_ok = batch.ok.len() as u64;
    let mut listeners = Listeners::new(tally.clone());
    for client in batch.ok {
        listeners.spawn(client);
    }
    let after_connect = env.probe.sample();
    tokio::time::sleep(settle).await;
    let connected = env.probe.sample();
    let generator_connected = Probe::this_process().sample();
    let still_open =
        listeners.len() as u64 - tally.disconnects.load(std::sync::atomic::Ordering::Relaxed);

    listeners.stop(Duration::from_secs(30)).await;
    let baseline_fds = before.map_or(0, |sample| sample.fds);
    super::wait_for_fds(&env.probe, baseline_fds, Duration::from_secs(30)).await;
    tokio::time::sleep(settle).await;
    let after = env.probe.sample();

    let per_connection = |low: Option<u64>, high: Option<u64>| match (low, high) {
        (Some(low), Some(high)) if connected_ok > 0 => {
            json!((high.saturating_sub(low) * 1024) / connected_ok)
        }
        _ => Value::Null,
    };
    let rss = |sample: Option<crate::probe::Sample>| sample.map(|s| s.rss_kb);
    let growth_pct = |low: Option<u64>, high: Option<u64>| match (low, high) {
        (Some(low), Some(high)) if low > 0 => {
            json!(((high as f64 / low as f64 - 1.0) * 1000.0).round() / 10.0)
        }
        _ => Value::Null,
    };
    let anon = |sample: Option<crate::probe::Sample>| sample.and_then(|s| s.anon_kb);
    Ok(json!({
        "params": {
            "connections": args.connections,
            "channels": n_channels,
            "concurrency": args.concurrency,
            "settle_s": args.settle,
        },
        "connected": connected_ok,
        "failed": batch.failed,
        "first_error": batch.first_error,
        "open_at_measurement": still_open,
        "connect_s": super::secs(connect_time),
        "connect_subscribe_per_s": (connected_ok as f64 / connect_time.as_secs_f64()).round(),
        "server_rss_kb": {
            "before": rss(before),
            "connected": rss(connected),
            "after_disconnect": rss(after),
        },
        "server_bytes_per_connection": per_connection(rss(before), rss(connected)),
        "server_rss_after_vs_before_pct": growth_pct(rss(before), rss(after)),
        // Without the code pages a fresh process faults in on first use.
        "server_rss_anon_kb": {
            "before": anon(before),
            "connected": anon(connected),
            "after_disconnect": anon(after),
        },
        "server_anon_after_vs_before_pct": growth_pct(anon(before), anon(after)),
        "server_fds": {
            "before": before.map(|s| s.fds),
            "connected": connected.map(|s| s.fds),
            "after_disconnect": after.map(|s| s.fds),
        },
        "server_connect_cpu_s": crate::probe::cpu_seconds(before.as_ref(), after_connect.as_ref()),
        "server": server_window(before.as_ref(), after.as_ref()),
        "generator_bytes_per_connection":
            per_connection(rss(generator_before), rss(generator_connected)),
    }))
}
