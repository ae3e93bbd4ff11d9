//! The `Cluster` handle: this node's id, the shared `ClusterView` and the transport. The
//! actor that applies other nodes' messages is `peers`, above the context.
//!
//! Lock rule: the view mutex is taken before any registry lock and never the other way
//! round; everything done under it is synchronous (map updates, frames queued, never
//! written: `lock` bans socket writes while the guard lives).

use sockwave_protocol::AppId;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::transport::{Echo, TransportEvent, TransportHandle};

/// A random id for this node's run.
fn new_node_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}
use super::view::{ClusterView, Transition};
use super::wire::{encode, Change, NodeMessage};
use crate::config::{ClusterSettings, Driver};
use crate::outbox::{ban_writes, WriteBan};

/// The locked cluster view. While it lives, this thread may not write to a socket.
pub struct ViewGuard<'a> {
    guard: MutexGuard<'a, ClusterView>,
    _ban: WriteBan,
}

impl std::ops::Deref for ViewGuard<'_> {
    type Target = ClusterView;

    fn deref(&self) -> &ClusterView {
        &self.guard
    }
}

impl std::ops::DerefMut for ViewGuard<'_> {
    fn deref_mut(&mut self) -> &mut ClusterView {
        &mut self.guard
    }
}

/// This node's membership in the cluster.
pub struct Cluster {
    node_id: String,
    engine_up: AtomicBool,
    view: Mutex<ClusterView>,
    transport: Option<TransportHandle>,
    settings: ClusterSettings,
    counts: MessageCounters,
}

/// Node-to-node message counts since start, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MessageCounts {
    /// Messages handed to the transport.
    pub(crate) sent: u64,
    /// Messages from other nodes that were decoded and applied.
    pub(crate) received: u64,
    /// Payloads that could not be decoded.
    pub(crate) undecodable: u64,
    /// Payloads the transport dropped (queue full or engine down).
    pub(crate) dropped: u64,
}

#[derive(Debug, Default)]
struct MessageCounters {
    sent: AtomicU64,
    received: AtomicU64,
    undecodable: AtomicU64,
}

impl Cluster {
    /// A cluster of one: no transport, the view holds only this node.
    pub fn local() -> Cluster {
        Cluster::with_transport(ClusterSettings::default(), None, new_node_id())
    }

    fn with_transport(
        settings: ClusterSettings,
        transport: Option<TransportHandle>,
        node_id: String,
    ) -> Cluster {
        Cluster {
            // A cluster of one has no engine to lose.
            engine_up: AtomicBool::new(transport.is_none()),
            view: Mutex::new(ClusterView::new(&node_id)),
            node_id,
            transport,
            settings,
            counts: MessageCounters::default(),
        }
    }

    /// Connects to the engine in the background. Returns the handle and, for a real cluster,
    /// the events the actor (`run`) must consume.
    pub(crate) fn start(
        settings: ClusterSettings,
        stop: &CancellationToken,
    ) -> Result<(Cluster, Option<mpsc::Receiver<TransportEvent>>), String> {
        let (events_tx, events_rx) = mpsc::channel(16_384);
        let node_id = new_node_id();
        let echo = Echo::new(&node_id);
        let transport = match &settings.driver {
            Driver::Local => return Ok((Cluster::with_transport(settings, None, node_id), None)),
            Driver::Redis { url } => {
                let source = crate::redis_client::open_for(url, &settings).map_err(|err| {
                    let shown = crate::config::masked_url(url);
                    format!("cannot use redis url '{shown}': {err}")
                })?;
                super::redis::spawn(source, &settings.prefix, echo, events_tx, stop.clone())
            }
            Driver::Nats { servers } => {
                super::nats::spawn(servers, &settings.prefix, echo, events_tx, stop.clone())
            }
        };
        Ok((
            Cluster::with_transport(settings, Some(transport), node_id),
            Some(events_rx),
        ))
    }

    /// This node's id.
    pub(crate) fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Whether the engine is reachable (always true for a cluster of one).
    pub(crate) fn engine_up(&self) -> bool {
        self.engine_up.load(Ordering::Acquire)
    }

    /// Whether this node should report itself ready: false only when configured to depend on
    /// an engine that is down.
    pub(crate) fn ready(&self) -> bool {
        self.engine_up() || !self.settings.ready_requires_engine
    }

    /// The settings this cluster runs with.
    pub(crate) fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// Records whether the engine is reachable (the peers actor follows the transport).
    pub(crate) fn set_engine_up(&self, up: bool) {
        self.engine_up.store(up, Ordering::Release);
    }

    /// Counts a message received from another node.
    pub(crate) fn count_received(&self) {
        self.counts.received.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a payload that could not be decoded.
    pub(crate) fn count_undecodable(&self) {
        self.counts.undecodable.fetch_add(1, Ordering::Relaxed);
    }

    /// Locks the view. Hold it only for synchronous work; take it before any registry lock.
    /// Nothing may write to a socket while it is held (debug builds check): queue frames into
    /// a `Flushes` batch and flush it after dropping the guard.
    pub fn lock(&self) -> ViewGuard<'_> {
        let guard = self
            .view
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        ViewGuard {
            guard,
            _ban: ban_writes(),
        }
    }

    /// A cluster of one (no engine): no other node exists, ever.
    pub(crate) fn alone(&self) -> bool {
        self.transport.is_none()
    }

    /// Builds and sends a message only when other nodes may exist, so hot paths in a cluster
    /// of one do not copy frames into messages nobody receives. Never waits.
    pub(crate) fn send_with(&self, message: impl FnOnce() -> NodeMessage) {
        if self.transport.is_some() {
            self.send(&message());
        }
    }

    /// A `Positioned` message as the history store publishes it: the halves around its
    /// position (see `wire::positioned_parts`).
    pub(crate) fn positioned_parts(&self, message: &NodeMessage) -> (String, String) {
        super::wire::positioned_parts(&self.node_id, message)
    }

    /// Messages waiting for the transport to publish them (0 for a cluster of one): a queue
    /// that grows means this node accepts events faster than the engine takes them.
    pub(crate) fn outgoing_queued(&self) -> usize {
        self.transport.as_ref().map_or(0, TransportHandle::queued)
    }

    /// Sends a message to the other nodes (no-op for a cluster of one). Never waits.
    pub(crate) fn send(&self, message: &NodeMessage) {
        if let Some(transport) = &self.transport {
            self.counts.sent.fetch_add(1, Ordering::Relaxed);
            transport.publish(Bytes::from(encode(&self.node_id, message)));
        }
    }

    /// Applies this node's own changes to the view and sends them to the other nodes, in the
    /// same critical section so every node sees them in the order they were applied.
    pub(crate) fn apply_local(
        &self,
        view: &mut ClusterView,
        app: &AppId,
        changes: Vec<Change>,
        now: Instant,
    ) -> Vec<Transition> {
        if changes.is_empty() {
            return Vec::new();
        }
        let mut transitions = Vec::new();
        for change in &changes {
            transitions.extend(view.apply(&self.node_id, app, change.clone(), now));
        }
        self.send(&NodeMessage::Delta {
            app: app.clone(),
            changes,
        });
        transitions
    }

    /// Payloads the transport dropped (queue full or engine down).
    pub(crate) fn dropped(&self) -> u64 {
        self.transport.as_ref().map_or(0, TransportHandle::dropped)
    }

    /// Message counts since start (for metrics).
    pub(crate) fn message_counts(&self) -> MessageCounts {
        let read = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
        MessageCounts {
            sent: read(&self.counts.sent),
            received: read(&self.counts.received),
            undecodable: read(&self.counts.undecodable),
            dropped: self.dropped(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_banned_exactly_while_the_view_is_locked() {
        let cluster = Cluster::local();
        let view = cluster.lock();
        let banned = std::panic::catch_unwind(crate::outbox::fanout::assert_writes_allowed);
        drop(view);
        assert_eq!(banned.is_err(), cfg!(debug_assertions));
        crate::outbox::fanout::assert_writes_allowed();
    }
}
