//! What cluster-level transitions do on this node: frames to this node's sockets
//! (`member_added`, `member_removed`, `subscription_count`, watchlist events) and webhooks,
//! which only the node owning the channel sends, so each fires once per cluster.
//!
//! Called with the cluster view locked (so transitions act in the order they were decided);
//! everything here is synchronous and writes nothing: frames are queued into the `Flushes`
//! batch `apply` returns, which the caller flushes after releasing the lock, and webhooks
//! are enqueued.

use std::sync::Arc;

use tokio::time::Instant;

use crate::adapter::view::{ClusterView, Transition};
use crate::context::Context;
use crate::outbox::{Flushes, Frame, SocketHandle};
use crate::registry::{AppRegistry, CountUpdate, SocketId};
use crate::webhooks::WebhookEvent;
use sockwave_protocol::channel::kind_of;
use sockwave_protocol::messages::{self, WatchlistEvent};
use sockwave_protocol::ChannelKind;

/// Acts on transitions. `joiner` is the local socket whose join caused them, which must not
/// receive its own `member_added`. Returns the sockets to flush once the view is unlocked.
pub(crate) fn apply(
    ctx: &Arc<Context>,
    view: &ClusterView,
    transitions: Vec<Transition>,
    joiner: Option<SocketId>,
) -> Flushes {
    let mut flushes = Flushes::new();
    for transition in transitions {
        let app_id = match &transition {
            Transition::ChannelOccupied { app, .. }
            | Transition::ChannelVacated { app, .. }
            | Transition::CountChanged { app, .. }
            | Transition::MemberAdded { app, .. }
            | Transition::MemberRemoved { app, .. }
            | Transition::UserOnline { app, .. }
            | Transition::UserOffline { app, .. } => app.clone(),
        };
        let Some(app) = ctx.apps.find_by_id(&app_id) else {
            continue;
        };
        let registry = ctx.registry.app(&app_id);
        match transition {
            Transition::ChannelOccupied { channel, .. } => {
                if view.owns(&app_id, &channel) {
                    ctx.webhooks
                        .emit(&app, WebhookEvent::ChannelOccupied { channel });
                }
            }
            Transition::ChannelVacated { channel, .. } => {
                if view.owns(&app_id, &channel) {
                    ctx.webhooks
                        .emit(&app, WebhookEvent::ChannelVacated { channel });
                }
            }
            Transition::CountChanged { channel, total, .. } => {
                if app.enable_subscription_count && kind_of(&channel) != ChannelKind::Presence {
                    announce_count(
                        ctx,
                        &registry,
                        &channel,
                        total,
                        view.owns(&app_id, &channel),
                        &mut flushes,
                    );
                }
            }
            Transition::MemberAdded {
                channel,
                user_id,
                user_info,
                ..
            } => {
                let info = user_info.map(|info| info.to_string());
                let info = info.as_deref().and_then(|text| {
                    serde_json::value::RawValue::from_string(text.to_string()).ok()
                });
                let frame = messages::member_added(&channel, &user_id, info.as_deref());
                registry.broadcast(&channel, &Frame::from(frame), joiner, &mut flushes);
                if view.owns(&app_id, &channel) {
                    ctx.webhooks
                        .emit(&app, WebhookEvent::MemberAdded { channel, user_id });
                }
            }
            Transition::MemberRemoved {
                channel, user_id, ..
            } => {
                let frame = messages::member_removed(&channel, &user_id);
                registry.broadcast(&channel, &Frame::from(frame), None, &mut flushes);
                if view.owns(&app_id, &channel) {
                    ctx.webhooks
                        .emit(&app, WebhookEvent::MemberRemoved { channel, user_id });
                }
            }
            Transition::UserOnline { user_id, .. } => {
                notify_watchers(&registry, &user_id, "online", &mut flushes)
            }
            Transition::UserOffline { user_id, .. } => {
                notify_watchers(&registry, &user_id, "offline", &mut flushes)
            }
        }
    }
    flushes
}

fn notify_watchers(registry: &AppRegistry, user_id: &str, status: &str, flushes: &mut Flushes) {
    let frame = messages::watchlist_events(&[WatchlistEvent {
        name: status,
        user_ids: vec![user_id],
    }]);
    registry
        .users
        .notify_watchers(user_id, &Frame::from(frame), flushes);
}

/// Sends `pusher_internal:subscription_count` now, or once after the throttle (above 100
/// subscribers at most every 5 s), with the cluster-wide total at that moment.
fn announce_count(
    ctx: &Arc<Context>,
    registry: &Arc<AppRegistry>,
    channel: &str,
    total: usize,
    owner: bool,
    flushes: &mut Flushes,
) {
    match registry.note_count_change(channel, total, Instant::now()) {
        CountUpdate::SendNow => send_count(ctx, registry, channel, total, owner, flushes),
        CountUpdate::SendAt(at) => {
            let ctx = ctx.clone();
            let registry = registry.clone();
            let channel = channel.to_string();
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                let mut flushes = Flushes::new();
                let view = ctx.cluster.lock();
                if registry.take_pending_count(&channel, Instant::now()) {
                    let app_id = registry.app_id();
                    let total = view.subscription_count(app_id, &channel);
                    let owner = view.owns(app_id, &channel);
                    send_count(&ctx, &registry, &channel, total, owner, &mut flushes);
                }
                drop(view);
                flushes.flush();
            });
        }
        CountUpdate::Nothing => {}
    }
}

fn send_count(
    ctx: &Context,
    registry: &AppRegistry,
    channel: &str,
    total: usize,
    owner: bool,
    flushes: &mut Flushes,
) {
    let frame = Frame::from(messages::subscription_count(channel, total));
    registry.broadcast(channel, &frame, None, flushes);
    if owner {
        if let Some(app) = ctx.apps.find_by_id(registry.app_id()) {
            ctx.webhooks.emit(
                &app,
                WebhookEvent::SubscriptionCount {
                    channel: channel.to_string(),
                    subscription_count: total,
                },
            );
        }
    }
}

/// Closes this node's sockets of a user (signed in, or presence member) with 4009.
pub(crate) fn terminate_local(registry: &AppRegistry, user_id: &str) -> usize {
    let mut sockets: Vec<SocketHandle> = registry.users.sockets_of(user_id);
    sockets.extend(registry.presence_sockets_of(user_id));
    sockets.sort_by_key(SocketHandle::id);
    sockets.dedup_by_key(|socket| socket.id());
    for socket in &sockets {
        socket.request_close(crate::outbox::CloseRequest::Terminated);
    }
    sockets.len()
}
