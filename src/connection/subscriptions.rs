//! The channels one socket is subscribed to, with the presence user id it joined each as.
//! Most sockets hold one channel or a few, and every socket holds this for its whole life:
//! a vector searched in order costs 32 bytes per channel (plus the names), where a hash map
//! took about 200 bytes for the first one. The search stays short: a socket holds at most
//! `MAX_CHANNELS_PER_SOCKET` channels, and it is searched on subscribe, unsubscribe and
//! client events, never per delivery.

/// Subscribed channels, in the order they were joined.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    entries: Vec<(Box<str>, Option<Box<str>>)>,
}

impl Subscriptions {
    /// How many channels.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the socket is subscribed to `channel`.
    pub(crate) fn contains(&self, channel: &str) -> bool {
        self.position(channel).is_some()
    }

    /// The presence user id the socket joined `channel` as (`Some(None)` for a channel
    /// without members), or `None` when it is not subscribed.
    pub(crate) fn get(&self, channel: &str) -> Option<Option<&str>> {
        let index = self.position(channel)?;
        Some(self.entries[index].1.as_deref())
    }

    /// Records a subscription (replacing the user id of one already held).
    pub(crate) fn insert(&mut self, channel: &str, user_id: Option<String>) {
        let user_id = user_id.map(String::into_boxed_str);
        match self.position(channel) {
            Some(index) => self.entries[index].1 = user_id,
            None => {
                // Exactly one more slot: a vector's first growth would take four.
                self.entries.reserve_exact(1);
                self.entries.push((channel.into(), user_id));
            }
        }
    }

    /// Forgets a subscription; whether it was held.
    pub(crate) fn remove(&mut self, channel: &str) -> bool {
        let Some(index) = self.position(channel) else {
            return false;
        };
        self.entries.swap_remove(index);
        if self.entries.is_empty() {
            self.entries = Vec::new();
        }
        true
    }

    /// The channels' names.
    pub(crate) fn names(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(name, _)| name.to_string())
            .collect()
    }

    fn position(&self, channel: &str) -> Option<usize> {
        self.entries.iter().position(|(name, _)| &**name == channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_channels_with_their_user_ids() {
        let mut subs = Subscriptions::default();
        assert!(!subs.contains("a"));
        subs.insert("a", None);
        subs.insert("presence-b", Some("u1".to_string()));
        assert_eq!(subs.len(), 2);
        assert_eq!(subs.get("a"), Some(None));
        assert_eq!(subs.get("presence-b"), Some(Some("u1")));
        assert_eq!(subs.get("c"), None);
        subs.insert("presence-b", Some("u2".to_string()));
        assert_eq!(subs.len(), 2, "a repeated insert replaces");
        assert_eq!(subs.get("presence-b"), Some(Some("u2")));
        let mut names = subs.names();
        names.sort();
        assert_eq!(names, ["a", "presence-b"]);
        assert!(subs.remove("a"));
        assert!(!subs.remove("a"), "already gone");
        assert!(!subs.contains("a") && subs.contains("presence-b"));
        assert!(subs.remove("presence-b"));
        assert_eq!(subs.len(), 0);
    }
}
