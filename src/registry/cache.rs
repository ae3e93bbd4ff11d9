//! The last event published to each cache channel (`cache-*`, `private-cache-*`,
//! `private-encrypted-cache-*`, `presence-cache-*`), kept for a TTL whether or not anybody
//! is subscribed.

use dashmap::DashMap;
use tokio::time::{Duration, Instant};

/// One cached event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedEvent {
    /// Event name.
    pub(crate) event: String,
    /// Event data, as published.
    pub(crate) data: String,
    /// When it stops being served.
    pub(crate) expires_at: Instant,
}

impl CachedEvent {
    /// Whole seconds left before it expires (at least 1 while it is served).
    pub(crate) fn ttl_secs(&self, now: Instant) -> u64 {
        self.expires_at
            .saturating_duration_since(now)
            .as_secs()
            .max(1)
    }
}

/// Longest time an event stays cached. Longer TTLs (a huge `cache_ttl`, or a `ttl_secs`
/// from another node) are cut to this, because `Instant + Duration` panics on overflow.
pub(crate) const MAX_CACHE_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Cache of one app.
#[derive(Debug, Default)]
pub(crate) struct ChannelCache {
    events: DashMap<String, CachedEvent>,
}

impl ChannelCache {
    /// Stores the last event of a channel for `ttl`.
    pub(crate) fn put(&self, channel: &str, event: &str, data: &str, ttl: Duration, now: Instant) {
        self.events.insert(
            channel.to_string(),
            CachedEvent {
                event: event.to_string(),
                data: data.to_string(),
                expires_at: now + ttl.min(MAX_CACHE_TTL),
            },
        );
    }

    /// The cached event of a channel, unless it expired.
    pub(crate) fn get(&self, channel: &str, now: Instant) -> Option<CachedEvent> {
        let cached = self.events.get(channel)?.clone();
        if cached.expires_at <= now {
            self.events.remove_if(channel, |_, c| c.expires_at <= now);
            return None;
        }
        Some(cached)
    }

    /// Drops every expired entry; returns how many remain.
    pub(crate) fn sweep(&self, now: Instant) -> usize {
        self.events.retain(|_, cached| cached.expires_at > now);
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let cache = ChannelCache::default();
        let now = Instant::now();
        cache.put("cache-a", "e", "1", Duration::from_secs(10), now);
        let hit = cache.get("cache-a", now + Duration::from_secs(4)).unwrap();
        assert_eq!(
            (
                hit.data.as_str(),
                hit.ttl_secs(now + Duration::from_secs(4))
            ),
            ("1", 6)
        );
        assert_eq!(cache.get("cache-a", now + Duration::from_secs(10)), None);
        cache.put("cache-b", "e", "1", Duration::from_secs(1), now);
        assert_eq!(cache.sweep(now + Duration::from_secs(2)), 0);
    }

    /// Regression (fuzz target `node_message`, and `cache_ttl` in the config): a broadcast
    /// from another node with `"ttl_secs": 18446744073709551615` made `now + ttl` panic in
    /// the cluster actor, which then stopped applying every other node's messages.
    #[test]
    fn huge_ttls_are_capped_instead_of_overflowing() {
        let cache = ChannelCache::default();
        let now = Instant::now();
        cache.put("cache-a", "e", "1", Duration::from_secs(u64::MAX), now);
        let hit = cache.get("cache-a", now).unwrap();
        assert_eq!(hit.ttl_secs(now), MAX_CACHE_TTL.as_secs());
    }
}
