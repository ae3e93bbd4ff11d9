//! Which channels of an app keep their recent events, so clients with the recovery add-on
//! get what they missed during a short disconnect (see `history`), and how much they keep.

use std::time::Duration;

/// An app's history settings. No patterns (the default) means no channel keeps history, and
/// nothing about the app's frames changes.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPolicy {
    /// Channel-name patterns; `*` matches any run of characters (`private-dashboard-*`).
    pub channels: Vec<String>,
    /// Events kept per channel.
    pub max_events: usize,
    /// How long an event is kept.
    pub max_age: Duration,
    /// Bytes of frames kept per channel (the oldest go first).
    pub max_channel_bytes: usize,
    /// Bytes of frames kept for the whole app on one node (in-memory history): past it, the
    /// channels published to least recently lose their history first.
    pub max_app_bytes: usize,
}

impl Default for HistoryPolicy {
    fn default() -> Self {
        HistoryPolicy {
            channels: Vec::new(),
            max_events: 100,
            max_age: Duration::from_secs(300),
            max_channel_bytes: 1024 * 1024,
            max_app_bytes: 64 * 1024 * 1024,
        }
    }
}

impl HistoryPolicy {
    /// Whether `channel` keeps history.
    pub fn covers(&self, channel: &str) -> bool {
        self.channels
            .iter()
            .any(|pattern| glob_matches(pattern, channel))
    }

    /// Whether any channel keeps history.
    pub fn enabled(&self) -> bool {
        !self.channels.is_empty()
    }
}

/// `*` matches any run of characters (none included); every other character itself.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn patterns() {
        assert!(glob_matches(
            "private-dashboard-*",
            "private-dashboard-stats"
        ));
        assert!(glob_matches("private-dashboard-*", "private-dashboard-"));
        assert!(!glob_matches("private-dashboard-*", "private-dashboards"));
        assert!(glob_matches("exact", "exact"));
        assert!(!glob_matches("exact", "exact2"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("a*b*c", "a-x-b-y-c"));
        assert!(!glob_matches("a*b*c", "a-x-c-y-b"));
        assert!(glob_matches("*-stats", "private-dashboard-stats"));
        assert!(!glob_matches("ab*ba", "aba"), "the parts must not overlap");
    }
}
