//! `presence`: a join storm. N clients, each a distinct user, join presence channels of at
//! most `--per-channel` members as fast as the concurrency allows, each with a signed auth.
//!
//! Every pair of members of a channel owes exactly one `member_added` (to whichever joined
//! first), so a channel of m members owes m(m-1)/2; the scenario checks that every one
//! arrived. Reports joins per second, server CPU per join and the member_added accounting.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::Args as ClapArgs;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{connect_presence, ratio, run_bounded, secs, server_window, Env, Listeners};
use crate::client::Tally;

/// Flags of `presence`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct Args {
    /// Members (clients) to join
    #[arg(long, default_value_t = 1000)]
    pub(crate) members: u64,
    /// Members per presence channel (servers default to a limit of 100)
    #[arg(long, default_value_t = 100)]
    pub(crate) per_channel: u64,
    /// Joins in flight at once
    #[arg(long, default_value_t = 256)]
    pub(crate) concurrency: usize,
    /// Seconds to wait for member_added frames after the last join
    #[arg(long, default_value_t = 10.0)]
    pub(crate) drain: f64,
    /// Upper bound on the join phase, in seconds
    #[arg(long, default_value_t = 120.0)]
    pub(crate) duration: f64,
}

/// Runs the scenario.
pub(crate) async fn run(env: &Env, args: &Args) -> anyhow::Result<Value> {
    let per_channel = args.per_channel.max(1);
    let tally = Arc::new(Tally::default());
    let before = env.probe.sample();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let batch = run_bounded(args.members, args.concurrency, deadline, |index| {
        let target = env.target.clone();
        let tally = tally.clone();
        async move {
            let channel_index = index / per_channel;
            let channel = format!("presence-bench-{channel_index}");
            let client =
                connect_presence(&target, &channel, &format!("user-{index}"), &tally).await?;
            Ok((channel_index, client))
        }
    })
    .await;
    let join_time = started.elapsed();
    let after_joins = env.probe.sample();
    let mut members = std::collections::BTreeMap::<u64, u64>::new();
    let mut listeners = Listeners::new(tally.clone());
    for (channel_index, client) in batch.ok {
        *members.entry(channel_index).or_default() += 1;
        listeners.spawn(client);
    }
    let expected: u64 = members.values().map(|m| m * m.saturating_sub(1) / 2).sum();
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain);
    while tally.members_added.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let received = tally.members_added.load(Ordering::Relaxed);
    let disconnects = tally.disconnects.load(Ordering::Relaxed);
    let joined: u64 = members.values().sum();
    listeners.stop(Duration::from_secs(30)).await;
    let after = env.probe.sample();
    let cpu_s = crate::probe::cpu_seconds(before.as_ref(), after_joins.as_ref());
    Ok(json!({
        "params": {
            "members": args.members,
            "per_channel": per_channel,
            "concurrency": args.concurrency,
        },
        "joined": joined,
        "failed": batch.failed,
        "first_error": batch.first_error,
        "join_s": secs(join_time),
        "joins_per_s": ratio(joined as f64, Some(join_time.as_secs_f64())),
        "joins_per_server_cpu_s": ratio(joined as f64, cpu_s),
        "member_added_expected": expected,
        "member_added_received": received,
        "member_added_lost": expected.saturating_sub(received),
        "disconnects": disconnects,
        "server": server_window(before.as_ref(), after.as_ref()),
    }))
}
