//! The inbound message budget of one socket: a token bucket over every WebSocket message
//! it sends (text, binary, ping, pong), so a flooding client costs a bounded amount of CPU.
//!
//! Pure: the caller passes the clock. What happens when the budget runs out (the socket is
//! closed with 4100) is the connection loop's decision, not this type's.

use tokio::time::{Duration, Instant};

/// A token bucket: `burst` messages at once, refilled at `per_second`.
#[derive(Debug, Clone)]
pub(crate) struct MessageRate {
    per_second: u32,
    burst: u32,
    /// Tokens left, in millionths of a message, so refills need no floating point.
    micro_tokens: u64,
    refilled_at: Instant,
}

const MICRO: u64 = 1_000_000;

impl MessageRate {
    /// A full bucket.
    pub(crate) fn new(per_second: u32, burst: u32, now: Instant) -> MessageRate {
        MessageRate {
            per_second,
            burst,
            micro_tokens: u64::from(burst) * MICRO,
            refilled_at: now,
        }
    }

    /// Takes one message from the budget; `false` when the socket is over it.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled_at);
        self.refilled_at = self.refilled_at.max(now);
        let refill = micros(elapsed).saturating_mul(u64::from(self.per_second));
        self.micro_tokens = self
            .micro_tokens
            .saturating_add(refill)
            .min(u64::from(self.burst) * MICRO);
        if self.micro_tokens >= MICRO {
            self.micro_tokens -= MICRO;
            true
        } else {
            false
        }
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let start = Instant::now();
        let mut rate = MessageRate::new(10, 5, start);
        assert!(
            (0..5).all(|_| rate.allow(start)),
            "the burst is available at once"
        );
        assert!(!rate.allow(start), "then the bucket is empty");
        // 100 ms refills exactly one message at 10/s.
        let later = start + Duration::from_millis(100);
        assert!(rate.allow(later));
        assert!(!rate.allow(later));
        // A long pause refills only up to the burst.
        let much_later = later + Duration::from_secs(3600);
        assert!((0..5).all(|_| rate.allow(much_later)));
        assert!(!rate.allow(much_later));
    }

    #[test]
    fn a_steady_client_under_the_rate_is_never_refused() {
        let start = Instant::now();
        let mut rate = MessageRate::new(100, 1, start);
        for n in 1..=10_000u64 {
            assert!(rate.allow(start + Duration::from_millis(10 * n)), "{n}");
        }
    }

    #[test]
    fn a_clock_going_backwards_refills_nothing() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut rate = MessageRate::new(10, 1, start);
        assert!(rate.allow(start));
        assert!(!rate.allow(start - Duration::from_secs(5)));
    }
}
