//! A crowd larger than one process can hold: `listen` runs in several processes (one file
//! limit each), every one connecting its subscribers to one node of a cluster; `publish` sends
//! the events from yet another process. `bench/crowd.sh` starts the nodes and the processes,
//! and merges what they report.
//!
//! `listen` connects and subscribes its clients, records its connect ramp, writes
//! `--ready-file` once all are subscribed, then listens until `--stop-file` appears (or
//! `--max-seconds` pass), and reports deliveries, the latency histogram's buckets (merged
//! exactly across processes) and disconnects. `publish` stamps each event with the machine's
//! clock, which the listeners read alike.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args as ClapArgs;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{connect_subscribed, run_bounded, secs, Env, Listeners};
use crate::client::{bench_payload, Tally};
use crate::publisher::Publisher;

/// Flags of `listen`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct ListenArgs {
    /// Subscribers this process opens
    #[arg(long, default_value_t = 1000)]
    pub(crate) subscribers: u64,
    /// The public channel they subscribe to
    #[arg(long, default_value = "crowd")]
    pub(crate) channel: String,
    /// Handshakes in flight at once
    #[arg(long, default_value_t = 256)]
    pub(crate) concurrency: usize,
    /// Written (with the connect figures) once every subscriber is subscribed
    #[arg(long)]
    pub(crate) ready_file: Option<PathBuf>,
    /// Listening ends when this file exists
    #[arg(long)]
    pub(crate) stop_file: Option<PathBuf>,
    /// Upper bound on the whole run, in seconds
    #[arg(long, default_value_t = 600.0)]
    pub(crate) max_seconds: f64,
}

/// Flags of `publish`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct PublishArgs {
    /// The channel to publish on
    #[arg(long, default_value = "crowd")]
    pub(crate) channel: String,
    /// Events to publish
    #[arg(long, default_value_t = 30)]
    pub(crate) events: u64,
    /// Seconds between events
    #[arg(long, default_value_t = 2.0)]
    pub(crate) interval: f64,
    /// Size of each event's data in bytes
    #[arg(long, default_value_t = 100)]
    pub(crate) payload: usize,
}

/// Runs `listen`.
pub(crate) async fn listen(env: &Env, args: &ListenArgs) -> anyhow::Result<Value> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.max_seconds);
    let tally = Arc::new(Tally::default());
    // The ramp: subscribed clients at each whole second, sampled while they connect.
    let ramp = Arc::new(Mutex::new(Vec::<u64>::new()));
    let subscribed = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn({
        let (ramp, subscribed) = (ramp.clone(), subscribed.clone());
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now = subscribed.load(Ordering::Relaxed);
                ramp.lock().expect("not poisoned").push(now);
            }
        }
    });
    let batch = run_bounded(args.subscribers, args.concurrency, deadline, |_| {
        let (target, tally, channel) = (env.target.clone(), tally.clone(), args.channel.clone());
        let subscribed = subscribed.clone();
        async move {
            let client = connect_subscribed(&target, &channel, &tally).await?;
            subscribed.fetch_add(1, Ordering::Relaxed);
            Ok(client)
        }
    })
    .await;
    sampler.abort();
    let connect_time = started.elapsed();
    let connected = batch.ok.len() as u64;
    let mut listeners = Listeners::new(tally.clone());
    for client in batch.ok {
        listeners.spawn(client);
    }
    let connect = json!({
        "subscribed": connected,
        "failed": batch.failed,
        "first_error": batch.first_error,
        "seconds": secs(connect_time),
        "per_s": (connected as f64 / connect_time.as_secs_f64()).round(),
        "ramp_per_second": *ramp.lock().expect("not poisoned"),
    });
    if let Some(ready) = &args.ready_file {
        std::fs::write(ready, connect.to_string())
            .with_context(|| format!("writing {}", ready.display()))?;
    }
    while tokio::time::Instant::now() < deadline
        && !args.stop_file.as_ref().is_some_and(|stop| stop.exists())
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let disconnects = tally.disconnects.load(Ordering::Relaxed);
    let line = json!({
        "params": { "subscribers": args.subscribers, "channel": args.channel },
        "connect": connect,
        "deliveries_received": tally.deliveries(),
        "latency": tally.latency.summary(),
        "latency_buckets_us": tally.latency.buckets(),
        "disconnects": disconnects,
        "server_rss_kb": env.probe.sample().map(|sample| sample.rss_kb),
    });
    listeners.stop(Duration::from_secs(60)).await;
    Ok(line)
}

/// Runs `publish`.
pub(crate) async fn publish(env: &Env, args: &PublishArgs) -> anyhow::Result<Value> {
    let mut publisher = Publisher::new(env.target.clone());
    let started = Instant::now();
    let (mut published, mut errors, mut refused) = (0u64, 0u64, 0u64);
    let mut first_error = None::<String>;
    for sequence in 0..args.events {
        let slot = started + Duration::from_secs_f64(sequence as f64 * args.interval);
        tokio::time::sleep_until(slot).await;
        // A 429 (backpressure) is retried after a second, up to three times, as a queued
        // broadcast job is; the event is stamped when it is finally sent.
        for attempt in 0..4 {
            let data = bench_payload(sequence, args.payload);
            match publisher.publish(&args.channel, "bench-event", &data).await {
                Ok(()) => published += 1,
                Err(err) if attempt < 3 && format!("{err:#}").contains("HTTP 429") => {
                    refused += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(err) => {
                    errors += 1;
                    first_error.get_or_insert(format!("{err:#}"));
                }
            }
            break;
        }
    }
    Ok(json!({
        "params": { "channel": args.channel, "events": args.events, "interval_s": args.interval, "payload_bytes": args.payload },
        "published": published,
        "refused_429_then_retried": refused,
        "publish_errors": errors,
        "publish_first_error": first_error,
        "seconds": secs(started.elapsed()),
    }))
}
