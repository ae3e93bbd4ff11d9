//! Redis pub/sub transport: one subscription connection and one multiplexed connection for
//! `PUBLISH`, both on the channel `{prefix}#sockwave`.

use crate::redis_client::Source;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Duration};
use tokio_util::sync::CancellationToken;

use super::transport::{
    discard_queued, next_backoff, Echo, TransportEvent, TransportHandle, MIN_BACKOFF,
};

/// How long one round trip of `PUBLISH`es may take before the connection counts as lost.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(3);
/// Queued payloads sent in one pipelined round trip at most: one `PUBLISH` per round trip
/// capped a node at a few thousand messages a second, and a publish flood queued up here,
/// seconds deep, before any other node saw it.
const PUBLISH_BATCH: usize = 256;

/// Starts the Redis transport task.
pub(crate) fn spawn(
    source: Source,
    prefix: &str,
    echo: Echo,
    events: mpsc::Sender<TransportEvent>,
    stop: CancellationToken,
) -> TransportHandle {
    let channel = channel_name(prefix);
    let (handle, outgoing) = TransportHandle::channel();
    tokio::spawn(run(
        source,
        channel,
        outgoing,
        events,
        echo,
        stop,
        handle.clone(),
    ));
    handle
}

/// The pub/sub channel of the nodes sharing `prefix` (the history store publishes there too).
pub(crate) fn channel_name(prefix: &str) -> String {
    format!("{prefix}#sockwave")
}

async fn run(
    source: Source,
    channel: String,
    mut outgoing: mpsc::Receiver<Bytes>,
    events: mpsc::Sender<TransportEvent>,
    echo: Echo,
    stop: CancellationToken,
    handle: TransportHandle,
) {
    let mut backoff = MIN_BACKOFF;
    let mut reported_down = false;
    loop {
        let connected = tokio::select! {
            _ = stop.cancelled() => return,
            connected = connect(&source, &channel) => connected,
        };
        let (mut pubsub, mut publisher, server) = match connected {
            Ok(pair) => pair,
            Err(err) => {
                if !reported_down {
                    let _ = events
                        .send(TransportEvent::Down(format!("redis: {err}")))
                        .await;
                    reported_down = true;
                }
                handle.count_dropped(discard_queued(&mut outgoing));
                tokio::select! {
                    _ = stop.cancelled() => return,
                    () = sleep(backoff) => {}
                }
                backoff = next_backoff(backoff);
                continue;
            }
        };
        backoff = MIN_BACKOFF;
        if events.send(TransportEvent::Up).await.is_err() {
            return;
        }
        let reason = {
            let mut messages = pubsub.on_message();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => {
                        // Flush what is queued (e.g. the goodbye) before leaving.
                        let queued: Vec<Bytes> = std::iter::from_fn(|| outgoing.try_recv().ok()).collect();
                        for batch in queued.chunks(PUBLISH_BATCH) {
                            let _ = timeout(PUBLISH_TIMEOUT, publish_all(&mut publisher, &channel, batch)).await;
                        }
                        return;
                    }
                    message = messages.next() => match message {
                        Some(message) => {
                            if echo.is_own(message.get_payload_bytes()) {
                                continue;
                            }
                            let payload = Bytes::copy_from_slice(message.get_payload_bytes());
                            if events.send(TransportEvent::Message(payload)).await.is_err() {
                                return;
                            }
                        }
                        None => break "subscription connection closed".to_string(),
                    },
                    Some(payload) = outgoing.recv() => {
                        // Whatever queued behind it goes in the same round trip.
                        let mut batch = vec![payload];
                        while batch.len() < PUBLISH_BATCH {
                            match outgoing.try_recv() {
                                Ok(payload) => batch.push(payload),
                                Err(_) => break,
                            }
                        }
                        match timeout(PUBLISH_TIMEOUT, publish_all(&mut publisher, &channel, &batch)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(err)) => break format!("publish failed: {err}"),
                            Err(_) => break "publish timed out".to_string(),
                        }
                    }
                }
            }
        };
        let _ = events
            .send(TransportEvent::Down(format!("redis {server}: {reason}")))
            .await;
        reported_down = true;
    }
}

/// Subscribes and opens the publishing connection, on the server the source names now (with
/// Sentinel, the current master: a failover is followed on the next reconnect; with a Redis
/// Cluster, the next node). Errors name the server.
async fn connect(
    source: &Source,
    channel: &str,
) -> Result<
    (
        redis::aio::PubSub,
        redis::aio::MultiplexedConnection,
        String,
    ),
    String,
> {
    let client = source.client().await.map_err(|err| err.to_string())?;
    let server = client.get_connection_info().addr().to_string();
    let opened = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        let publisher = client.get_multiplexed_async_connection().await?;
        Ok::<_, redis::RedisError>((pubsub, publisher))
    };
    let (pubsub, publisher) = opened.await.map_err(|err| format!("{server}: {err}"))?;
    tracing::info!(server, "redis: subscribed");
    Ok((pubsub, publisher, server))
}

/// `PUBLISH`es `payloads` in order, pipelined in one round trip.
async fn publish_all(
    connection: &mut redis::aio::MultiplexedConnection,
    channel: &str,
    payloads: &[Bytes],
) -> Result<(), redis::RedisError> {
    let mut pipe = redis::pipe();
    for payload in payloads {
        pipe.cmd("PUBLISH")
            .arg(channel)
            .arg(payload.as_ref())
            .ignore();
    }
    pipe.query_async::<()>(connection).await
}
