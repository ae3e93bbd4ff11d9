//! The webhook events sockwave sends, one variant per Pusher webhook, and their JSON shape.
//!
//! Shapes follow Pusher's webhook reference (`../shared/PROTOCOL.md` §11.2): every event is an
//! object with a `name` and a `channel`, plus the fields of its kind. This module only
//! describes events; deciding when to send them is the connection's job, and batching,
//! signing and delivery live in the sibling modules.

use serde::Serialize;

use crate::app::EventType;

/// One webhook event, serialised exactly as it appears in a request's `events` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub(crate) enum WebhookEvent {
    /// A channel got its first subscriber.
    ChannelOccupied {
        /// The channel.
        channel: String,
    },
    /// A channel lost its last subscriber.
    ChannelVacated {
        /// The channel.
        channel: String,
    },
    /// A user's first socket joined a presence channel.
    MemberAdded {
        /// The presence channel.
        channel: String,
        /// The member's user id.
        user_id: String,
    },
    /// A user's last socket left a presence channel.
    MemberRemoved {
        /// The presence channel.
        channel: String,
        /// The member's user id.
        user_id: String,
    },
    /// A socket sent a `client-*` event.
    ClientEvent {
        /// The private or presence channel it was sent on.
        channel: String,
        /// The event name, e.g. `client-typing`.
        event: String,
        /// The event data as text: Pusher delivers `data` as a string, so an object the
        /// client sent is passed on as its JSON text.
        data: String,
        /// The sending socket.
        socket_id: String,
        /// The sender's presence user id; only on presence channels.
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
    },
    /// A socket subscribed to a cache channel that had nothing cached.
    CacheMiss {
        /// The cache channel.
        channel: String,
    },
    /// A channel's subscriber count changed (apps with subscription counting only).
    SubscriptionCount {
        /// The channel; never a presence channel.
        channel: String,
        /// Sockets subscribed on this node.
        subscription_count: usize,
    },
}

impl WebhookEvent {
    /// A `cache_miss`.
    pub(crate) fn cache_miss(channel: &str) -> WebhookEvent {
        WebhookEvent::CacheMiss {
            channel: channel.to_string(),
        }
    }

    /// A `client_event`. `raw_data` is the `data` JSON as the client sent it: a JSON string is
    /// passed on as its text, anything else as its JSON text.
    pub(crate) fn client_event(
        channel: &str,
        event: &str,
        raw_data: &str,
        socket_id: &str,
        user_id: Option<&str>,
    ) -> WebhookEvent {
        let data = match serde_json::from_str::<String>(raw_data) {
            Ok(text) => text,
            Err(_) => raw_data.to_string(),
        };
        WebhookEvent::ClientEvent {
            channel: channel.to_string(),
            event: event.to_string(),
            data,
            socket_id: socket_id.to_string(),
            user_id: user_id.map(String::from),
        }
    }

    /// The event's kind.
    pub(crate) fn kind(&self) -> EventType {
        match self {
            WebhookEvent::ChannelOccupied { .. } => EventType::ChannelOccupied,
            WebhookEvent::ChannelVacated { .. } => EventType::ChannelVacated,
            WebhookEvent::MemberAdded { .. } => EventType::MemberAdded,
            WebhookEvent::MemberRemoved { .. } => EventType::MemberRemoved,
            WebhookEvent::ClientEvent { .. } => EventType::ClientEvent,
            WebhookEvent::CacheMiss { .. } => EventType::CacheMiss,
            WebhookEvent::SubscriptionCount { .. } => EventType::SubscriptionCount,
        }
    }

    /// The channel the event is about.
    pub(crate) fn channel(&self) -> &str {
        match self {
            WebhookEvent::ChannelOccupied { channel }
            | WebhookEvent::ChannelVacated { channel }
            | WebhookEvent::MemberAdded { channel, .. }
            | WebhookEvent::MemberRemoved { channel, .. }
            | WebhookEvent::ClientEvent { channel, .. }
            | WebhookEvent::CacheMiss { channel }
            | WebhookEvent::SubscriptionCount { channel, .. } => channel,
        }
    }

    /// The presence user id of member events; `None` for the others.
    pub(crate) fn member(&self) -> Option<&str> {
        match self {
            WebhookEvent::MemberAdded { user_id, .. }
            | WebhookEvent::MemberRemoved { user_id, .. } => Some(user_id),
            WebhookEvent::ChannelOccupied { .. }
            | WebhookEvent::ChannelVacated { .. }
            | WebhookEvent::ClientEvent { .. }
            | WebhookEvent::CacheMiss { .. }
            | WebhookEvent::SubscriptionCount { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(event: WebhookEvent, expected: serde_json::Value) {
        assert_eq!(serde_json::to_value(&event).unwrap(), expected);
        assert_eq!(
            EventType::parse(expected["name"].as_str().unwrap()),
            Some(event.kind())
        );
    }

    #[test]
    fn pusher_shapes() {
        let channel = || "c".to_string();
        check(
            WebhookEvent::ChannelOccupied { channel: channel() },
            json!({"name": "channel_occupied", "channel": "c"}),
        );
        check(
            WebhookEvent::ChannelVacated { channel: channel() },
            json!({"name": "channel_vacated", "channel": "c"}),
        );
        check(
            WebhookEvent::MemberAdded {
                channel: channel(),
                user_id: "7".into(),
            },
            json!({"name": "member_added", "channel": "c", "user_id": "7"}),
        );
        check(
            WebhookEvent::MemberRemoved {
                channel: channel(),
                user_id: "7".into(),
            },
            json!({"name": "member_removed", "channel": "c", "user_id": "7"}),
        );
        check(
            WebhookEvent::CacheMiss { channel: channel() },
            json!({"name": "cache_miss", "channel": "c"}),
        );
        check(
            WebhookEvent::SubscriptionCount {
                channel: channel(),
                subscription_count: 3,
            },
            json!({"name": "subscription_count", "channel": "c", "subscription_count": 3}),
        );
    }

    #[test]
    fn client_event_data_is_text() {
        check(
            WebhookEvent::client_event("private-c", "client-x", r#"{"a": 1}"#, "1.2", None),
            json!({"name": "client_event", "channel": "private-c", "event": "client-x",
                   "data": "{\"a\": 1}", "socket_id": "1.2"}),
        );
        check(
            WebhookEvent::client_event(
                "presence-c",
                "client-x",
                r#""hi \"you\"""#,
                "1.2",
                Some("u"),
            ),
            json!({"name": "client_event", "channel": "presence-c", "event": "client-x",
                   "data": "hi \"you\"", "socket_id": "1.2", "user_id": "u"}),
        );
    }

    #[test]
    fn names_round_trip() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.name()), Some(kind));
        }
        assert_eq!(EventType::parse("channel_existence"), None);
    }
}
