//! Failed attempts per client address (wrong console tokens), so a credential cannot be
//! guessed at full speed. Bounded: at most `MAX_ADDRESSES` addresses are remembered.

use std::net::IpAddr;
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

/// Wrong tokens an address may send per window before it is refused outright.
const MAX_FAILURES: u32 = 5;
/// How long an address's failures count.
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; past it, windows that ended are forgotten first.
const MAX_ADDRESSES: usize = 10_000;

/// Failed attempts per source address: after `MAX_FAILURES` within `WINDOW`, the address is
/// refused outright until the window ends, so guessing a credential costs a window per handful
/// of tries.
#[derive(Debug, Default)]
pub struct FailureThrottle {
    failures: DashMap<IpAddr, (Instant, u32)>,
}

impl FailureThrottle {
    /// `Some(seconds left)` when the address used up its failures for the current window.
    pub fn blocked(&self, address: IpAddr, now: Instant) -> Option<u64> {
        let entry = self.failures.get(&address)?;
        let (started, n_failures) = *entry;
        let ends = started + WINDOW;
        (n_failures >= MAX_FAILURES && now < ends)
            .then(|| ends.duration_since(now).as_secs().max(1))
    }

    /// Counts a failed attempt from `address`.
    pub fn fail(&self, address: IpAddr, now: Instant) {
        if self.failures.len() >= MAX_ADDRESSES {
            self.failures
                .retain(|_, (started, _)| now.duration_since(*started) < WINDOW);
        }
        let mut entry = self.failures.entry(address).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_failures_until_the_window_ends() {
        let throttle = FailureThrottle::default();
        let address: IpAddr = [127, 0, 0, 9].into();
        let other: IpAddr = [127, 0, 0, 10].into();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(throttle.blocked(address, now), None);
            throttle.fail(address, now);
        }
        assert_eq!(throttle.blocked(address, now), Some(WINDOW.as_secs()));
        assert_eq!(throttle.blocked(other, now), None);
        assert_eq!(throttle.blocked(address, now + WINDOW), None);
        throttle.fail(address, now + WINDOW);
        assert_eq!(throttle.blocked(address, now + WINDOW), None);
    }
}
