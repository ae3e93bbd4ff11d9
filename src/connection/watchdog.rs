//! One server-wide timer for every socket's liveness, instead of timers in each task.
//!
//! Two timers per socket task were a tenth of an idle socket's memory. Once per tick this
//! task walks the node's sockets and compares a few atomics with the clock: it pings a socket
//! quiet for `activity_timeout`, closes one that has not answered within `pong_timeout`
//! (4201), one whose queued bytes have waited that long (a client that stopped reading,
//! 4100), and, for apps with authorized connections, one that did not authorize in time
//! (4009). At 20,000 sockets a tick costs well under a millisecond. It also shrinks the
//! registry's maps after a crowd left and frees the queue slots of sockets with nothing
//! queued, so their memory comes back.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::outbox::clock;
use crate::outbox::{CloseRequest, Enqueued, Frame, SocketHandle};
use sockwave_protocol::messages;

/// Runs until `stop`.
pub(crate) async fn run(ctx: Arc<Context>, stop: CancellationToken) {
    let mut every = tokio::time::interval(tick(&ctx));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ping = Frame::from(messages::ping());
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => check_all(&ctx, &ping),
        }
    }
}

/// A quarter of the shortest timeout, between 50 ms and 1 s: the timeouts fire at most a
/// quarter late.
fn tick(ctx: &Context) -> Duration {
    let shortest = ctx.config.activity_timeout.min(ctx.config.pong_timeout);
    (shortest / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

fn check_all(ctx: &Context, ping: &Frame) {
    let now = clock::now_ms();
    let limits = Limits {
        activity: millis(ctx.config.activity_timeout),
        pong: millis(ctx.config.pong_timeout),
    };
    for registry in ctx.registry.apps() {
        let authorize_within = ctx
            .apps
            .find_by_id(registry.app_id())
            .and_then(|app| app.authorized_connections_timeout)
            .map(millis);
        // Pings are only queued during the walk, which holds a shard lock; they are written
        // after it, like a broadcast.
        let mut to_flush = Vec::new();
        registry.for_each_socket(|socket| {
            if check(socket, now, &limits, authorize_within, ping) {
                to_flush.push(socket.clone());
            }
        });
        crate::outbox::fanout::flush(to_flush, None);
        registry.shrink_if_sparse();
    }
}

struct Limits {
    activity: u64,
    pong: u64,
}

/// Checks one socket; `true` when a ping was queued into its empty queue and must be
/// flushed.
fn check(
    socket: &SocketHandle,
    now: u64,
    limits: &Limits,
    authorize_within: Option<u64>,
    ping: &Frame,
) -> bool {
    let mut flush = false;
    let stalled_since = socket.tidy();
    let since = |at: u64| now.saturating_sub(at);
    if stalled_since.is_some_and(|at| since(at) >= limits.pong) {
        // A client that takes no bytes for as long as we wait for a pong is as dead as one
        // that does not answer a ping.
        socket.request_close(CloseRequest::Stalled);
    } else if let Some(at) = socket.ping_sent() {
        if since(at) >= limits.pong {
            socket.request_close(CloseRequest::PongTimeout);
        }
    } else if since(socket.last_seen()) >= limits.activity {
        socket.set_ping_sent(now);
        let enqueued = socket.enqueue(ping);
        if !matches!(enqueued, Enqueued::Refused(_)) {
            socket.count_sent(1, ping.len());
        }
        flush = enqueued == Enqueued::First;
    }
    if authorize_within.is_some_and(|within| since(socket.opened_at()) >= within)
        && !socket.is_authorized()
    {
        socket.request_close(CloseRequest::Unauthorized);
    }
    flush
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
