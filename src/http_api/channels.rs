//! Channel queries: `GET /channels`, `GET /channels/{name}`, `GET /channels/{name}/users`.

use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::error::ApiError;
use super::events::InfoRequest;
use crate::protocol::channel::kind_of;
use crate::protocol::ChannelKind;
use crate::registry::AppRegistry;

/// `GET /apps/{id}/channels`: occupied channels, optionally filtered by prefix.
pub fn list(
    registry: &AppRegistry,
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
    let mut channels = Map::new();
    for channel in registry.channels(prefix) {
        let mut attributes = Map::new();
        if info.user_count {
            if let Some(users) = channel.user_count {
                attributes.insert("user_count".into(), users.into());
            }
        }
        if info.subscription_count {
            attributes.insert(
                "subscription_count".into(),
                channel.subscription_count.into(),
            );
        }
        channels.insert(channel.name, Value::Object(attributes));
    }
    Ok(json!({ "channels": channels }))
}

/// `GET /apps/{id}/channels/{name}`: `occupied` plus the counts that apply.
/// `subscription_count` is always included (Soketi did so); `user_count` for presence.
pub fn show(registry: &AppRegistry, channel: &str, info: Option<&str>) -> Result<Value, ApiError> {
    let info = InfoRequest::parse(info)?;
    let is_presence = kind_of(channel) == ChannelKind::Presence;
    if info.user_count && !is_presence {
        return Err(ApiError::BadRequest(format!(
            "info=user_count is only available for presence channels, '{channel}' is not one"
        )));
    }
    let is_cache =
        crate::protocol::ChannelName::parse(channel, usize::MAX).is_ok_and(|c| c.is_cache());
    if info.cache && !is_cache {
        return Err(ApiError::BadRequest(format!(
            "info=cache is only available for cache channels, '{channel}' is not one"
        )));
    }
    let found = registry.channel_info(channel);
    let mut body = Map::new();
    body.insert("occupied".into(), found.is_some().into());
    body.insert(
        "subscription_count".into(),
        found.as_ref().map_or(0, |c| c.subscription_count).into(),
    );
    if is_presence {
        let users = found.as_ref().and_then(|c| c.user_count).unwrap_or(0);
        body.insert("user_count".into(), users.into());
    }
    if info.cache {
        let now = Instant::now();
        let cached = registry.cache.get(channel, now).map(|cached| {
            json!({"event": cached.event, "data": cached.data, "ttl": cached.ttl_secs(now)})
        });
        body.insert("cache".into(), cached.unwrap_or(Value::Null));
    }
    Ok(Value::Object(body))
}

/// `POST /apps/{id}/users/{user_id}/terminate_connections`: closes every socket signed in as
/// the user or joined to a presence channel as it, with 4009 so clients do not reconnect.
pub fn terminate(registry: &AppRegistry, user_id: &str) -> usize {
    let mut sockets = registry.users.sockets_of(user_id);
    sockets.extend(registry.presence_sockets_of(user_id));
    sockets.sort_by_key(|socket| socket.id());
    sockets.dedup_by_key(|socket| socket.id());
    for socket in &sockets {
        socket.request_close(crate::protocol::ErrorCode::Unauthorized);
    }
    sockets.len()
}

/// `GET /apps/{id}/channels/{name}/users`: distinct member ids of a presence channel.
pub fn users(registry: &AppRegistry, channel: &str) -> Result<Value, ApiError> {
    if kind_of(channel) != ChannelKind::Presence {
        return Err(ApiError::BadRequest(format!(
            "'{channel}' is not a presence channel: only presence channels have users"
        )));
    }
    let ids = registry.presence_users(channel);
    let users: Vec<Value> = ids.into_iter().map(|id| json!({ "id": id })).collect();
    Ok(json!({ "users": users }))
}
