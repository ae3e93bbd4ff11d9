//! Publishing an event: each target channel's frame is built once, shared by this node's
//! subscribers (queued, then flushed) and the other nodes (one cluster message); cache
//! channels keep the event; and a publish nobody hears gets a hint when a near-identical
//! channel has listeners. Used by the HTTP API and the console's event creator.

mod event;

use serde_json::{Map, Value};
use sockwave_protocol::AppId;
use tokio::time::Instant;

use crate::adapter::wire::{CacheEntry, NodeMessage};
use crate::context::Context;
use crate::hints;
use crate::outbox::{Flushes, Frame};
use crate::registry::AppRegistry;
use sockwave_protocol::{messages, ChannelKind};

pub use event::{parse_batch, parse_event, Event, EventError, InfoRequest, Target};

/// Queues the event for every subscriber of its channels (and every socket of its users) on
/// this node, and hands it to the other nodes; returns how many local sockets it reached. Each
/// channel's frame is serialised once and shared by its subscribers and the cluster message.
/// Cache channels keep the event for `cache_ttl` on every node.
pub fn publish(ctx: &Context, registry: &AppRegistry, event: &Event) -> usize {
    let reached = fan_out(ctx, registry, event);
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
    reached
}

fn fan_out(ctx: &Context, registry: &AppRegistry, event: &Event) -> usize {
    let cache_ttl = ctx.config.cache_ttl;
    let app = registry.app_id();
    let mut flushes = Flushes::new();
    let reached = event
        .channels
        .iter()
        .map(|target| {
            let channel_name = target.channel_name();
            let text = messages::channel_event(&event.name, &channel_name, &event.data);
            match target {
                Target::Channel(channel) => {
                    if channel.is_cache() {
                        registry.cache.put(
                            &channel_name,
                            &event.name,
                            &event.data,
                            cache_ttl,
                            Instant::now(),
                        );
                    }
                    ctx.cluster.send_with(|| NodeMessage::Broadcast {
                        app: app.clone(),
                        channel: channel_name.clone(),
                        frame: text.clone(),
                        except: event.except.map(|id| id.to_string()),
                        cache: channel.is_cache().then(|| CacheEntry {
                            event: event.name.clone(),
                            data: event.data.clone(),
                            ttl_secs: cache_ttl.as_secs(),
                        }),
                    });
                    registry.broadcast(
                        &channel_name,
                        &Frame::from(text),
                        event.except,
                        &mut flushes,
                    )
                }
                Target::User(user_id) => {
                    ctx.cluster.send_with(|| NodeMessage::ToUser {
                        app: app.clone(),
                        user_id: user_id.clone(),
                        frame: text.clone(),
                    });
                    registry
                        .users
                        .send_to_user(user_id, &Frame::from(text), &mut flushes)
                }
            }
        })
        .sum();
    flushes.flush();
    reached
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
