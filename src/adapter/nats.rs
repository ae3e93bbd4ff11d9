//! NATS transport: publish and subscribe on the subject `{prefix}.sockwave`. The client
//! library reconnects by itself; its connection events are turned into `Up` / `Down`.

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::transport::{TransportEvent, TransportHandle};

/// Starts the NATS transport task. Connection happens in the background: an unreachable
/// server at startup is reported as `Down` and retried, like any later outage.
pub fn spawn(
    servers: &[String],
    prefix: &str,
    events: mpsc::Sender<TransportEvent>,
    stop: CancellationToken,
) -> TransportHandle {
    let subject = format!("{prefix}.sockwave");
    let (handle, outgoing) = TransportHandle::channel();
    tokio::spawn(run(servers.to_vec(), subject, outgoing, events, stop));
    handle
}

async fn run(
    servers: Vec<String>,
    subject: String,
    mut outgoing: mpsc::Receiver<Bytes>,
    events: mpsc::Sender<TransportEvent>,
    stop: CancellationToken,
) {
    let callback_events = events.clone();
    let options = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .event_callback(move |event| {
            let events = callback_events.clone();
            async move {
                let report = match event {
                    async_nats::Event::Connected => Some(TransportEvent::Up),
                    async_nats::Event::Disconnected => {
                        Some(TransportEvent::Down("nats: disconnected".to_string()))
                    }
                    _ => None,
                };
                if let Some(report) = report {
                    let _ = events.send(report).await;
                }
            }
        });
    let client = match options.connect(servers.as_slice()).await {
        Ok(client) => client,
        Err(err) => {
            let _ = events
                .send(TransportEvent::Down(format!("nats: {err}")))
                .await;
            return;
        }
    };
    let mut subscription = match client.subscribe(subject.clone()).await {
        Ok(subscription) => subscription,
        Err(err) => {
            let _ = events
                .send(TransportEvent::Down(format!(
                    "nats: subscribe failed: {err}"
                )))
                .await;
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => {
                while let Ok(payload) = outgoing.try_recv() {
                    let _ = client.publish(subject.clone(), payload).await;
                }
                let _ = client.flush().await;
                return;
            }
            message = subscription.next() => match message {
                Some(message) => {
                    if events.send(TransportEvent::Message(message.payload)).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = events.send(TransportEvent::Down("nats: subscription ended".to_string())).await;
                    return;
                }
            },
            Some(payload) = outgoing.recv() => {
                // While disconnected the client buffers publishes up to its own limit and then
                // errors; either way the snapshot on reconnect repairs the state.
                let _ = client.publish(subject.clone(), payload).await;
            }
        }
    }
}
