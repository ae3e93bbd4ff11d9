//! Channel queries: `GET /channels`, `GET /channels/{name}`, `GET /channels/{name}/users`.

use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::events::InfoRequest;
use crate::protocol::channel::kind_of;
use crate::protocol::ChannelKind;
use crate::registry::AppRegistry;

/// `GET /apps/{id}/channels`: occupied channels, optionally filtered by prefix.
pub fn list(registry: Option<&AppRegistry>, prefix: Option<&str>, info: Option<&str>) -> Result<Value, ApiError> {
    let prefix = prefix.unwrap_or("");
    let info = InfoRequest::parse(info)?;
    if info.user_count && !prefix.starts_with("presence-") {
        return Err(ApiError::BadRequest(
            "info=user_count is only allowed with filter_by_prefix=presence-".into(),
        ));
    }
    let mut channels = Map::new();
    for channel in registry.map(|r| r.channels(prefix)).unwrap_or_default() {
        let mut attributes = Map::new();
        if info.user_count {
            if let Some(users) = channel.user_count {
                attributes.insert("user_count".into(), users.into());
            }
        }
        if info.subscription_count {
            attributes.insert("subscription_count".into(), channel.subscription_count.into());
        }
        channels.insert(channel.name, Value::Object(attributes));
    }
    Ok(json!({ "channels": channels }))
}

/// `GET /apps/{id}/channels/{name}`: `occupied` plus the counts that apply.
/// `subscription_count` is always included (Soketi did so); `user_count` for presence.
pub fn show(registry: Option<&AppRegistry>, channel: &str, info: Option<&str>) -> Result<Value, ApiError> {
    let info = InfoRequest::parse(info)?;
    let is_presence = kind_of(channel) == ChannelKind::Presence;
    if info.user_count && !is_presence {
        return Err(ApiError::BadRequest(format!(
            "info=user_count is only available for presence channels, '{channel}' is not one"
        )));
    }
    let found = registry.and_then(|r| r.channel_info(channel));
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
    Ok(Value::Object(body))
}

/// `GET /apps/{id}/channels/{name}/users`: distinct member ids of a presence channel.
pub fn users(registry: Option<&AppRegistry>, channel: &str) -> Result<Value, ApiError> {
    if kind_of(channel) != ChannelKind::Presence {
        return Err(ApiError::BadRequest(format!(
            "'{channel}' is not a presence channel: only presence channels have users"
        )));
    }
    let ids = registry.map(|r| r.presence_users(channel)).unwrap_or_default();
    let users: Vec<Value> = ids.into_iter().map(|id| json!({ "id": id })).collect();
    Ok(json!({ "users": users }))
}
