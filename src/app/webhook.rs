//! Where an app's webhooks go: `WebhookTarget` (URL, event kinds, channel filter, extra
//! headers), the `EventType`s a target names, and `WebhookUrl`, which never shows the
//! credentials a URL may carry.
//!
//! Configuration data of the app, built and validated by `config`; the `webhooks` module
//! builds, batches, signs and sends the events.

/// Headers every webhook request carries, which a target's extra headers may not replace
/// (lowercase; header names are case-insensitive).
pub const RESERVED_HEADERS: [&str; 3] = ["content-type", "x-pusher-key", "x-pusher-signature"];

/// A webhook URL. Credentials in it (`https://user:password@host/…`) are for the request
/// only: `Display` and `Debug` mask them, so the URL can go into logs, the delivery log, the
/// console and `config check` without leaking them.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    full: String,
    shown: String,
}

impl WebhookUrl {
    /// Wraps an absolute URL (validated by `config`).
    pub fn new(url: impl Into<String>) -> WebhookUrl {
        let full = url.into();
        let shown = masked(&full);
        WebhookUrl { full, shown }
    }

    /// The URL to send to, credentials included. Never log this.
    pub(crate) fn as_str(&self) -> &str {
        &self.full
    }

    /// The URL with any password (or a user name standing alone, often a token) replaced
    /// by `****`.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }
}

impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.shown)
    }
}

fn masked(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return url.to_string();
    };
    let hidden = if parsed.password().is_some() {
        parsed.set_password(Some("****")).is_ok()
    } else if !parsed.username().is_empty() {
        parsed.set_username("****").is_ok()
    } else {
        return url.to_string();
    };
    if hidden {
        parsed.to_string()
    } else {
        "(a URL with credentials that cannot be shown)".to_string()
    }
}

/// One webhook of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// An absolute `http://` or `https://` URL.
    pub url: WebhookUrl,
    /// The event kinds sent to this URL.
    pub event_types: Vec<EventType>,
    /// Only events on channels whose names match are sent.
    pub filter: ChannelFilter,
    /// Extra request headers. Never `Content-Type`, `X-Pusher-Key` or `X-Pusher-Signature`:
    /// configuration refuses those.
    pub headers: Vec<(String, String)>,
}

/// A channel-name filter; an empty filter matches every channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelFilter {
    /// The channel name must start with this.
    pub starts_with: Option<String>,
    /// The channel name must end with this.
    pub ends_with: Option<String>,
}

impl ChannelFilter {
    /// Whether `channel` passes the filter.
    pub(crate) fn matches(&self, channel: &str) -> bool {
        self.starts_with
            .as_deref()
            .is_none_or(|prefix| channel.starts_with(prefix))
            && self
                .ends_with
                .as_deref()
                .is_none_or(|suffix| channel.ends_with(suffix))
    }
}

impl WebhookTarget {
    /// Whether this target receives events of `kind` on `channel`.
    pub(crate) fn wants(&self, kind: EventType, channel: &str) -> bool {
        self.event_types.contains(&kind) && self.filter.matches(channel)
    }

    /// Whether an event of `kind` on `channel` must reach the delivery worker for this
    /// target: either the target wants it, or it may cancel a held event the target wants. A
    /// target that subscribes only to `channel_vacated` still needs `channel_occupied` to see
    /// that a reload cancelled the vacate.
    pub(crate) fn concerns(&self, kind: EventType, channel: &str) -> bool {
        let wanted = self.event_types.contains(&kind)
            || kind
                .cancels()
                .is_some_and(|cancelled| self.event_types.contains(&cancelled));
        wanted && self.filter.matches(channel)
    }
}

/// The kind of a webhook event, as named in a target's `event_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `channel_occupied`
    ChannelOccupied,
    /// `channel_vacated`
    ChannelVacated,
    /// `member_added`
    MemberAdded,
    /// `member_removed`
    MemberRemoved,
    /// `client_event`
    ClientEvent,
    /// `cache_miss`
    CacheMiss,
    /// `subscription_count`
    SubscriptionCount,
}

impl EventType {
    /// Every event type, in the order the docs list them.
    pub const ALL: [EventType; 7] = [
        EventType::ChannelOccupied,
        EventType::ChannelVacated,
        EventType::MemberAdded,
        EventType::MemberRemoved,
        EventType::ClientEvent,
        EventType::CacheMiss,
        EventType::SubscriptionCount,
    ];

    /// The name used in configuration and in the event's `name` field.
    pub(crate) fn name(self) -> &'static str {
        match self {
            EventType::ChannelOccupied => "channel_occupied",
            EventType::ChannelVacated => "channel_vacated",
            EventType::MemberAdded => "member_added",
            EventType::MemberRemoved => "member_removed",
            EventType::ClientEvent => "client_event",
            EventType::CacheMiss => "cache_miss",
            EventType::SubscriptionCount => "subscription_count",
        }
    }

    /// The type with this name, if any.
    pub(crate) fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The event that undoes this one when it follows within the leave delay: a held
    /// `channel_vacated` is cancelled by `channel_occupied`, `member_removed` by
    /// `member_added`.
    pub(crate) fn cancels(self) -> Option<EventType> {
        match self {
            EventType::ChannelOccupied => Some(EventType::ChannelVacated),
            EventType::MemberAdded => Some(EventType::MemberRemoved),
            EventType::ChannelVacated
            | EventType::MemberRemoved
            | EventType::ClientEvent
            | EventType::CacheMiss
            | EventType::SubscriptionCount => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show() {
        let url = WebhookUrl::new("https://hooks:s3cret-pass@example.com/in?x=1");
        assert_eq!(url.as_str(), "https://hooks:s3cret-pass@example.com/in?x=1");
        assert_eq!(url.to_string(), "https://hooks:****@example.com/in?x=1");
        assert_eq!(
            format!("{url:?}"),
            "\"https://hooks:****@example.com/in?x=1\""
        );
        let token = WebhookUrl::new("https://tok3n@example.com/in");
        assert_eq!(token.shown(), "https://****@example.com/in");
        let plain = WebhookUrl::new("http://127.0.0.1:8080/hook");
        assert_eq!(plain.shown(), "http://127.0.0.1:8080/hook");
    }

    fn target(types: &[EventType], starts: Option<&str>, ends: Option<&str>) -> WebhookTarget {
        WebhookTarget {
            url: WebhookUrl::new("http://127.0.0.1/hook"),
            event_types: types.to_vec(),
            filter: ChannelFilter {
                starts_with: starts.map(String::from),
                ends_with: ends.map(String::from),
            },
            headers: Vec::new(),
        }
    }

    #[test]
    fn filters_by_prefix_and_suffix() {
        let both = target(&[EventType::ChannelOccupied], Some("beta-"), Some("-app"));
        let check = |channel: &str, expected: bool| {
            assert_eq!(
                both.wants(EventType::ChannelOccupied, channel),
                expected,
                "{channel}"
            );
        };
        check("beta-chat-app", true);
        check("beta-chat", false);
        check("chat-app", false);
        check("chat-room", false);
        let none = target(&[EventType::ChannelOccupied], None, None);
        assert!(none.wants(EventType::ChannelOccupied, "anything"));
    }

    #[test]
    fn event_types_and_cancellers() {
        let vacated_only = target(&[EventType::ChannelVacated], None, None);
        assert!(!vacated_only.wants(EventType::ChannelOccupied, "c"));
        assert!(vacated_only.concerns(EventType::ChannelOccupied, "c"));
        let removed_only = target(&[EventType::MemberRemoved], Some("presence-"), None);
        assert!(removed_only.concerns(EventType::MemberAdded, "presence-a"));
        assert!(!removed_only.concerns(EventType::MemberAdded, "private-a"));
        assert!(!removed_only.concerns(EventType::ChannelOccupied, "presence-a"));
    }
}
