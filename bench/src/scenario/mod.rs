//! The load scenarios and what they share: running many client jobs with bounded
//! concurrency, keeping subscribed clients listening, and channel-auth signing.
//!
//! Each scenario is a module with an `Args` struct (its command-line flags, also built
//! directly by `smoke`) and a `run` function returning the JSON object of its results. Every
//! scenario is bounded both in count (connections, events, cycles) and in time (a deadline it
//! never passes by more than one client step timeout).

pub(crate) mod churn;
pub(crate) mod crowd;
pub(crate) mod fanout;
pub(crate) mod http;
pub(crate) mod idle;
pub(crate) mod presence;
pub(crate) mod resume;
pub(crate) mod soak;
pub(crate) mod unheard;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{PusherClient, Tally};
use crate::probe::{self, Probe, Sample};
use crate::target::Target;

/// What a scenario receives besides its own flags.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    /// The server and app.
    pub(crate) target: Arc<Target>,
    /// The server process, for RSS, CPU and descriptors.
    pub(crate) probe: Probe,
}

/// The outcome of many jobs run by [`run_bounded`].
#[derive(Debug)]
pub(crate) struct Batch<T> {
    /// Results of the jobs that succeeded.
    pub(crate) ok: Vec<T>,
    /// How many failed or did not start before the deadline.
    pub(crate) failed: u64,
    /// The first failure, to tell the user why.
    pub(crate) first_error: Option<String>,
}

/// Runs `job(0..n)` as tasks, at most `concurrency` at a time; jobs not started by `deadline`
/// are counted as failed. Spawning (rather than polling all jobs in one task) lets both
/// runtime threads do handshakes.
pub(crate) async fn run_bounded<T, F, Fut>(
    n: u64,
    concurrency: usize,
    deadline: Instant,
    job: F,
) -> Batch<T>
where
    T: Send + 'static,
    F: Fn(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut batch = Batch {
        ok: Vec::with_capacity(n as usize),
        failed: 0,
        first_error: None,
    };
    for index in 0..n {
        let Ok(Ok(permit)) =
            tokio::time::timeout_at(deadline, permits.clone().acquire_owned()).await
        else {
            batch.failed += n - index;
            batch
                .first_error
                .get_or_insert("deadline reached".to_string());
            break;
        };
        let future = job(index);
        tasks.spawn(async move {
            let result = future.await;
            drop(permit);
            result
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(value)) => batch.ok.push(value),
            Ok(Err(err)) => {
                batch.failed += 1;
                batch.first_error.get_or_insert(format!("{err:#}"));
            }
            Err(err) => {
                batch.failed += 1;
                batch.first_error.get_or_insert(err.to_string());
            }
        }
    }
    batch
}

/// Connects and subscribes one client to `channel` (public or private: no channel data).
pub(crate) async fn connect_subscribed(
    target: &Target,
    channel: &str,
    tally: &Tally,
) -> anyhow::Result<PusherClient> {
    let mut client = PusherClient::connect(target).await?;
    client.subscribe(channel, None, None, tally).await?;
    Ok(client)
}

/// Connects and joins presence `channel` as `user_id`, signing the auth as an app server does.
pub(crate) async fn connect_presence(
    target: &Target,
    channel: &str,
    user_id: &str,
    tally: &Tally,
) -> anyhow::Result<PusherClient> {
    let mut client = PusherClient::connect(target).await?;
    let channel_data = json!({ "user_id": user_id, "user_info": { "name": "bench" } }).to_string();
    let signed = sockwave_protocol::auth::channel_auth::channel_string_to_sign(
        client.socket_id(),
        channel,
        Some(&channel_data),
    );
    let signature = sockwave_protocol::auth::signature::sign(&target.secret, signed.as_bytes());
    let auth = format!("{}:{signature}", target.key);
    client
        .subscribe(channel, Some(&auth), Some(&channel_data), tally)
        .await?;
    Ok(client)
}

/// Subscribed clients kept open and listening until [`Listeners::stop`].
pub(crate) struct Listeners {
    /// What the clients received.
    pub(crate) tally: Arc<Tally>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl Listeners {
    /// No clients yet.
    pub(crate) fn new(tally: Arc<Tally>) -> Listeners {
        Listeners {
            tally,
            stop: CancellationToken::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Keeps `client` listening in its own task.
    pub(crate) fn spawn(&mut self, client: PusherClient) {
        let tally = self.tally.clone();
        let stop = self.stop.clone();
        self.tasks
            .spawn(async move { client.listen(&tally, stop).await });
    }

    /// How many clients are listening.
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Closes every client (each sends a close frame) and waits for them, at most `limit`.
    pub(crate) async fn stop(mut self, limit: Duration) {
        self.stop.cancel();
        let _ = tokio::time::timeout(limit, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
    }
}

/// Waits until the server holds at most `fds` descriptors (its sockets are gone), at most
/// `limit`; returns the last sample.
pub(crate) async fn wait_for_fds(probe: &Probe, fds: u64, limit: Duration) -> Option<Sample> {
    let deadline = Instant::now() + limit;
    loop {
        let sample = probe.sample()?;
        if sample.fds <= fds || Instant::now() >= deadline {
            return Some(sample);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The server's figures over a window: `{cpu_s, before: {rss_kb, fds}, after: {…}}`.
pub(crate) fn server_window(before: Option<&Sample>, after: Option<&Sample>) -> Value {
    json!({
        "cpu_s": probe::cpu_seconds(before, after),
        "before": probe::snapshot(before),
        "after": probe::snapshot(after),
    })
}

/// `numerator / denominator`, or null when the denominator is missing or zero.
pub(crate) fn ratio(numerator: f64, denominator: Option<f64>) -> Value {
    match denominator {
        Some(d) if d > 0.0 => json!((numerator / d).round()),
        _ => Value::Null,
    }
}

/// Seconds as a JSON number with millisecond precision.
pub(crate) fn secs(duration: Duration) -> Value {
    json!((duration.as_secs_f64() * 1000.0).round() / 1000.0)
}
