//! `fanout`: N subscribers over C public channels, then M signed HTTP publishes at a fixed
//! rate, each payload stamped with its send time. Reports deliveries per second, deliveries
//! per server CPU-second, publish-to-receive latency, and lost deliveries (expected minus
//! received, where expected counts every subscriber of every channel that accepted a publish).
//!
//! The server's CPU is read just before the first publish and as soon as the last expected
//! delivery arrives (or the drain time runs out), so connection setup is not charged to
//! fan-out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args as ClapArgs;
use serde_json::{json, Value};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{connect_subscribed, ratio, run_bounded, secs, server_window, Env, Listeners};
use crate::client::{bench_payload, now_ns, Tally};
use crate::publisher::Publisher;

/// Flags of `fanout`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct Args {
    /// Subscribers
    #[arg(long, default_value_t = 1000)]
    pub(crate) subscribers: u64,
    /// Public channels the subscribers spread over (round-robin)
    #[arg(long, default_value_t = 1)]
    pub(crate) channels: u64,
    /// Events to publish (round-robin over the channels)
    #[arg(long, default_value_t = 2000)]
    pub(crate) events: u64,
    /// Publish rate in events per second over all publishers; 0 publishes as fast as possible
    #[arg(long, default_value_t = 200.0)]
    pub(crate) rate: f64,
    /// Size of each event's data in bytes
    #[arg(long, default_value_t = 100)]
    pub(crate) payload: usize,
    /// Concurrent keep-alive HTTP publishers
    #[arg(long, default_value_t = 4)]
    pub(crate) publishers: u64,
    /// Handshakes in flight at once while subscribing
    #[arg(long, default_value_t = 256)]
    pub(crate) concurrency: usize,
    /// Seconds to wait for outstanding deliveries after the last publish
    #[arg(long, default_value_t = 10.0)]
    pub(crate) drain: f64,
    /// Upper bound on the publish phase, in seconds
    #[arg(long, default_value_t = 120.0)]
    pub(crate) duration: f64,
    /// Open a new HTTP connection for every publish (backends without keep-alive)
    #[arg(long)]
    pub(crate) connection_per_publish: bool,
    /// Events per request: more than 1 publishes through `POST /batch_events` (at most the
    /// app's batch limit, 10 by default)
    #[arg(long, default_value_t = 1)]
    pub(crate) batch: u64,
}

/// Events accepted by the server, and the deliveries they owe.
#[derive(Debug, Default)]
struct Published {
    events: AtomicU64,
    expected_deliveries: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// Runs the scenario.
pub(crate) async fn run(env: &Env, args: &Args) -> anyhow::Result<Value> {
    let n_channels = args.channels.max(1);
    let tally = Arc::new(Tally::default());
    let setup_deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let batch = run_bounded(
        args.subscribers,
        args.concurrency,
        setup_deadline,
        |index| {
            let target = env.target.clone();
            let tally = tally.clone();
            async move {
                let channel = format!("fanout-{}", index % n_channels);
                let client = connect_subscribed(&target, &channel, &tally).await?;
                Ok((index % n_channels, client))
            }
        },
    )
    .await;
    let mut subscribers_per_channel = vec![0u64; n_channels as usize];
    let mut listeners = Listeners::new(tally.clone());
    for (channel, client) in batch.ok {
        subscribers_per_channel[channel as usize] += 1;
        listeners.spawn(client);
    }
    let subscribers_per_channel = Arc::new(subscribers_per_channel);

    let before = env.probe.sample();
    let started = Instant::now();
    let started_ns = now_ns();
    let published = Arc::new(Published::default());
    let publish_deadline = started + Duration::from_secs_f64(args.duration);
    let n_publishers = args.publishers.max(1);
    let mut publishers = JoinSet::new();
    for worker in 0..n_publishers {
        let mut publisher = match args.connection_per_publish {
            true => Publisher::without_keep_alive(env.target.clone()),
            false => Publisher::new(env.target.clone()),
        };
        let published = published.clone();
        let per_channel = subscribers_per_channel.clone();
        let (events, rate, payload) = (args.events, args.rate, args.payload);
        let per_request = args.batch.max(1);
        publishers.spawn(async move {
            // Worker w sends requests w, w+P, w+2P… each at its slot on the shared schedule;
            // request r carries events r·B to r·B+B-1.
            let requests = events.div_ceil(per_request);
            for request in (worker..requests).step_by(n_publishers as usize) {
                let first = request * per_request;
                if rate > 0.0 {
                    let slot = started + Duration::from_secs_f64(first as f64 / rate);
                    tokio::time::sleep_until(slot).await;
                }
                if Instant::now() >= publish_deadline {
                    break;
                }
                let sequences = first..(first + per_request).min(events);
                let items: Vec<(String, String)> = sequences
                    .clone()
                    .map(|sequence| {
                        let channel = format!("fanout-{}", sequence % n_channels);
                        (channel, bench_payload(sequence, payload))
                    })
                    .collect();
                let sent = match per_request {
                    1 => {
                        publisher
                            .publish(&items[0].0, "bench-event", &items[0].1)
                            .await
                    }
                    _ => publisher.publish_batch(&items, "bench-event").await,
                };
                match sent {
                    Ok(()) => {
                        for sequence in sequences {
                            published.events.fetch_add(1, Ordering::Relaxed);
                            published.expected_deliveries.fetch_add(
                                per_channel[(sequence % n_channels) as usize],
                                Ordering::Relaxed,
                            );
                        }
                    }
                    Err(err) => {
                        published.errors.fetch_add(1, Ordering::Relaxed);
                        let mut first = published.first_error.lock().expect("not poisoned");
                        first.get_or_insert(format!("{err:#}"));
                    }
                }
            }
        });
    }
    while publishers.join_next().await.is_some() {}
    let publish_time = started.elapsed();

    // Wait for the deliveries still in flight, polling so the CPU window ends promptly.
    let expected = published.expected_deliveries.load(Ordering::Relaxed);
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain);
    while tally.deliveries() < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let after = env.probe.sample();
    let received = tally.deliveries();
    let last_delivery_ns = tally.last_delivery_ns.load(Ordering::Relaxed);
    let delivery_span = Duration::from_nanos(last_delivery_ns.saturating_sub(started_ns));
    let disconnects = tally.disconnects.load(Ordering::Relaxed);
    listeners.stop(Duration::from_secs(30)).await;

    let cpu_s = crate::probe::cpu_seconds(before.as_ref(), after.as_ref());
    let first_error = published.first_error.lock().expect("not poisoned").clone();
    Ok(json!({
        "params": {
            "subscribers": args.subscribers,
            "channels": n_channels,
            "events": args.events,
            "rate": args.rate,
            "payload_bytes": args.payload,
            "publishers": n_publishers,
            "connection_per_publish": args.connection_per_publish,
            "batch": args.batch.max(1),
        },
        "subscribed": subscribers_per_channel.iter().sum::<u64>(),
        "subscribe_failed": batch.failed,
        "subscribe_first_error": batch.first_error,
        "published": published.events.load(Ordering::Relaxed),
        "publish_errors": published.errors.load(Ordering::Relaxed),
        "publish_first_error": first_error,
        "publish_s": secs(publish_time),
        "publish_per_s": (published.events.load(Ordering::Relaxed) as f64
            / publish_time.as_secs_f64()).round(),
        "deliveries_expected": expected,
        "deliveries_received": received,
        "deliveries_lost": expected.saturating_sub(received),
        "deliveries_extra": received.saturating_sub(expected),
        "deliveries_per_s": ratio(received as f64, Some(delivery_span.as_secs_f64())),
        "deliveries_per_server_cpu_s": ratio(received as f64, cpu_s),
        "latency": tally.latency.summary(),
        "disconnects": disconnects,
        "server": server_window(before.as_ref(), after.as_ref()),
    }))
}
