//! In-memory fixed windows, one per key.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use tokio::time::{Duration, Instant};

use super::{Check, Decision, RateLimiter};

/// One second: the window every limit uses.
pub(super) const WINDOW: Duration = Duration::from_secs(1);
/// Above this many keys, windows that ended are swept on the next check.
const SWEEP_ABOVE: usize = 4096;

/// Counts on this node only.
#[derive(Debug)]
pub(crate) struct LocalLimiter {
    windows: DashMap<String, Window>,
    /// Milliseconds since `created` of the last sweep, to sweep at most once a second.
    last_sweep_ms: AtomicU64,
    created: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    used: u32,
}

impl LocalLimiter {
    /// An empty limiter.
    pub(crate) fn new() -> LocalLimiter {
        LocalLimiter {
            windows: DashMap::new(),
            last_sweep_ms: AtomicU64::new(0),
            created: Instant::now(),
        }
    }

    /// The synchronous check, at `now`.
    pub(crate) fn check_at(&self, key: &str, cost: u32, limit: u32, now: Instant) -> Decision {
        self.maybe_sweep(now);
        let mut entry = self.windows.entry(key.to_string()).or_insert(Window {
            started: now,
            used: 0,
        });
        let window = entry.value_mut();
        if now.duration_since(window.started) >= WINDOW {
            *window = Window {
                started: now,
                used: 0,
            };
        }
        let retry_after = (window.started + WINDOW).saturating_duration_since(now);
        let fits = window
            .used
            .checked_add(cost)
            .is_some_and(|total| total <= limit);
        if fits {
            window.used += cost;
        }
        Decision {
            allowed: fits,
            limit,
            remaining: limit.saturating_sub(window.used),
            retry_after,
        }
    }

    fn maybe_sweep(&self, now: Instant) {
        if self.windows.len() <= SWEEP_ABOVE {
            return;
        }
        let now_ms = now.duration_since(self.created).as_millis() as u64;
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < 1000
            || self
                .last_sweep_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.windows
            .retain(|_, window| now.duration_since(window.started) < WINDOW);
    }
}

impl Default for LocalLimiter {
    fn default() -> Self {
        LocalLimiter::new()
    }
}

impl RateLimiter for LocalLimiter {
    fn check<'a>(&'a self, key: &'a str, cost: u32, limit_per_sec: u32) -> Check<'a> {
        let decision = self.check_at(key, cost, limit_per_sec, Instant::now());
        Box::pin(std::future::ready(decision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(allowed, remaining)` after each check.
    fn check(limiter: &LocalLimiter, cost: u32, at_ms: u64, start: Instant) -> (bool, u32) {
        let decision = limiter.check_at("k", cost, 3, start + Duration::from_millis(at_ms));
        (decision.allowed, decision.remaining)
    }

    #[test]
    fn fixed_window_spends_and_recovers() {
        let limiter = LocalLimiter::new();
        let start = Instant::now();
        assert_eq!(check(&limiter, 2, 0, start), (true, 1));
        assert_eq!(check(&limiter, 2, 10, start), (false, 1), "2 > 1 left");
        assert_eq!(check(&limiter, 1, 20, start), (true, 0));
        assert_eq!(check(&limiter, 1, 999, start), (false, 0));
        assert_eq!(check(&limiter, 3, 1000, start), (true, 0), "new window");
        assert_eq!(
            check(&limiter, 4, 2500, start),
            (false, 3),
            "cost above the limit"
        );
    }

    #[test]
    fn retry_after_is_the_rest_of_the_window() {
        let limiter = LocalLimiter::new();
        let start = Instant::now();
        limiter.check_at("k", 1, 1, start);
        let denied = limiter.check_at("k", 1, 1, start + Duration::from_millis(300));
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after, Duration::from_millis(700));
        assert_eq!(denied.retry_after_secs(), 1);
    }

    #[test]
    fn keys_are_independent_and_old_windows_are_swept() {
        let limiter = LocalLimiter::new();
        let start = Instant::now();
        for n in 0..=SWEEP_ABOVE {
            limiter.check_at(&format!("k{n}"), 1, 1, start);
        }
        assert!(limiter.check_at("other", 1, 1, start).allowed);
        let later = start + Duration::from_secs(5);
        limiter.check_at("fresh", 1, 1, later);
        assert_eq!(limiter.windows.len(), 1, "ended windows were swept");
    }
}
