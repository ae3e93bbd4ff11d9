//! `unheard`: the hostile-traffic case of publishes nobody hears. Anonymous sockets hold
//! C public channels (1,000 per socket, the server's per-socket limit); then a backend
//! publishes, back to back, events to T channels that have no subscribers, while a prober
//! sends `GET /up` every 10 ms. Laravel does this all day for users who are offline.
//!
//! Reports the publish latency and the worst `/up` latency during the publishes: both must
//! stay in milliseconds whatever C is (a server that searches every channel for a similar
//! name on such a publish takes seconds at C = 60,000).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args as ClapArgs;
use http_body_util::{BodyExt, Empty};
use hyper::header::HOST;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{ratio, run_bounded, secs, server_window, Env, Listeners};
use crate::client::{PusherClient, Tally};
use crate::histogram::Histogram;
use crate::publisher::Publisher;
use crate::target::Target;

/// Channels one socket may hold (the server's limit).
const PER_SOCKET: u64 = 1000;
/// Subscribes a socket sends at once, then per second: under the server's default message
/// budget (a burst of 500, then 100 per second), so no holder is cut off.
const SUBSCRIBE_BURST: u64 = 450;
const SUBSCRIBES_PER_SECOND: f64 = 90.0;

/// Flags of `unheard`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct Args {
    /// Channels held by anonymous sockets
    #[arg(long, default_value_t = 60_000)]
    pub(crate) channels: u64,
    /// Channels per publish, none of them subscribed
    #[arg(long, default_value_t = 100)]
    pub(crate) targets: u64,
    /// Publishes
    #[arg(long, default_value_t = 50)]
    pub(crate) publishes: u64,
    /// Sockets filling channels at once
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    /// Upper bound on the whole run, in seconds
    #[arg(long, default_value_t = 120.0)]
    pub(crate) duration: f64,
}

/// Runs the scenario.
pub(crate) async fn run(env: &Env, args: &Args) -> anyhow::Result<Value> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let tally = Arc::new(Tally::default());
    let n_sockets = args.channels.div_ceil(PER_SOCKET);
    let holders = run_bounded(n_sockets, args.concurrency, deadline, |socket_index| {
        let target = env.target.clone();
        let tally = tally.clone();
        let per_socket = PER_SOCKET.min(args.channels - socket_index * PER_SOCKET);
        async move {
            let mut client = PusherClient::connect(&target).await?;
            let paced_from = Instant::now();
            for n in 0..per_socket {
                if n >= SUBSCRIBE_BURST {
                    let due = (n - SUBSCRIBE_BURST) as f64 / SUBSCRIBES_PER_SECOND;
                    tokio::time::sleep_until(paced_from + Duration::from_secs_f64(due)).await;
                }
                let channel = format!("unheard-held-{socket_index}-{n}");
                client.subscribe(&channel, None, None, &tally).await?;
            }
            Ok(client)
        }
    })
    .await;
    if let Some(err) = &holders.first_error {
        anyhow::bail!(
            "holding channels failed ({} sockets): {err}",
            holders.failed
        );
    }
    let fill_s = secs(started.elapsed());
    let mut listeners = Listeners::new(tally.clone());
    for client in holders.ok {
        listeners.spawn(client);
    }

    let before = env.probe.sample();
    let probing = Arc::new(AtomicBool::new(true));
    let prober = tokio::spawn(probe_up(env.target.clone(), probing.clone()));
    let channels: Vec<String> = (0..args.targets)
        .map(|n| format!("unheard-empty-{n}"))
        .collect();
    let latency = Histogram::default();
    let mut publisher = Publisher::new(env.target.clone());
    let publish_started = Instant::now();
    for _ in 0..args.publishes {
        if Instant::now() >= deadline {
            break;
        }
        let sent = Instant::now();
        publisher
            .publish_to_many(&channels, "stats.updated", "{}")
            .await?;
        latency.record(sent.elapsed());
    }
    let publish_elapsed = publish_started.elapsed();
    probing.store(false, Ordering::Relaxed);
    let (up_latency, up_failures) = prober.await.context("the /up prober")?;
    let after = env.probe.sample();
    let cpu_s = crate::probe::cpu_seconds(before.as_ref(), after.as_ref());
    listeners.stop(Duration::from_secs(5)).await;
    Ok(json!({
        "params": {
            "channels": args.channels,
            "targets": args.targets,
            "publishes": args.publishes,
        },
        "sockets": n_sockets,
        "fill_s": fill_s,
        "publishes_done": latency.count(),
        "publish_latency": latency.summary(),
        "publishes_per_server_cpu_s": ratio(latency.count() as f64, cpu_s),
        "publish_elapsed_s": secs(publish_elapsed),
        "up_latency": up_latency.summary(),
        "up_failures": up_failures,
        "server": server_window(before.as_ref(), after.as_ref()),
    }))
}

/// `GET /up` every 10 ms on a fresh connection until `probing` turns false; the latencies
/// and how many requests failed.
async fn probe_up(target: Arc<Target>, probing: Arc<AtomicBool>) -> (Histogram, u64) {
    let latency = Histogram::default();
    let mut failures = 0;
    while probing.load(Ordering::Relaxed) {
        let sent = Instant::now();
        match get_up(&target).await {
            Ok(()) => latency.record(sent.elapsed()),
            Err(_) => failures += 1,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (latency, failures)
}

async fn get_up(target: &Target) -> anyhow::Result<()> {
    let stream = target.connect_tcp(target.http_addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::get(format!("{}/up", target.http_prefix))
        .header(HOST, &target.http_host)
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    anyhow::ensure!(status.is_success(), "GET /up answered {status}");
    Ok(())
}
