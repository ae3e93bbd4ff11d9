//! Client → server messages parsed into a typed enum, and server → client frames built as
//! ready-to-send JSON text.
//!
//! Pure: no I/O, no clock. Frame builders return `String`s; callers wrap them once in a
//! shareable buffer and hand clones to every recipient.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::codes::ErrorCode;

/// A message a client sent, after its envelope and `data` were checked.
#[derive(Debug, Clone)]
pub enum ClientMessage {
    /// `pusher:ping`: answer with `pusher:pong`.
    Ping,
    /// `pusher:pong`: the answer to a server ping; only proves liveness.
    Pong,
    /// `pusher:subscribe`.
    Subscribe {
        /// Requested channel (not yet validated).
        channel: String,
        /// `key:signature`, empty or absent for public channels.
        auth: Option<String>,
        /// Presence member data, a JSON string.
        channel_data: Option<String>,
        /// sockwave's recovery add-on: the last history position the client holds on this
        /// channel (`resume_after`), so the events after it are replayed. Other clients never
        /// send it.
        resume_after: Option<String>,
    },
    /// `pusher:unsubscribe`.
    Unsubscribe {
        /// The channel to leave.
        channel: String,
    },
    /// `pusher:signin`.
    Signin {
        /// `key:signature` over `socket_id::user::user_data`.
        auth: String,
        /// The user data JSON string, exactly as signed.
        user_data: String,
    },
    /// A `client-*` event to relay to the other subscribers.
    ClientEvent {
        /// Event name (starts with `client-`).
        event: String,
        /// Target channel (not yet validated).
        channel: String,
        /// The data exactly as the client sent it (any JSON value).
        data: Box<RawValue>,
    },
}

impl ParseError {
    /// The code a `pusher:error` about this failure carries.
    pub fn code(&self) -> ErrorCode {
        match self {
            ParseError::ClientEventName { .. } => ErrorCode::ClientEventRejected,
            ParseError::NotJson(_)
            | ParseError::MissingEvent
            | ParseError::MissingData { .. }
            | ParseError::BadField { .. }
            | ParseError::MissingChannel { .. }
            | ParseError::UnknownEvent { .. }
            | ParseError::Binary => ErrorCode::InvalidMessage,
        }
    }
}

impl PartialEq for ClientMessage {
    fn eq(&self, other: &ClientMessage) -> bool {
        use ClientMessage::*;
        match (self, other) {
            (Ping, Ping) | (Pong, Pong) => true,
            (
                Subscribe {
                    channel: a,
                    auth: b,
                    channel_data: c,
                    resume_after: d,
                },
                Subscribe {
                    channel: x,
                    auth: y,
                    channel_data: z,
                    resume_after: w,
                },
            ) => (a, b, c, d) == (x, y, z, w),
            (Unsubscribe { channel: a }, Unsubscribe { channel: x }) => a == x,
            (
                Signin {
                    auth: a,
                    user_data: b,
                },
                Signin {
                    auth: x,
                    user_data: y,
                },
            ) => (a, b) == (x, y),
            (
                ClientEvent {
                    event: a,
                    channel: b,
                    data: c,
                },
                ClientEvent {
                    event: x,
                    channel: y,
                    data: z,
                },
            ) => (a, b, c.get()) == (x, y, z.get()),
            _ => false,
        }
    }
}

/// Why a client frame could not be understood. The connection survives all of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not valid JSON, or not a JSON object.
    #[error("message is not a JSON object: {0}")]
    NotJson(String),
    /// The object has no string `event`.
    #[error("message has no 'event' string")]
    MissingEvent,
    /// A `pusher:` event without the `data` object it needs.
    #[error("'{event}' needs a 'data' object")]
    MissingData {
        /// The event name.
        event: String,
    },
    /// A required field is missing or has the wrong type.
    #[error("'{event}' needs '{field}' to be {expected}")]
    BadField {
        /// The event name.
        event: String,
        /// The field.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// A `client-*` event without a `channel`.
    #[error("client event '{event}' needs a 'channel' string")]
    MissingChannel {
        /// The event name.
        event: String,
    },
    /// An event the protocol does not define for clients.
    #[error("unknown event '{event}': clients may send pusher:ping, pusher:pong, pusher:subscribe, pusher:unsubscribe, pusher:signin and client-* events")]
    UnknownEvent {
        /// The event name, cut to a printable length.
        event: String,
    },
    /// An event aimed at a channel whose name lacks the `client-` prefix.
    #[error("client event '{event}' rejected: client event names must start with 'client-'")]
    ClientEventName {
        /// The event name, cut to a printable length.
        event: String,
    },
    /// A binary WebSocket frame; the protocol is text only.
    #[error("binary frames are not part of the Pusher protocol; send JSON text frames")]
    Binary,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Option<&'a RawValue>,
    #[serde(borrow)]
    channel: Option<&'a RawValue>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct SubscribeData {
    channel: Option<serde_json::Value>,
    auth: Option<serde_json::Value>,
    channel_data: Option<serde_json::Value>,
    resume_after: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct SigninData {
    auth: Option<serde_json::Value>,
    user_data: Option<serde_json::Value>,
}

/// Parses one text frame from a client.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ParseError> {
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|err| ParseError::NotJson(err.to_string()))?;
    let event: String = envelope
        .event
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .ok_or(ParseError::MissingEvent)?;
    match event.as_str() {
        "pusher:ping" => Ok(ClientMessage::Ping),
        "pusher:pong" => Ok(ClientMessage::Pong),
        "pusher:subscribe" => {
            let data: SubscribeData = parse_data(&event, envelope.data)?;
            Ok(ClientMessage::Subscribe {
                channel: required_string(&event, "channel", data.channel)?,
                auth: optional_string(&event, "auth", data.auth)?,
                channel_data: optional_string(&event, "channel_data", data.channel_data)?,
                resume_after: optional_string(&event, "resume_after", data.resume_after)?,
            })
        }
        "pusher:unsubscribe" => {
            let data: SubscribeData = parse_data(&event, envelope.data)?;
            Ok(ClientMessage::Unsubscribe {
                channel: required_string(&event, "channel", data.channel)?,
            })
        }
        "pusher:signin" => {
            let data: SigninData = parse_data(&event, envelope.data)?;
            Ok(ClientMessage::Signin {
                auth: required_string(&event, "auth", data.auth)?,
                user_data: required_string(&event, "user_data", data.user_data)?,
            })
        }
        name if name.starts_with("client-") => {
            let channel = envelope
                .channel
                .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
                .ok_or_else(|| ParseError::MissingChannel {
                    event: event.clone(),
                })?;
            let data = match envelope.data {
                Some(raw) => raw.to_owned(),
                None => RawValue::from_string("null".to_string()).expect("null is valid JSON"),
            };
            Ok(ClientMessage::ClientEvent {
                event,
                channel,
                data,
            })
        }
        name if !name.starts_with("pusher") && envelope.channel.is_some() => {
            Err(ParseError::ClientEventName {
                event: event.chars().take(64).collect(),
            })
        }
        _ => Err(ParseError::UnknownEvent {
            event: event.chars().take(64).collect(),
        }),
    }
}

/// `data` for `pusher:` events must be an object. Some clients send it as a JSON string
/// holding the object; accept both.
fn parse_data<T: for<'de> Deserialize<'de>>(
    event: &str,
    raw: Option<&RawValue>,
) -> Result<T, ParseError> {
    let missing = || ParseError::MissingData {
        event: event.to_string(),
    };
    let raw = raw.ok_or_else(missing)?;
    if let Ok(parsed) = serde_json::from_str::<T>(raw.get()) {
        return Ok(parsed);
    }
    let inner: String = serde_json::from_str(raw.get()).map_err(|_| missing())?;
    serde_json::from_str::<T>(&inner).map_err(|_| missing())
}

fn required_string(
    event: &str,
    field: &'static str,
    value: Option<serde_json::Value>,
) -> Result<String, ParseError> {
    optional_string(event, field, value)?.ok_or_else(|| ParseError::BadField {
        event: event.to_string(),
        field,
        expected: "a string",
    })
}

fn optional_string(
    event: &str,
    field: &'static str,
    value: Option<serde_json::Value>,
) -> Result<Option<String>, ParseError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ParseError::BadField {
            event: event.to_string(),
            field,
            expected: "a string",
        }),
    }
}

#[derive(Serialize)]
struct Frame<'a, D: Serialize> {
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    data: D,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
}

fn frame<D: Serialize>(
    event: &str,
    channel: Option<&str>,
    data: D,
    user_id: Option<&str>,
) -> String {
    serde_json::to_string(&Frame {
        event,
        channel,
        data,
        user_id,
    })
    .expect("frames hold only strings, numbers and raw JSON")
}

/// `pusher:connection_established`; `data` is a JSON string, as pusher-js expects.
pub fn connection_established(socket_id: &str, activity_timeout_secs: u64) -> String {
    let data =
        serde_json::json!({"socket_id": socket_id, "activity_timeout": activity_timeout_secs});
    frame(
        "pusher:connection_established",
        None,
        data.to_string(),
        None,
    )
}

/// `pusher:error` with a code (or `null`, as Pusher sends for non-fatal errors) and a text.
pub fn error(code: Option<ErrorCode>, message: &str, channel: Option<&str>) -> String {
    let data = serde_json::json!({"code": code.map(ErrorCode::as_u16), "message": message});
    frame("pusher:error", channel, data, None)
}

/// `pusher:pong`.
pub fn pong() -> String {
    frame("pusher:pong", None, serde_json::json!({}), None)
}

/// `pusher:ping`, sent by the server to a silent client.
pub fn ping() -> String {
    frame("pusher:ping", None, serde_json::json!({}), None)
}

/// `pusher_internal:subscription_succeeded` for a non-presence channel (`data` = `"{}"`).
pub fn subscription_succeeded(channel: &str) -> String {
    frame(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        "{}",
        None,
    )
}

/// `pusher_internal:subscription_succeeded` for a presence channel, with the member list
/// (`presence_json` is the already-built `{"presence":{...}}` text).
pub fn presence_subscription_succeeded(channel: &str, presence_json: &str) -> String {
    frame(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        presence_json,
        None,
    )
}

/// The presence `subscription_succeeded` payload:
/// `{"presence":{"ids":[..],"hash":{id: info},"count":n}}`, from members sorted by id.
pub fn presence_data(members: &[(String, Option<serde_json::Value>)]) -> String {
    let ids: Vec<&str> = members.iter().map(|(id, _)| id.as_str()).collect();
    let hash: serde_json::Map<String, serde_json::Value> = members
        .iter()
        .map(|(id, info)| (id.clone(), info.clone().unwrap_or(serde_json::Value::Null)))
        .collect();
    serde_json::json!({"presence": {"ids": ids, "hash": hash, "count": members.len()}}).to_string()
}

/// `pusher:subscription_error` as Soketi sends it, so Laravel Echo's `.error()` fires.
pub fn subscription_error(channel: &str, error_type: &str, message: &str, status: u16) -> String {
    let data = serde_json::json!({"type": error_type, "error": message, "status": status});
    frame("pusher:subscription_error", Some(channel), data, None)
}

/// `pusher_internal:member_added`; `data` is a JSON string.
pub fn member_added(channel: &str, user_id: &str, user_info: Option<&RawValue>) -> String {
    #[derive(Serialize)]
    struct Added<'a> {
        user_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        user_info: Option<&'a RawValue>,
    }
    let data = serde_json::to_string(&Added { user_id, user_info }).expect("strings and raw JSON");
    frame("pusher_internal:member_added", Some(channel), data, None)
}

/// `pusher_internal:member_removed`; `data` is a JSON string.
pub fn member_removed(channel: &str, user_id: &str) -> String {
    let data = serde_json::json!({ "user_id": user_id }).to_string();
    frame("pusher_internal:member_removed", Some(channel), data, None)
}

/// A channel event published through the HTTP API: `data` is the publisher's string.
pub fn channel_event(event: &str, channel: &str, data: &str) -> String {
    frame(event, Some(channel), data, None)
}

/// A frame with an extra top-level `"position"` field (recovery add-on); pusher-js keeps only
/// `event`, `channel`, `data` and `user_id` of a frame, so apps never see it. `frame` must be
/// one of this module's frames (a JSON object).
pub fn with_position(frame: &str, position: &str) -> String {
    let (head, tail) = position_parts(frame);
    let mut text = String::with_capacity(head.len() + position.len() + tail.len());
    text.push_str(&head);
    text.push_str(position);
    text.push_str(tail);
    text
}

/// `frame` cut where a position goes: `head + position + tail` is the positioned frame.
/// Positions are made of characters JSON never escapes, so they can be inserted later (by
/// the store that assigns them) without re-serialising.
pub fn position_parts(frame: &str) -> (String, &'static str) {
    let body = frame.strip_suffix('}').unwrap_or(frame);
    (format!("{body},\"position\":\""), "\"}")
}

/// A client event relayed to the other subscribers; `user_id` is set by the server on
/// presence channels and never copied from the client's frame.
pub fn client_event(event: &str, channel: &str, data: &RawValue, user_id: Option<&str>) -> String {
    frame(event, Some(channel), data, user_id)
}

/// `pusher:signin_success` carrying the signed `user_data` string unchanged.
pub fn signin_success(user_data: &str) -> String {
    frame(
        "pusher:signin_success",
        None,
        serde_json::json!({ "user_data": user_data }),
        None,
    )
}

/// One entry of `pusher_internal:watchlist_events`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WatchlistEvent<'a> {
    /// `online` or `offline`.
    pub name: &'a str,
    /// The users that changed.
    pub user_ids: Vec<&'a str>,
}

/// `pusher_internal:watchlist_events` in the shape pusher-js's `user.watchlist` binds to.
pub fn watchlist_events(events: &[WatchlistEvent<'_>]) -> String {
    frame(
        "pusher_internal:watchlist_events",
        None,
        serde_json::json!({ "events": events }),
        None,
    )
}

/// `pusher:cache_miss` for a cache channel with nothing cached.
pub fn cache_miss(channel: &str) -> String {
    frame("pusher:cache_miss", Some(channel), "{}", None)
}

/// `pusher_internal:subscription_count`; `data` is a JSON string like other internal events.
pub fn subscription_count(channel: &str, count: usize) -> String {
    let data = serde_json::json!({ "subscription_count": count }).to_string();
    frame(
        "pusher_internal:subscription_count",
        Some(channel),
        data,
        None,
    )
}

#[cfg(test)]
mod tests;
