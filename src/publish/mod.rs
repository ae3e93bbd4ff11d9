//! Publishing an event: each target channel's frame is built once, shared by this node's
//! subscribers (queued, then flushed) and the other nodes (one cluster message); cache
//! channels keep the event; history channels give it a position first (`history`); and a
//! publish nobody hears gets a hint when a near-identical channel has listeners. Used by the
//! HTTP API and the console's event creator.

mod event;

use serde_json::{Map, Value};
use sockwave_protocol::AppId;
use tokio::time::Instant;

use crate::adapter::wire::{CacheEntry, NodeMessage};
use crate::app::App;
use crate::context::Context;
use crate::hints;
use crate::history::{HistoryError, Store};
use crate::outbox::{Flushes, Frame};
use crate::registry::AppRegistry;
use sockwave_protocol::{messages, ChannelKind};

pub use event::{parse_batch, parse_event, Event, EventError, InfoRequest, Target};

/// Queues the event for every subscriber of its channels (and every socket of its users) on
/// this node, and hands it to the other nodes; returns how many local sockets it reached. Each
/// channel's frame is serialised once and shared by its subscribers and the cluster message.
/// Cache channels keep the event for `cache_ttl` on every node. Fails only when a history
/// channel's store (Redis) cannot be written: the event is then not published to that
/// channel (nor to the channels after it), and the caller must say so.
pub async fn publish(
    ctx: &Context,
    app: &App,
    registry: &AppRegistry,
    event: &Event,
) -> Result<usize, HistoryError> {
    let reached = fan_out(ctx, app, registry, event).await?;
    let app = registry.app_id();
    let now = Instant::now();
    ctx.hints.note_publish(app, now);
    ctx.console_tap.count_messages(app, reached);
    if reached == 0 {
        // Nobody here heard it: worth a hint if nobody in the cluster did, but a
        // near-identical channel has listeners. Constant work per target channel, whatever
        // the number of channels; the warnings are written after the view lock is released.
        let unheard: Vec<(&str, (String, usize))> = {
            let view = ctx.cluster.lock();
            event
                .channels
                .iter()
                .filter_map(|target| match target {
                    Target::Channel(channel) => Some(channel.as_str()),
                    Target::User(_) => None,
                })
                .filter(|channel| view.subscription_count(app, channel) == 0)
                .filter_map(|channel| Some((channel, hints::listened_near(&view, app, channel)?)))
                .collect()
        };
        for (channel, listened) in unheard {
            ctx.hints
                .report_unheard(&ctx.console_tap, app, channel, &event.name, listened, now);
        }
    }
    ctx.console_tap.emit(app, "publish", || {
        let channels: Vec<String> = event.channels.iter().map(Target::channel_name).collect();
        let view = ctx.cluster.lock();
        let cluster_subscribers: usize = event
            .channels
            .iter()
            .filter_map(|t| match t {
                Target::Channel(c) => Some(view.subscription_count(app, c.as_str())),
                Target::User(_) => None,
            })
            .sum();
        serde_json::json!({
            "channels": channels, "event": event.name, "size": event.data.len(), "reached": reached,
            "cluster_subscribers": cluster_subscribers,
            "excluded_socket_id": event.except.map(|id| id.to_string()),
        })
    });
    Ok(reached)
}

/// Deliveries `events` cause on the busiest other node (its subscribers of the target
/// channels; a user may be signed in anywhere, so each user target counts one), which
/// backpressure's ramp admits at a bounded rate (`pressure::ramp`): the other nodes deliver
/// in parallel, so the one with the largest share is the one a flood overruns first. One look
/// at the view for the whole request.
pub fn remote_deliveries(ctx: &Context, app: &AppId, events: &[Event]) -> usize {
    if ctx.cluster.alone() {
        return 0;
    }
    let targets = events.iter().flat_map(|event| &event.channels);
    let users = targets
        .clone()
        .filter(|target| matches!(target, Target::User(_)))
        .count();
    let channels = targets.filter_map(|target| match target {
        Target::Channel(channel) => Some(channel.as_str()),
        Target::User(_) => None,
    });
    ctx.cluster.lock().busiest_remote_audience(app, channels) + users
}

async fn fan_out(
    ctx: &Context,
    app: &App,
    registry: &AppRegistry,
    event: &Event,
) -> Result<usize, HistoryError> {
    let cache_ttl = ctx.config.cache_ttl;
    let app_id = registry.app_id();
    let mut accepted = Instant::now();
    let mut flushes = Flushes::new();
    let mut reached = 0;
    for target in &event.channels {
        let channel_name = target.channel_name();
        let text = messages::channel_event(&event.name, &channel_name, &event.data);
        let channel = match target {
            Target::Channel(channel) => channel,
            Target::User(user_id) => {
                ctx.cluster.send_with(|| NodeMessage::ToUser {
                    app: app_id.clone(),
                    user_id: user_id.clone(),
                    frame: text.clone(),
                });
                reached += registry
                    .users
                    .send_to_user(user_id, &Frame::from(text), &mut flushes);
                continue;
            }
        };
        // Kept only once the event is published (a history store may refuse it).
        let keep_cached = || {
            if channel.is_cache() {
                let now = Instant::now();
                registry
                    .cache
                    .put(&channel_name, &event.name, &event.data, cache_ttl, now);
            }
        };
        // What the other nodes keep for a cache channel (built only when sent).
        let cache_entry = || {
            channel.is_cache().then(|| CacheEntry {
                event: event.name.clone(),
                data: event.data.clone(),
                ttl_secs: cache_ttl.as_secs(),
            })
        };
        if app.history.covers(&channel_name) {
            // What was queued so far goes out before this publish may wait on the store.
            std::mem::take(&mut flushes).flush();
            reached += publish_positioned(
                ctx,
                app,
                registry,
                event,
                &channel_name,
                &text,
                cache_entry(),
            )
            .await?;
            keep_cached();
            // The wait on the store is not fan-out time.
            accepted = Instant::now();
            continue;
        }
        keep_cached();
        ctx.cluster.send_with(|| NodeMessage::Broadcast {
            app: app_id.clone(),
            channel: channel_name.clone(),
            frame: text.clone(),
            except: event.except.map(|id| id.to_string()),
            cache: cache_entry(),
        });
        reached += registry.broadcast(
            &channel_name,
            &Frame::from(text),
            event.except,
            &mut flushes,
        );
    }
    ctx.finish_fanout(app_id, flushes, accepted);
    Ok(reached)
}

/// A history channel's event: the store gives it a position. In memory, it is queued for
/// this node's subscribers under the store's lock; in Redis, the store's script publishes it
/// to every node, and this node delivers it when it comes back (`peers`), like the others,
/// so all see one order. The count is then this node's subscribers.
async fn publish_positioned(
    ctx: &Context,
    app: &App,
    registry: &AppRegistry,
    event: &Event,
    channel: &str,
    text: &str,
    cache: Option<CacheEntry>,
) -> Result<usize, HistoryError> {
    match &ctx.history.store {
        Store::Memory(store) => {
            let accepted = Instant::now();
            let mut flushes = Flushes::new();
            let mut reached = 0;
            store.append(app, channel, text, &ctx.history.stats, |frame, seq| {
                reached = registry.broadcast_positioned(
                    channel,
                    frame,
                    Some(seq),
                    event.except,
                    &mut flushes,
                );
            });
            ctx.finish_fanout(&app.id, flushes, accepted);
            Ok(reached)
        }
        Store::Redis(store) => {
            let message = NodeMessage::Positioned {
                app: app.id.clone(),
                channel: channel.to_string(),
                except: event.except.map(|id| id.to_string()),
                frame: text.to_string(),
                cache,
                position: String::new(),
            };
            let (head, tail) = ctx.cluster.positioned_parts(&message);
            store.append(app, channel, text, (&head, &tail)).await?;
            ctx.history.stats.app(&app.id).appended();
            Ok(registry.subscriber_count(channel))
        }
    }
}

/// The `{"<channel>": {attributes}}` map for a publish with `info`, or `None` without; the
/// counts are the cluster's.
pub(crate) fn channel_attributes(ctx: &Context, app_id: &AppId, event: &Event) -> Option<Value> {
    if !event.info.any() {
        return None;
    }
    let view = ctx.cluster.lock();
    let mut channels = Map::new();
    for target in &event.channels {
        let Target::Channel(channel) = target else {
            continue;
        };
        let mut attributes = Map::new();
        // A presence channel answers both when both are asked, as hosted Pusher does (the
        // PHP SDK's acceptance tests expect `user_count` and `subscription_count`).
        if channel.kind() == ChannelKind::Presence && event.info.user_count {
            attributes.insert(
                "user_count".into(),
                view.user_count(app_id, channel.as_str()).into(),
            );
        }
        if event.info.subscription_count {
            let subscriptions = view.subscription_count(app_id, channel.as_str());
            attributes.insert("subscription_count".into(), subscriptions.into());
        }
        channels.insert(channel.as_str().to_string(), Value::Object(attributes));
    }
    Some(Value::Object(channels))
}
