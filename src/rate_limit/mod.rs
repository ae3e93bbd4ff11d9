//! Rate limits: per-app backend events and read requests per second (HTTP API), per client
//! address WebSocket connection limits, and failed console logins per address.
//!
//! Limits are fixed one-second windows: a key may spend `limit` points per window; a request
//! costs its points (`POST /events` costs one per channel, as in Soketi). The `RateLimiter`
//! trait is the seam: `LocalLimiter` counts in memory on this node, `RedisLimiter` counts in
//! Redis so every node shares the budget (chosen by `server.rs` when the cluster runs on
//! Redis), falling back to the local count while Redis is unreachable.
//!
//! This module decides; it does not build HTTP responses (`http_api` does) nor close sockets.
//! Per-socket client-event limits stay in `connection::session`, which owns the socket.

mod failures;
mod ip;
mod local;
mod redis;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use failures::FailureThrottle;
pub(crate) use ip::{IpLimits, IpRefusal, IpSlot};
pub(crate) use local::LocalLimiter;
pub(crate) use redis::RedisLimiter;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the points were granted.
    pub allowed: bool,
    /// Points per window (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Points left in the current window (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// When the window resets (`Retry-After`, rounded up to whole seconds).
    pub retry_after: Duration,
}

impl Decision {
    /// `Retry-After` in whole seconds, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// A future a limiter returns.
pub(crate) type Check<'a> = Pin<Box<dyn Future<Output = Decision> + Send + 'a>>;

/// Counts points per key in one-second windows.
///
/// Contract: `check` spends `cost` points of `key`'s budget of `limit_per_sec` in the current
/// window when they fit, and reports `allowed: false` without spending when they do not. A
/// cost above the limit is never allowed. Implementations never fail: when their store is
/// unavailable they decide locally.
pub trait RateLimiter: Send + Sync {
    /// Spends `cost` points of `key`'s budget if they fit.
    fn check<'a>(&'a self, key: &'a str, cost: u32, limit_per_sec: u32) -> Check<'a>;
}

/// The limits every task shares.
pub struct RateLimits {
    /// Per-app HTTP API limits (local or shared through Redis).
    pub api: Arc<dyn RateLimiter>,
    /// Per client address WebSocket connection limits (always node-local).
    pub ip: IpLimits,
    /// Wrong console tokens per client address (always node-local).
    pub console_failures: FailureThrottle,
}

impl Default for RateLimits {
    /// Local limiter, no per-IP limits.
    fn default() -> Self {
        RateLimits {
            api: Arc::new(LocalLimiter::default()),
            ip: IpLimits::new(None, None),
            console_failures: FailureThrottle::default(),
        }
    }
}
