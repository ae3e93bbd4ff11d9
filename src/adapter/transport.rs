//! Moving opaque payloads between nodes over an existing engine (Redis pub/sub or NATS),
//! separate from what the payloads mean.
//!
//! A transport runs as one task that owns its connections, reconnects with back-off on its own,
//! and reports `Up` / `Down` / `Message` events. Publishing never waits: payloads go through a
//! bounded queue, and while the engine is down they are dropped and counted — local delivery
//! goes on, and the state is resynchronised with snapshots when the engine is back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Duration;

/// Payloads queued for publishing before new ones are dropped.
pub(crate) const OUTGOING_CAPACITY: usize = 16_384;
/// First reconnect delay; doubles up to `MAX_BACKOFF`.
pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a transport reports to the node.
#[derive(Debug)]
pub(crate) enum TransportEvent {
    /// Connected (first time or after an outage): time to resynchronise.
    Up,
    /// Lost the engine; the reason is for the log.
    Down(String),
    /// A payload published by some node (possibly this one).
    Message(Bytes),
}

/// Recognises this node's own messages coming back from the engine (Redis and NATS deliver a
/// publisher's messages to itself too). All but `positioned` ones, which every node delivers
/// in the store's order, are dropped by the transport before they queue for the actor: a
/// flood this node publishes must not stand between the actor and what the other nodes say
/// (a pressure signal above all), nor be parsed only to be ignored.
#[derive(Debug, Clone)]
pub(crate) struct Echo {
    /// What every message starts with, up to the send time.
    version: Vec<u8>,
    /// What follows the send time in this node's messages.
    sender: Vec<u8>,
}

impl Echo {
    /// For the node `node_id` (as `wire::encode` writes messages: version, send time, node,
    /// type).
    pub(crate) fn new(node_id: &str) -> Echo {
        Echo {
            version: format!(r#"{{"v":{},"at":"#, super::wire::WIRE_VERSION).into_bytes(),
            sender: format!(r#","node":"{node_id}","type":""#).into_bytes(),
        }
    }

    /// Whether `payload` is this node's own message and not a positioned one.
    pub(crate) fn is_own(&self, payload: &[u8]) -> bool {
        let Some(rest) = payload.strip_prefix(self.version.as_slice()) else {
            return false;
        };
        let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
        rest[digits..]
            .strip_prefix(self.sender.as_slice())
            .is_some_and(|rest| !rest.starts_with(b"positioned\""))
    }
}

/// The publishing side of a running transport.
#[derive(Debug, Clone)]
pub(crate) struct TransportHandle {
    outgoing: mpsc::Sender<Bytes>,
    dropped: Arc<AtomicU64>,
}

impl TransportHandle {
    /// A handle plus the receiving end its task drains.
    pub(crate) fn channel() -> (TransportHandle, mpsc::Receiver<Bytes>) {
        let (outgoing, receiver) = mpsc::channel(OUTGOING_CAPACITY);
        (
            TransportHandle {
                outgoing,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            receiver,
        )
    }

    /// Queues a payload for every node; never waits. A full queue drops it and counts it.
    pub(crate) fn publish(&self, payload: Bytes) {
        if self.outgoing.try_send(payload).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Payloads waiting to be published.
    pub(crate) fn queued(&self) -> usize {
        self.outgoing.max_capacity() - self.outgoing.capacity()
    }

    /// Payloads dropped because the queue was full or the engine was down.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Counts payloads discarded by the transport task (engine down).
    pub(crate) fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }
}

/// Discards whatever is queued (the engine is down: stale deltas would be replaced by the
/// snapshot exchanged on reconnect anyway); returns how many.
pub(crate) fn discard_queued(outgoing: &mut mpsc::Receiver<Bytes>) -> u64 {
    let mut n = 0;
    while outgoing.try_recv().is_ok() {
        n += 1;
    }
    n
}

/// The next back-off delay.
pub(crate) fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::super::wire::{encode, NodeMessage};
    use super::*;

    #[test]
    fn own_messages_are_told_apart_but_positioned_ones_pass() {
        let echo = Echo::new("aaaa");
        assert!(echo.is_own(encode("aaaa", &NodeMessage::Hello).as_bytes()));
        let pressure = NodeMessage::Pressure {
            for_ms: 1,
            rate: None,
        };
        assert!(echo.is_own(encode("aaaa", &pressure).as_bytes()));
        assert!(!echo.is_own(encode("bbbb", &NodeMessage::Hello).as_bytes()));
        assert!(!echo.is_own(encode("aaaab", &NodeMessage::Hello).as_bytes()));
        let positioned = NodeMessage::Positioned {
            app: "a".into(),
            channel: "history-x".into(),
            except: None,
            frame: "{}".into(),
            cache: None,
            position: String::new(),
        };
        assert!(!echo.is_own(encode("aaaa", &positioned).as_bytes()));
    }
}
