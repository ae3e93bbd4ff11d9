//! Channel queries: `GET /channels`, `GET /channels/{name}`, `GET /channels/{name}/users`,
//! answered for the whole cluster from the replicated view (never waiting on another node),
//! and `terminate_connections`, carried out on every node.

use serde_json::{json, Map, Value};
use sockwave_protocol::AppId;
use tokio::time::Instant;

use super::error::ApiError;
use crate::adapter::wire::NodeMessage;
use crate::context::Context;
use crate::publish::InfoRequest;
use sockwave_protocol::channel::kind_of;
use sockwave_protocol::ChannelKind;

/// Logs, once per query, that cluster-wide numbers come from the last known state.
fn flag_stale(ctx: &Context) {
    if !ctx.cluster.engine_up() {
        tracing::warn!(
            "cluster engine unreachable: answering from the last known state of the other nodes"
        );
    }
}

/// `GET /apps/{id}/channels`: occupied channels, optionally filtered by prefix.
pub(crate) fn list(
    ctx: &Context,
    app_id: &AppId,
    prefix: Option<&str>,
    info: Option<&str>,
) -> Result<Value, ApiError> {
    let prefix = prefix.unwrap_or("");
    let info = InfoRequest::parse(info)?;
    if info.cache {
        return Err(ApiError::BadRequest(
            "info=cache is only available on GET /channels/{name}".into(),
        ));
    }
    if info.user_count && !prefix.starts_with("presence-") {
        return Err(ApiError::BadRequest(
            "info=user_count is only allowed with filter_by_prefix=presence-".into(),
        ));
    }
    flag_stale(ctx);
    let view = ctx.cluster.lock();
    let mut channels = Map::new();
    for (name, subscriptions) in view.channels(app_id, prefix) {
        let mut attributes = Map::new();
        if info.user_count && kind_of(&name) == ChannelKind::Presence {
            attributes.insert("user_count".into(), view.user_count(app_id, &name).into());
        }
        if info.subscription_count {
            attributes.insert("subscription_count".into(), subscriptions.into());
        }
        channels.insert(name, Value::Object(attributes));
    }
    Ok(json!({ "channels": channels }))
}

/// `GET /apps/{id}/channels/{name}`: `occupied` plus the counts that apply.
/// `subscription_count` is always included (Soketi did so); `user_count` for presence.
pub(crate) fn show(
    ctx: &Context,
    app_id: &AppId,
    channel: &str,
    info: Option<&str>,
) -> Result<Value, ApiError> {
    let info = InfoRequest::parse(info)?;
    let is_presence = kind_of(channel) == ChannelKind::Presence;
    if info.user_count && !is_presence {
        return Err(ApiError::BadRequest(format!(
            "info=user_count is only available for presence channels, '{channel}' is not one"
        )));
    }
    let is_cache =
        sockwave_protocol::ChannelName::parse(channel, usize::MAX).is_ok_and(|c| c.is_cache());
    if info.cache && !is_cache {
        return Err(ApiError::BadRequest(format!(
            "info=cache is only available for cache channels, '{channel}' is not one"
        )));
    }
    flag_stale(ctx);
    let (subscriptions, users) = {
        let view = ctx.cluster.lock();
        (
            view.subscription_count(app_id, channel),
            view.user_count(app_id, channel),
        )
    };
    let mut body = Map::new();
    body.insert("occupied".into(), (subscriptions > 0).into());
    body.insert("subscription_count".into(), subscriptions.into());
    if is_presence {
        body.insert("user_count".into(), users.into());
    }
    if info.cache {
        let now = Instant::now();
        let cached = ctx.registry.app(app_id).cache.get(channel, now).map(|cached| {
            json!({"event": cached.event, "data": cached.data, "ttl": cached.ttl_secs(now)})
        });
        body.insert("cache".into(), cached.unwrap_or(Value::Null));
    }
    Ok(Value::Object(body))
}

/// `POST /apps/{id}/users/{user_id}/terminate_connections`: closes every socket signed in as
/// the user or joined to a presence channel as it, with 4009 so clients do not reconnect.
/// Returns how many sockets closed on this node.
pub(crate) fn terminate(ctx: &Context, app_id: &AppId, user_id: &str) -> usize {
    ctx.cluster.send(&NodeMessage::Terminate {
        app: app_id.clone(),
        user_id: user_id.to_string(),
    });
    crate::effects::terminate_local(&ctx.registry.app(app_id), user_id)
}

/// `GET /apps/{id}/channels/{name}/users`: distinct member ids of a presence channel.
pub(crate) fn users(ctx: &Context, app_id: &AppId, channel: &str) -> Result<Value, ApiError> {
    if kind_of(channel) != ChannelKind::Presence {
        return Err(ApiError::BadRequest(format!(
            "'{channel}' is not a presence channel: only presence channels have users"
        )));
    }
    flag_stale(ctx);
    let members = ctx.cluster.lock().members(app_id, channel);
    let users: Vec<Value> = members
        .into_iter()
        .map(|(id, _)| json!({ "id": id }))
        .collect();
    Ok(json!({ "users": users }))
}
