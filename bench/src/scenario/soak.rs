//! `soak`: a long mixed run. A base of subscribed clients stays connected while, at fixed
//! rates, other clients connect/subscribe/close (churn), presence members join and leave
//! after a short stay, and signed events are published to the base's channels. The server's
//! RSS and descriptors are sampled at an interval.
//!
//! Reports the samples, the RSS spread and drift after the warm-up (a leak shows as drift),
//! descriptor growth, and the delivery accounting on the base clients (none may be lost).
//! Each paced activity has a concurrency cap; a tick that finds the cap reached is skipped
//! and counted rather than queued, so a slow server cannot make the bench pile up work.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args as ClapArgs;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::{
    connect_presence, connect_subscribed, run_bounded, secs, server_window, Env, Listeners,
};
use crate::client::{bench_payload, Tally};
use crate::publisher::Publisher;

/// Flags of `soak`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct Args {
    /// Seconds to run
    #[arg(long, default_value_t = 600.0)]
    pub(crate) duration: f64,
    /// Seconds at the start whose samples do not count towards drift
    #[arg(long, default_value_t = 60.0)]
    pub(crate) warmup: f64,
    /// Clients that stay subscribed the whole run
    #[arg(long, default_value_t = 2000)]
    pub(crate) base: u64,
    /// Public channels the base clients spread over
    #[arg(long, default_value_t = 20)]
    pub(crate) base_channels: u64,
    /// Connect/subscribe/close cycles per second
    #[arg(long, default_value_t = 100.0)]
    pub(crate) churn_rate: f64,
    /// Presence joins per second (each member leaves after --presence-hold seconds)
    #[arg(long, default_value_t = 20.0)]
    pub(crate) presence_rate: f64,
    /// Seconds a presence member stays
    #[arg(long, default_value_t = 2.0)]
    pub(crate) presence_hold: f64,
    /// Presence channels the joins spread over
    #[arg(long, default_value_t = 10)]
    pub(crate) presence_channels: u64,
    /// Events per second published to the base channels
    #[arg(long, default_value_t = 20.0)]
    pub(crate) publish_rate: f64,
    /// Seconds between samples of the server's RSS and descriptors
    #[arg(long, default_value_t = 5.0)]
    pub(crate) sample_every: f64,
}

/// Cycles in flight at once per activity.
const MAX_IN_FLIGHT: usize = 256;

#[derive(Debug, Default)]
struct Counts {
    churn_ok: AtomicU64,
    churn_failed: AtomicU64,
    presence_ok: AtomicU64,
    presence_failed: AtomicU64,
    skipped_ticks: AtomicU64,
    published: AtomicU64,
    publish_errors: AtomicU64,
    expected_deliveries: AtomicU64,
}

/// Calls `tick(k)` `rate` times per second until `deadline`.
async fn paced(rate: f64, deadline: Instant, mut tick: impl FnMut(u64)) {
    if rate <= 0.0 {
        return;
    }
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut count = 0;
    while Instant::now() < deadline {
        interval.tick().await;
        tick(count);
        count += 1;
    }
}

/// Runs the scenario.
pub(crate) async fn run(env: &Env, args: &Args) -> anyhow::Result<Value> {
    let n_channels = args.base_channels.max(1);
    let base_tally = Arc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let before = env.probe.sample();
    let batch = run_bounded(args.base, MAX_IN_FLIGHT, deadline, |index| {
        let target = env.target.clone();
        let tally = base_tally.clone();
        async move {
            let channel = format!("soak-{}", index % n_channels);
            Ok((
                index % n_channels,
                connect_subscribed(&target, &channel, &tally).await?,
            ))
        }
    })
    .await;
    let mut per_channel = vec![0u64; n_channels as usize];
    let mut base = Listeners::new(base_tally.clone());
    for (channel, client) in batch.ok {
        per_channel[channel as usize] += 1;
        base.spawn(client);
    }
    let counts = Arc::new(Counts::default());
    let mut activities = JoinSet::new();
    let churn_permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let presence_permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let scratch = Arc::new(Tally::default());

    // Churn and presence ticks spawn their cycles into `cycles`, which the ticking task owns;
    // they hand the JoinSet back when the deadline passes.
    let churn = {
        let (target, counts, scratch) = (env.target.clone(), counts.clone(), scratch.clone());
        let permits = churn_permits.clone();
        let rate = args.churn_rate;
        tokio::spawn(async move {
            let mut cycles: JoinSet<()> = JoinSet::new();
            paced(rate, deadline, |k| {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    counts.skipped_ticks.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let (target, counts, scratch) = (target.clone(), counts.clone(), scratch.clone());
                cycles.spawn(async move {
                    let channel = format!("soak-churn-{}", k % 64);
                    match connect_subscribed(&target, &channel, &scratch).await {
                        Ok(client) => {
                            client.close().await;
                            counts.churn_ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            counts.churn_failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    drop(permit);
                });
                while cycles.try_join_next().is_some() {}
            })
            .await;
            cycles
        })
    };
    let presence = {
        let (target, counts, scratch) = (env.target.clone(), counts.clone(), scratch.clone());
        let permits = presence_permits.clone();
        let (rate, hold, n_presence) = (
            args.presence_rate,
            Duration::from_secs_f64(args.presence_hold),
            args.presence_channels.max(1),
        );
        tokio::spawn(async move {
            let mut cycles: JoinSet<()> = JoinSet::new();
            paced(rate, deadline, |k| {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    counts.skipped_ticks.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let (target, counts, scratch) = (target.clone(), counts.clone(), scratch.clone());
                cycles.spawn(async move {
                    let channel = format!("presence-soak-{}", k % n_presence);
                    let user = format!("soak-user-{k}");
                    match connect_presence(&target, &channel, &user, &scratch).await {
                        Ok(client) => {
                            tokio::time::sleep(hold).await;
                            client.close().await;
                            counts.presence_ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            counts.presence_failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    drop(permit);
                });
                while cycles.try_join_next().is_some() {}
            })
            .await;
            cycles
        })
    };
    {
        let (target, counts) = (env.target.clone(), counts.clone());
        let per_channel = per_channel.clone();
        let rate = args.publish_rate;
        activities.spawn(async move {
            let mut publisher = Publisher::new(target);
            let mut interval =
                tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
            interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut sequence = 0u64;
            while rate > 0.0 && Instant::now() < deadline {
                interval.tick().await;
                let channel_index = sequence % n_channels;
                let data = bench_payload(sequence, 100);
                let channel = format!("soak-{channel_index}");
                match publisher.publish(&channel, "bench-event", &data).await {
                    Ok(()) => {
                        counts.published.fetch_add(1, Ordering::Relaxed);
                        counts
                            .expected_deliveries
                            .fetch_add(per_channel[channel_index as usize], Ordering::Relaxed);
                    }
                    Err(_) => {
                        counts.publish_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                sequence += 1;
            }
        });
    }

    // Sample until the deadline.
    let mut samples = Vec::new();
    let mut every = tokio::time::interval(Duration::from_secs_f64(args.sample_every.max(0.1)));
    while Instant::now() < deadline {
        every.tick().await;
        if let Some(sample) = env.probe.sample() {
            samples.push((sample.at.duration_since(started.into_std()), sample));
        }
    }
    let at_end = env.probe.sample();
    while activities.join_next().await.is_some() {}
    for handle in [churn, presence] {
        if let Ok(mut cycles) = handle.await {
            let _ = tokio::time::timeout(Duration::from_secs(30), async {
                while cycles.join_next().await.is_some() {}
            })
            .await;
        }
    }
    let expected = counts.expected_deliveries.load(Ordering::Relaxed);
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while base_tally.deliveries() < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let received = base_tally.deliveries();
    let base_disconnects = base_tally.disconnects.load(Ordering::Relaxed);
    base.stop(Duration::from_secs(30)).await;
    let baseline_fds = before.map_or(0, |sample| sample.fds);
    super::wait_for_fds(&env.probe, baseline_fds, Duration::from_secs(30)).await;
    // As in `idle`: give the server's allocator a moment to return freed memory.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = env.probe.sample();

    let warm: Vec<_> = samples
        .iter()
        .filter(|(at, _)| at.as_secs_f64() >= args.warmup)
        .map(|(_, sample)| *sample)
        .collect();
    let drift = match (warm.first(), warm.last()) {
        (Some(first), Some(last)) => {
            let min = warm.iter().map(|s| s.rss_kb).min().unwrap_or(0);
            let max = warm.iter().map(|s| s.rss_kb).max().unwrap_or(0);
            let pct =
                |value: u64| ((value as f64 / first.rss_kb as f64 - 1.0) * 1000.0).round() / 10.0;
            json!({
                "samples": warm.len(),
                "rss_kb_first": first.rss_kb,
                "rss_kb_min": min,
                "rss_kb_max": max,
                "rss_kb_last": last.rss_kb,
                "rss_max_vs_first_pct": pct(max),
                "rss_last_vs_first_pct": pct(last.rss_kb),
                "fds_first": first.fds,
                "fds_max": warm.iter().map(|s| s.fds).max(),
                "fds_last": last.fds,
            })
        }
        _ => Value::Null,
    };
    let series: Vec<Value> = samples
        .iter()
        .map(|(at, sample)| json!([secs(*at), sample.rss_kb, sample.fds]))
        .collect();
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    Ok(json!({
        "params": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "base": args.base,
            "base_channels": n_channels,
            "churn_rate": args.churn_rate,
            "presence_rate": args.presence_rate,
            "publish_rate": args.publish_rate,
        },
        "base_connected": per_channel.iter().sum::<u64>(),
        "base_failed": batch.failed,
        "base_first_error": batch.first_error,
        "base_disconnects": base_disconnects,
        "churn_cycles": load(&counts.churn_ok),
        "churn_failed": load(&counts.churn_failed),
        "presence_joins": load(&counts.presence_ok),
        "presence_failed": load(&counts.presence_failed),
        "skipped_ticks": load(&counts.skipped_ticks),
        "published": load(&counts.published),
        "publish_errors": load(&counts.publish_errors),
        "deliveries_expected": expected,
        "deliveries_received": received,
        "deliveries_lost": expected.saturating_sub(received),
        "latency": base_tally.latency.summary(),
        "after_warmup": drift,
        "samples_t_rss_fds": series,
        "elapsed_s": secs(started.elapsed()),
        "server": server_window(before.as_ref(), at_end.as_ref()),
        "server_after_disconnect": crate::probe::snapshot(after.as_ref()),
    }))
}
