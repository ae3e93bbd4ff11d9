//! An event as a backend publishes it (`POST /apps/{id}/events`, one item of
//! `batch_events`, the console's event creator): parsed and validated against the app's
//! limits before anything is published, so a batch with one bad event publishes nothing.

use serde_json::{Map, Value};

use crate::app::AppLimits;
use sockwave_protocol::channel::SERVER_TO_USER_PREFIX;
use sockwave_protocol::{ChannelName, SocketId};

/// Why an event was refused; the HTTP API answers 400 or 413.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Malformed, or over a count or length limit.
    #[error("{0}")]
    Invalid(String),
    /// The event's data is over the app's payload limit.
    #[error("{0}")]
    TooLarge(String),
}

/// Which channel attributes the publisher asked for with `info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InfoRequest {
    /// `user_count` (presence channels).
    pub(crate) user_count: bool,
    /// `subscription_count` (every channel kind; presence channels answer it too).
    pub(crate) subscription_count: bool,
    /// `cache` (cache channels; channel query only).
    pub(crate) cache: bool,
}

impl InfoRequest {
    /// Parses a comma-separated `info` value.
    pub(crate) fn parse(info: Option<&str>) -> Result<InfoRequest, EventError> {
        let mut request = InfoRequest::default();
        for attribute in info
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match attribute {
                "user_count" => request.user_count = true,
                "subscription_count" => request.subscription_count = true,
                "cache" => request.cache = true,
                other => {
                    return Err(EventError::Invalid(format!(
                        "unknown info attribute '{}': use user_count, subscription_count or cache",
                        other.chars().take(40).collect::<String>()
                    )))
                }
            }
        }
        Ok(request)
    }

    pub(crate) fn any(self) -> bool {
        self.user_count || self.subscription_count
    }
}

/// Where an event goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A channel's subscribers.
    Channel(ChannelName),
    /// Every socket signed in as this user (`#server-to-user-{id}`, the SDKs' `sendToUser`).
    User(String),
}

impl Target {
    fn parse(name: &str, limits: &AppLimits) -> Result<Target, EventError> {
        if let Some(user_id) = name.strip_prefix(SERVER_TO_USER_PREFIX) {
            // The user id follows the channel-name rules; check it as a name of its own.
            ChannelName::parse(user_id, limits.max_channel_name_length).map_err(|err| {
                EventError::Invalid(format!("invalid user id in '{name}': {err}"))
            })?;
            return Ok(Target::User(user_id.to_string()));
        }
        ChannelName::parse(name, limits.max_channel_name_length)
            .map(Target::Channel)
            .map_err(|err| EventError::Invalid(err.to_string()))
    }

    /// The channel name as subscribers see it.
    pub(crate) fn channel_name(&self) -> String {
        match self {
            Target::Channel(channel) => channel.as_str().to_string(),
            Target::User(user_id) => format!("{SERVER_TO_USER_PREFIX}{user_id}"),
        }
    }
}

/// One validated event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event name.
    pub name: String,
    /// Event data, exactly as the subscribers will receive it.
    pub data: String,
    /// Target channels and users.
    pub channels: Vec<Target>,
    /// The socket that must not receive it (`toOthers()`).
    pub(crate) except: Option<SocketId>,
    /// Requested attributes for the response.
    pub(crate) info: InfoRequest,
}

/// Validates one event object. `batch_item` selects the batch rules (one `channel`).
pub fn parse_event(
    value: &Value,
    limits: &AppLimits,
    batch_item: bool,
) -> Result<Event, EventError> {
    let bad = |message: String| Err(EventError::Invalid(message));
    let Some(object) = value.as_object() else {
        return bad("the event must be a JSON object with name, data and channel(s)".into());
    };
    let name = match object.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ => return bad("expected name to be a non-empty string".into()),
    };
    if name.chars().count() > limits.max_event_name_length {
        return bad(format!(
            "event name is longer than {} characters",
            limits.max_event_name_length
        ));
    }
    if name.starts_with("pusher:") || name.starts_with("pusher_internal:") {
        return bad(format!(
            "event name '{name}' is reserved: the 'pusher' namespace is internal"
        ));
    }
    let data = match object.get("data") {
        Some(Value::String(data)) => data.clone(),
        // Soketi accepts a JSON value and stringifies it; so do we.
        Some(other) if !other.is_null() => other.to_string(),
        _ => return bad("expected data to be a string".into()),
    };
    if data.len() > limits.max_event_payload_bytes {
        // Hosted Pusher's wording first: SDK code and tests match on it.
        return Err(EventError::TooLarge(format!(
            "The data content of this event exceeds the allowed maximum ({} bytes): event data is {} bytes",
            limits.max_event_payload_bytes,
            data.len(),
        )));
    }
    let names = channel_names(object, batch_item)?;
    if names.len() > limits.max_channels_per_event {
        return bad(format!(
            "an event may go to at most {} channels, this one names {}",
            limits.max_channels_per_event,
            names.len()
        ));
    }
    let channels = names
        .iter()
        .map(|name| Target::parse(name, limits))
        .collect::<Result<Vec<_>, _>>()?;
    let except = match object.get("socket_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.parse::<SocketId>().map_err(|()| {
            EventError::Invalid(format!(
                "socket_id '{}' is not a valid socket id (digits.digits)",
                id.chars().take(40).collect::<String>()
            ))
        })?),
        Some(_) => return bad("expected socket_id to be a string".into()),
    };
    let info = match object.get("info") {
        None | Some(Value::Null) => InfoRequest::default(),
        Some(Value::String(info)) => InfoRequest::parse(Some(info))?,
        Some(_) => return bad("expected info to be a comma-separated string".into()),
    };
    if info.cache {
        return bad("info=cache is only available on GET /channels/{name}".into());
    }
    Ok(Event {
        name,
        data,
        channels,
        except,
        info,
    })
}

fn channel_names(object: &Map<String, Value>, batch_item: bool) -> Result<Vec<String>, EventError> {
    let bad = |message: &str| Err(EventError::Invalid(message.to_string()));
    match (object.get("channels"), object.get("channel")) {
        (Some(Value::Array(list)), None) if !batch_item => {
            if list.is_empty() {
                return bad("channels must name at least one channel");
            }
            list.iter()
                .map(|item| match item {
                    Value::String(name) => Ok(name.clone()),
                    _ => Err(EventError::Invalid(
                        "expected channels to be an array of strings".into(),
                    )),
                })
                .collect()
        }
        (None, Some(Value::String(name))) => Ok(vec![name.clone()]),
        (Some(_), Some(_)) => bad("send either channel or channels, not both"),
        _ if batch_item => bad("each batch event needs a channel string"),
        _ => bad("expected channels to be an array of strings, or channel a string"),
    }
}

/// Validates a whole `batch_events` body.
pub fn parse_batch(body: &Value, limits: &AppLimits) -> Result<Vec<Event>, EventError> {
    let Some(batch) = body.get("batch").and_then(Value::as_array) else {
        return Err(EventError::Invalid(
            "expected batch to be an array of events".into(),
        ));
    };
    if batch.len() > limits.max_batch_size {
        // Hosted Pusher's wording first, as for the payload limit.
        return Err(EventError::Invalid(format!(
            "Batch too large: a batch may hold at most {} events, this one holds {}",
            limits.max_batch_size,
            batch.len()
        )));
    }
    batch
        .iter()
        .map(|item| parse_event(item, limits, true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: Value, expected: Result<usize, &str>) {
        match (parse_event(&body, &AppLimits::default(), false), expected) {
            (Ok(event), Ok(n)) => assert_eq!(event.channels.len(), n),
            (Err(err), Err(want)) => assert!(err.to_string().contains(want), "{err}"),
            (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn events() {
        check(json!({"name": "e", "data": "{}", "channel": "a"}), Ok(1));
        check(
            json!({"name": "e", "data": "{}", "channels": ["a", "b"]}),
            Ok(2),
        );
        check(
            json!({"name": "e", "data": {"x": 1}, "channel": "a"}),
            Ok(1),
        );
        check(json!({"data": "{}", "channel": "a"}), Err("expected name"));
        check(json!({"name": "e", "channel": "a"}), Err("expected data"));
        check(json!({"name": "e", "data": "x"}), Err("expected channels"));
        check(
            json!({"name": "e", "data": "x", "channels": []}),
            Err("at least one"),
        );
        check(
            json!({"name": "e", "data": "x", "channels": "a"}),
            Err("expected channels"),
        );
        check(
            json!({"name": "pusher:x", "data": "x", "channel": "a"}),
            Err("reserved"),
        );
        check(
            json!({"name": "x".repeat(201), "data": "x", "channel": "a"}),
            Err("longer than 200"),
        );
        check(
            json!({"name": "e", "data": "x".repeat(100 * 1024 + 1), "channel": "a"}),
            Err("exceeds the allowed maximum (102400 bytes): event data is 102401 bytes"),
        );
        let many: Vec<String> = (0..101).map(|i| format!("c{i}")).collect();
        check(
            json!({"name": "e", "data": "x", "channels": many}),
            Err("at most 100 channels, this one names 101"),
        );
        check(
            json!({"name": "e", "data": "x", "channel": "bad name"}),
            Err("contains ' '"),
        );
        check(
            json!({"name": "e", "data": "x", "channel": "a", "socket_id": "1.2"}),
            Ok(1),
        );
        check(
            json!({"name": "e", "data": "x", "channel": "a", "socket_id": "x"}),
            Err("not a valid socket id"),
        );
        check(
            json!({"name": "e", "data": "x", "channel": "a", "info": "user_count,subscription_count"}),
            Ok(1),
        );
        check(
            json!({"name": "e", "data": "x", "channel": "a", "info": "cpu"}),
            Err("unknown info attribute 'cpu'"),
        );
        check(
            json!({"name": "e", "data": "x", "channel": "a", "info": "cache"}),
            Err("only available on GET"),
        );
        check(
            json!({"name": "e", "data": "x", "channel": "#server-to-user-42"}),
            Ok(1),
        );
        check(
            json!({"name": "e", "data": "x", "channel": "#server-to-user-"}),
            Err("invalid user id"),
        );
        check(
            json!({"name": "e", "data": "x", "channel": "#other"}),
            Err("reserved"),
        );
    }

    #[test]
    fn batches() {
        let limits = AppLimits::default();
        let item = json!({"name": "e", "data": "x", "channel": "a"});
        assert_eq!(
            parse_batch(&json!({"batch": vec![item.clone(); 10]}), &limits)
                .unwrap()
                .len(),
            10
        );
        let err = parse_batch(&json!({"batch": vec![item; 11]}), &limits).unwrap_err();
        assert!(err.to_string().contains("at most 10 events"));
        let err = parse_batch(
            &json!({"batch": [{"name": "e", "data": "x", "channels": ["a"]}]}),
            &limits,
        )
        .unwrap_err();
        assert!(err.to_string().contains("needs a channel string"));
        assert!(parse_batch(&json!({"events": []}), &limits).is_err());
    }
}
