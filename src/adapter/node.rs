//! The `Cluster` handle (this node's id, the shared `ClusterView`, the transport) and the
//! actor that applies other nodes' messages, sends heartbeats and drops dead nodes.
//!
//! Lock rule: the view mutex is taken before any registry lock and never the other way
//! round; everything done under it is synchronous (`try_send`, map updates).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::transport::{TransportEvent, TransportHandle};
use super::view::{ClusterView, Transition};
use super::wire::{decode, encode, AppSnapshot, Change, NodeMessage};
use crate::config::{ClusterSettings, Driver};
use crate::context::Context;
use crate::outbox::{ban_writes, Flushes, Frame, WriteBan};
use crate::registry::SocketId;

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
pub struct MessageCounts {
    /// Messages handed to the transport.
    pub sent: u64,
    /// Messages from other nodes that were decoded and applied.
    pub received: u64,
    /// Payloads that could not be decoded.
    pub undecodable: u64,
    /// Payloads the transport dropped (queue full or engine down).
    pub dropped: u64,
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
        Cluster::with_transport(ClusterSettings::default(), None)
    }

    fn with_transport(settings: ClusterSettings, transport: Option<TransportHandle>) -> Cluster {
        let node_id = format!("{:016x}", rand::random::<u64>());
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
    pub fn start(
        settings: ClusterSettings,
        stop: &CancellationToken,
    ) -> Result<(Cluster, Option<mpsc::Receiver<TransportEvent>>), String> {
        let (events_tx, events_rx) = mpsc::channel(16_384);
        let transport = match &settings.driver {
            Driver::Local => return Ok((Cluster::with_transport(settings, None), None)),
            Driver::Redis { url } => {
                super::redis::spawn(url, &settings.prefix, events_tx, stop.clone())
                    .map_err(|err| format!("invalid redis url '{url}': {err}"))?
            }
            Driver::Nats { servers } => {
                super::nats::spawn(servers, &settings.prefix, events_tx, stop.clone())
            }
        };
        Ok((
            Cluster::with_transport(settings, Some(transport)),
            Some(events_rx),
        ))
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Whether other nodes may exist.
    pub fn is_clustered(&self) -> bool {
        self.transport.is_some()
    }

    /// Whether the engine is reachable (always true for a cluster of one).
    pub fn engine_up(&self) -> bool {
        self.engine_up.load(Ordering::Acquire)
    }

    /// Whether this node should report itself ready: false only when configured to depend on
    /// an engine that is down.
    pub fn ready(&self) -> bool {
        self.engine_up() || !self.settings.ready_requires_engine
    }

    /// The settings this cluster runs with.
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
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

    /// Builds and sends a message only when other nodes may exist, so hot paths in a cluster
    /// of one do not copy frames into messages nobody receives. Never waits.
    pub fn send_with(&self, message: impl FnOnce() -> NodeMessage) {
        if self.transport.is_some() {
            self.send(&message());
        }
    }

    /// Sends a message to the other nodes (no-op for a cluster of one). Never waits.
    pub fn send(&self, message: &NodeMessage) {
        if let Some(transport) = &self.transport {
            self.counts.sent.fetch_add(1, Ordering::Relaxed);
            transport.publish(Bytes::from(encode(&self.node_id, message)));
        }
    }

    /// Applies this node's own changes to the view and sends them to the other nodes, in the
    /// same critical section so every node sees them in the order they were applied.
    pub fn apply_local(
        &self,
        view: &mut ClusterView,
        app: &str,
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
            app: app.to_string(),
            changes,
        });
        transitions
    }

    /// Payloads the transport dropped (queue full or engine down).
    pub fn dropped(&self) -> u64 {
        self.transport.as_ref().map_or(0, TransportHandle::dropped)
    }

    /// Message counts since start (for metrics).
    pub fn message_counts(&self) -> MessageCounts {
        let read = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
        MessageCounts {
            sent: read(&self.counts.sent),
            received: read(&self.counts.received),
            undecodable: read(&self.counts.undecodable),
            dropped: self.dropped(),
        }
    }
}

/// The actor: applies other nodes' messages, heartbeats, and expires silent nodes.
pub async fn run(
    ctx: Arc<Context>,
    mut events: mpsc::Receiver<TransportEvent>,
    stop: CancellationToken,
) {
    let settings = ctx.cluster.settings().clone();
    let mut ticker = tokio::time::interval(settings.heartbeat_interval);
    let mut engine_up = false;
    let mut last_tick = Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {
                // A tick later than planned means this node stood still (a long pause, a frozen
                // VM) while the others' heartbeats waited, unread, in its buffers: that time
                // must not count as their silence, or it would declare them all dead.
                let now = Instant::now();
                let late = now
                    .duration_since(last_tick)
                    .saturating_sub(settings.heartbeat_interval);
                if !late.is_zero() {
                    ctx.cluster.lock().forgive(late, now);
                }
                last_tick = now;
                if engine_up {
                    ctx.cluster.send(&NodeMessage::Heartbeat { connections: connections(&ctx) });
                    expire_dead_nodes(&ctx, settings.node_timeout);
                }
            }
            event = events.recv() => match event {
                None => return,
                Some(TransportEvent::Up) => {
                    tracing::info!(node = ctx.cluster.node_id(), "cluster engine connected: resynchronising");
                    engine_up = true;
                    ctx.cluster.engine_up.store(true, Ordering::Release);
                    // Nodes we did not hear from during an outage get a fresh timeout.
                    ctx.cluster.lock().refresh_all(Instant::now());
                    ctx.cluster.send(&NodeMessage::Hello);
                    send_snapshot(&ctx);
                }
                Some(TransportEvent::Down(reason)) => {
                    if engine_up {
                        tracing::warn!(reason = %reason, "cluster engine unreachable: serving local sockets only until it is back");
                    } else {
                        tracing::debug!(reason = %reason, "cluster engine still unreachable");
                    }
                    engine_up = false;
                    ctx.cluster.engine_up.store(false, Ordering::Release);
                }
                Some(TransportEvent::Message(payload)) => handle(&ctx, &payload),
            }
        }
    }
}

/// Announces this node's departure so the others drop its state at once.
pub fn say_goodbye(ctx: &Context) {
    ctx.cluster.send(&NodeMessage::Goodbye);
}

fn connections(ctx: &Context) -> HashMap<String, u64> {
    ctx.registry.connection_counts()
}

/// Sends this node's whole state. It is built and queued under the view lock, like
/// `apply_local`'s deltas: a delta queued between the two would otherwise reach the other
/// nodes before a snapshot that does not contain it, and be undone there.
fn send_snapshot(ctx: &Context) {
    let view = ctx.cluster.lock();
    let mut apps: HashMap<String, AppSnapshot> = view.own_snapshot();
    for (app, count) in connections(ctx) {
        apps.entry(app).or_default().connections = count;
    }
    ctx.cluster.send(&NodeMessage::Snapshot { apps });
}

fn expire_dead_nodes(ctx: &Arc<Context>, timeout: Duration) {
    let mut view = ctx.cluster.lock();
    let mut flushes = Flushes::new();
    let mut expired = Vec::new();
    for node in view.dead_nodes(Instant::now(), timeout) {
        let transitions = view.remove_node(&node);
        flushes.append(crate::effects::apply(ctx, &view, transitions, None));
        expired.push(node);
    }
    drop(view);
    flushes.flush();
    for node in expired {
        tracing::warn!(node = %node, timeout_secs = timeout.as_secs(), "cluster node silent: removed its connections and presence members");
    }
}

/// Applies one payload from another node: decodes it, updates the view and the local
/// sockets. Malformed payloads and our own echoes are ignored. Public for the fuzz target.
pub fn handle(ctx: &Arc<Context>, payload: &[u8]) {
    let envelope = match decode(payload) {
        Ok(envelope) => envelope,
        Err(err) => {
            ctx.cluster
                .counts
                .undecodable
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %err, "ignored a cluster message");
            return;
        }
    };
    if envelope.node == ctx.cluster.node_id() {
        return;
    }
    ctx.cluster.counts.received.fetch_add(1, Ordering::Relaxed);
    let node = envelope.node;
    let now = Instant::now();
    match envelope.message {
        NodeMessage::Heartbeat { connections } => {
            let new = ctx.cluster.lock().heartbeat(&node, connections, now);
            if new {
                // It may have missed our snapshot (it started before we did, or we were cut
                // off), and we may have dropped its state (it was silent past node_timeout
                // without noticing): send ours, and ask for everyone's, its own included.
                send_snapshot(ctx);
                ctx.cluster.send(&NodeMessage::Hello);
            }
        }
        NodeMessage::Hello => send_snapshot(ctx),
        NodeMessage::Snapshot { apps } => {
            let mut view = ctx.cluster.lock();
            let transitions = view.apply_snapshot(&node, apps, now);
            let flushes = crate::effects::apply(ctx, &view, transitions, None);
            drop(view);
            flushes.flush();
        }
        NodeMessage::Goodbye => {
            let mut view = ctx.cluster.lock();
            let transitions = view.remove_node(&node);
            let flushes = crate::effects::apply(ctx, &view, transitions, None);
            drop(view);
            flushes.flush();
        }
        NodeMessage::Delta { app, changes } => {
            let mut view = ctx.cluster.lock();
            let mut transitions = Vec::new();
            for change in changes {
                transitions.extend(view.apply(&node, &app, change, now));
            }
            let flushes = crate::effects::apply(ctx, &view, transitions, None);
            drop(view);
            flushes.flush();
        }
        NodeMessage::Broadcast {
            app,
            channel,
            frame,
            except,
            cache,
        } => {
            let registry = ctx.registry.app(&app);
            if let Some(cache) = cache {
                let ttl = Duration::from_secs(cache.ttl_secs);
                registry
                    .cache
                    .put(&channel, &cache.event, &cache.data, ttl, now);
            }
            let except = except.and_then(|id| id.parse::<SocketId>().ok());
            let mut flushes = Flushes::new();
            registry.broadcast(&channel, &Frame::from(frame), except, &mut flushes);
            flushes.flush();
        }
        NodeMessage::ToUser {
            app,
            user_id,
            frame,
        } => {
            let mut flushes = Flushes::new();
            ctx.registry
                .app(&app)
                .users
                .send_to_user(&user_id, &Frame::from(frame), &mut flushes);
            flushes.flush();
        }
        NodeMessage::Terminate { app, user_id } => {
            crate::effects::terminate_local(&ctx.registry.app(&app), &user_id);
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
