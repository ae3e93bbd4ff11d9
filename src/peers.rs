//! This node's side of the conversation with the other nodes: the actor that applies their
//! messages (deltas, snapshots, heartbeats, goodbyes, broadcasts, messages to users,
//! terminations) to the cluster view and to this node's sockets, sends heartbeats and
//! snapshots, and removes nodes that fell silent.
//!
//! It sits above `Context` (it acts on the registry and through `effects`); the `adapter`
//! below it only carries bytes and keeps the view.

use sockwave_protocol::AppId;
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use crate::adapter::transport::TransportEvent;
use crate::adapter::wire::{decode, AppSnapshot, NodeMessage};
use crate::context::Context;
use crate::outbox::{Flushes, Frame};
use sockwave_protocol::SocketId;

/// The actor: applies other nodes' messages, heartbeats, and expires silent nodes.
pub(crate) async fn run(
    ctx: Arc<Context>,
    mut events: mpsc::Receiver<TransportEvent>,
    stop: CancellationToken,
) {
    let settings = ctx.cluster.settings().clone();
    let mut ticker = tokio::time::interval(settings.heartbeat_interval);
    let mut engine_up = false;
    let mut said_down = false;
    let mut last_tick = Instant::now();
    // A node behind because of its own publishes' fan-outs says so between messages too.
    let mut pressure_check = tokio::time::interval(Duration::from_millis(100));
    pressure_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = pressure_check.tick(), if ctx.pressure.enabled() => {
                if engine_up && ctx.pressure.should_announce(Instant::now()) {
                    announce_pressure(&ctx);
                }
            }
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
                    if said_down {
                        // History frames published during the outage never reached this node.
                        tokio::spawn(check_history(ctx.clone()));
                    }
                    engine_up = true;
                    said_down = false;
                    ctx.cluster.set_engine_up(true);
                    // Nodes we did not hear from during an outage get a fresh timeout.
                    ctx.cluster.lock().refresh_all(Instant::now());
                    ctx.cluster.send(&NodeMessage::Hello);
                    send_snapshot(&ctx);
                }
                Some(TransportEvent::Down(reason)) => {
                    // Said once per outage, including one that starts at startup (a wrong
                    // URL, password or certificate): a node that never reached its engine
                    // must say why.
                    if engine_up || !said_down {
                        tracing::warn!(reason = %reason, "cluster engine unreachable: serving local sockets only until it is back");
                        said_down = true;
                    } else {
                        tracing::debug!(reason = %reason, "cluster engine still unreachable");
                    }
                    engine_up = false;
                    ctx.cluster.set_engine_up(false);
                }
                Some(TransportEvent::Message(payload)) => {
                    // Messages waiting behind this one: a backlog means this node is behind,
                    // and the others are told at once (backpressure).
                    ctx.pressure.note_backlog(events.len());
                    handle(&ctx, &payload);
                    if ctx.pressure.should_announce(Instant::now()) {
                        announce_pressure(&ctx);
                    }
                }
            }
        }
    }
}

/// Tells the other nodes this node is behind: for how long yet, and how many of their
/// messages a second it has been getting through.
fn announce_pressure(ctx: &Context) {
    let now = Instant::now();
    ctx.cluster.send(&NodeMessage::Pressure {
        for_ms: ctx.pressure.remaining(now).as_millis() as u64,
        rate: ctx.pressure.handling_rate(now),
    });
}

/// After an engine outage: each history channel this node delivered on is compared with the
/// store; where the store is ahead, the frames in between were lost on the way here, and the
/// channel's subscribers are asked to reconnect (4200), so clients with the recovery add-on
/// resume exactly where they stopped.
async fn check_history(ctx: Arc<Context>) {
    for registry in ctx.registry.apps() {
        let Some(app) = ctx.apps.find_by_id(registry.app_id()) else {
            continue;
        };
        for (channel, _) in registry.history_marks() {
            let read = ctx
                .history
                .read(&app, &channel, crate::history::Since::Now, 0)
                .await;
            match read {
                Ok(read) => {
                    if registry.resync_if_behind(&channel, read.latest.stamp()) {
                        tracing::warn!(app_id = %app.id, channel, "missed history frames during the cluster engine outage: subscribers reconnect to resume");
                    }
                }
                Err(err) => {
                    tracing::warn!(app_id = %app.id, channel, error = %err, "could not check a history channel after the engine outage")
                }
            }
        }
    }
}

/// Keeps a cache channel's event that came with a broadcast, so this node replays it too.
fn remember(
    registry: &crate::registry::AppRegistry,
    channel: &str,
    cache: Option<crate::adapter::wire::CacheEntry>,
    now: Instant,
) {
    if let Some(cache) = cache {
        let ttl = Duration::from_secs(cache.ttl_secs);
        registry
            .cache
            .put(channel, &cache.event, &cache.data, ttl, now);
    }
}

/// Announces this node's departure so the others drop its state at once.
pub(crate) fn say_goodbye(ctx: &Context) {
    ctx.cluster.send(&NodeMessage::Goodbye);
}

fn connections(ctx: &Context) -> HashMap<AppId, u64> {
    ctx.registry.connection_counts()
}

/// Sends this node's whole state. It is built and queued under the view lock, like
/// `apply_local`'s deltas: a delta queued between the two would otherwise reach the other
/// nodes before a snapshot that does not contain it, and be undone there.
fn send_snapshot(ctx: &Context) {
    let view = ctx.cluster.lock();
    let mut apps: HashMap<AppId, AppSnapshot> = view.own_snapshot();
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
        ctx.pressure.forget(&node);
        tracing::warn!(node = %node, timeout_secs = timeout.as_secs(), "cluster node silent: removed its connections and presence members");
    }
}

/// Applies one payload from another node: decodes it, updates the view and the local
/// sockets. Malformed payloads and our own echoes are ignored. Public for the fuzz target.
pub fn handle(ctx: &Arc<Context>, payload: &[u8]) {
    let envelope = match decode(payload) {
        Ok(envelope) => envelope,
        Err(err) => {
            ctx.cluster.count_undecodable();
            tracing::warn!(error = %err, "ignored a cluster message");
            return;
        }
    };
    // Positioned frames come back to their publisher too: every node delivers them in the
    // order the history store gave them (see `history`).
    let own = envelope.node == ctx.cluster.node_id();
    if own && !matches!(envelope.message, NodeMessage::Positioned { .. }) {
        return;
    }
    if !own {
        ctx.cluster.count_received();
        if let Some(sent) = envelope.at {
            ctx.pressure
                .note_transit(&envelope.node, sent, crate::adapter::wire::wall_clock_ms());
        }
    }
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
        NodeMessage::Pressure { for_ms, rate } => {
            ctx.pressure
                .note_remote(&node, Duration::from_millis(for_ms), rate, now);
        }
        NodeMessage::Snapshot { apps } => {
            let mut view = ctx.cluster.lock();
            let transitions = view.apply_snapshot(&node, apps, now);
            let flushes = crate::effects::apply(ctx, &view, transitions, None);
            drop(view);
            flushes.flush();
        }
        NodeMessage::Goodbye => {
            ctx.pressure.forget(&node);
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
            remember(&registry, &channel, cache, now);
            let except = except.and_then(|id| id.parse::<SocketId>().ok());
            let mut flushes = Flushes::new();
            registry.broadcast(&channel, &Frame::from(frame), except, &mut flushes);
            ctx.finish_fanout(&app, flushes, now);
        }
        NodeMessage::Positioned {
            app,
            channel,
            except,
            frame,
            cache,
            position,
        } => {
            let Some(stamp) = crate::history::Position::parse(&position).map(|p| p.stamp()) else {
                ctx.cluster.count_undecodable();
                tracing::warn!(
                    position,
                    "ignored a history frame with a malformed position"
                );
                return;
            };
            let registry = ctx.registry.app(&app);
            remember(&registry, &channel, cache, now);
            let frame = Frame::from(sockwave_protocol::messages::with_position(
                &frame, &position,
            ));
            let except = except.and_then(|id| id.parse::<SocketId>().ok());
            let mut flushes = Flushes::new();
            registry.broadcast_positioned(&channel, &frame, Some(stamp), except, &mut flushes);
            ctx.finish_fanout(&app, flushes, now);
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
