//! `resume`: the recovery add-on's reconnect, measured. C clients subscribe to a history
//! channel the way the add-on does and keep the position they are given; they disconnect;
//! M events are published; then all reconnect at once and resume from their position.
//!
//! Reports the resume latency (subscribe sent → every missed event and the notice received),
//! the whole reconnect (TCP connect → notice), and checks every client got exactly the M
//! events, in order. The server needs `history_channels` covering `--channel`.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args as ClapArgs;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{run_bounded, secs, server_window, Env};
use crate::client::{bench_payload, PusherClient};
use crate::histogram::Histogram;
use crate::publisher::Publisher;

/// Flags of `resume`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct Args {
    /// Clients that disconnect and resume
    #[arg(long, default_value_t = 200)]
    pub(crate) clients: u64,
    /// Events published while they are away
    #[arg(long, default_value_t = 50)]
    pub(crate) missed: u64,
    /// The history channel
    #[arg(long, default_value = "history-bench")]
    pub(crate) channel: String,
    /// Size of each event's data in bytes
    #[arg(long, default_value_t = 200)]
    pub(crate) payload: usize,
    /// Connections opened or resumed at once
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    /// Seconds each phase may take
    #[arg(long, default_value_t = 60.0)]
    pub(crate) timeout: f64,
}

/// Runs the scenario.
pub(crate) async fn run(env: &Env, args: &Args) -> anyhow::Result<Value> {
    let limit = Duration::from_secs_f64(args.timeout);
    // Phase 1: every client gets a position, then leaves.
    let first = run_bounded(
        args.clients,
        args.concurrency,
        Instant::now() + limit,
        |_| {
            let target = env.target.clone();
            let channel = args.channel.clone();
            async move {
                let mut client = PusherClient::connect(&target).await?;
                let resumed = client.subscribe_resuming(&channel, "").await?;
                client.close().await;
                if resumed.failed || resumed.position.is_empty() {
                    bail!("no position for a first subscribe: is {channel} a history channel?");
                }
                Ok(resumed.position)
            }
        },
    )
    .await;
    if first.failed > 0 {
        bail!(
            "{} clients did not get a position: {}",
            first.failed,
            first.first_error.unwrap_or_default()
        );
    }
    // Phase 2: M events while everybody is away.
    let mut publisher = Publisher::new(env.target.clone());
    for sequence in 0..args.missed {
        let data = bench_payload(sequence, args.payload);
        publisher
            .publish(&args.channel, "bench-event", &data)
            .await
            .context("publishing the missed events")?;
    }
    // Phase 3: all come back at once.
    let before = env.probe.sample();
    let started = Instant::now();
    let positions = std::sync::Arc::new(first.ok);
    let resume_latency = std::sync::Arc::new(Histogram::default());
    let reconnect_latency = std::sync::Arc::new(Histogram::default());
    let missed = args.missed;
    let back = run_bounded(
        args.clients,
        args.concurrency,
        Instant::now() + limit,
        |index| {
            let target = env.target.clone();
            let channel = args.channel.clone();
            let positions = positions.clone();
            let (resume_latency, reconnect_latency) =
                (resume_latency.clone(), reconnect_latency.clone());
            async move {
                let position = positions[index as usize].clone();
                let from: u64 = position.rsplit(':').next().unwrap_or("0").parse()?;
                let connect_start = Instant::now();
                let mut client = PusherClient::connect(&target).await?;
                let subscribe_start = Instant::now();
                let resumed = client.subscribe_resuming(&channel, &position).await?;
                resume_latency.record(subscribe_start.elapsed());
                reconnect_latency.record(connect_start.elapsed());
                client.close().await;
                let want: Vec<u64> = (from + 1..=from + missed).collect();
                if resumed.failed || resumed.replayed != want {
                    bail!(
                        "client {index} resumed from {position} and got {:?} (failed: {})",
                        resumed.replayed,
                        resumed.failed
                    );
                }
                Ok(())
            }
        },
    )
    .await;
    let elapsed = started.elapsed();
    let after = env.probe.sample();
    Ok(json!({
        "params": {
            "clients": args.clients,
            "missed": args.missed,
            "payload_bytes": args.payload,
            "concurrency": args.concurrency,
        },
        "resumed_ok": back.ok.len(),
        "resumes_failed": back.failed,
        "first_error": back.first_error,
        "elapsed_s": secs(elapsed),
        "resume_latency": resume_latency.summary(),
        "reconnect_latency": reconnect_latency.summary(),
        "server": server_window(before.as_ref(), after.as_ref()),
    }))
}
