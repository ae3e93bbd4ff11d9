//! `cache_miss` de-duplication: many sockets subscribing to the same empty cache channel at
//! once (a deploy, a reconnect storm) should ask the backend to fill the cache once, not once
//! per socket. Pusher de-duplicates these webhooks too.
//!
//! Pure state keyed by app and channel; the caller passes the instants.

use sockwave_protocol::AppId;
use std::collections::HashMap;

use tokio::time::{Duration, Instant};

/// How long a `cache_miss` for one channel suppresses the next ones.
pub(crate) const CACHE_MISS_WINDOW: Duration = Duration::from_secs(5);

/// Above this many remembered channels, expired entries are swept on insert.
const SWEEP_ABOVE: usize = 4096;

/// Remembers when each channel's last `cache_miss` went out.
#[derive(Debug)]
pub(crate) struct CacheMissDedupe {
    window: Duration,
    sent: HashMap<(String, String), Instant>,
}

impl CacheMissDedupe {
    pub(crate) fn new(window: Duration) -> CacheMissDedupe {
        CacheMissDedupe {
            window,
            sent: HashMap::new(),
        }
    }

    /// Whether a `cache_miss` for this channel at `at` should be sent.
    pub(crate) fn admit(&mut self, app_id: &AppId, channel: &str, at: Instant) -> bool {
        let key = (app_id.to_string(), channel.to_string());
        if self
            .sent
            .get(&key)
            .is_some_and(|sent| at < *sent + self.window)
        {
            return false;
        }
        if self.sent.len() >= SWEEP_ABOVE {
            let window = self.window;
            self.sent.retain(|_, sent| at < *sent + window);
        }
        self.sent.insert(key, at);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_miss_per_channel_per_window() {
        let mut dedupe = CacheMissDedupe::new(CACHE_MISS_WINDOW);
        let start = Instant::now();
        assert!(dedupe.admit(&AppId::from("a"), "cache-x", start));
        assert!(!dedupe.admit(&AppId::from("a"), "cache-x", start + Duration::from_secs(4)));
        assert!(
            dedupe.admit(&AppId::from("a"), "cache-y", start),
            "another channel"
        );
        assert!(
            dedupe.admit(&AppId::from("b"), "cache-x", start),
            "another app"
        );
        assert!(dedupe.admit(&AppId::from("a"), "cache-x", start + CACHE_MISS_WINDOW));
    }
}
