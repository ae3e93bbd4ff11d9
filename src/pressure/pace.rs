//! Pacing publishes after another node said it was behind. Refusing everything while a node
//! is behind, and nothing once it has caught up, swings: the moment the refusals
//! lapse, 32 keep-alive publishers get thousands of events accepted before the next signal
//! arrives, and each of those waits, a second deep, in the flooded node's queue. So a signal
//! also carries the rate the node was delivering at, and for `PACE_FOR` after it this node
//! admits publishes below that rate, raising the rate gently while no new signal comes (the
//! node may have been slowed by something else that has passed).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tokio::time::{Duration, Instant};

/// Share of the reported rate admitted at first: below what the node managed, so whatever
/// waits there drains.
const START_SHARE: f64 = 0.8;
/// How much the admitted rate grows per second without a new signal.
const GROWTH_PER_SECOND: f64 = 0.1;
/// Pacing ends this long after the last signal.
pub(crate) const PACE_FOR: Duration = Duration::from_secs(10);
/// Events admitted at once above the rate, as seconds of it.
const BURST_SECONDS: f64 = 0.05;
/// Events admitted at once at least, so a batch (10 events by default) can go at a low rate.
const BATCH_ROOM: f64 = 20.0;

/// The pace this node admits publishes at, if another node asked for one.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    /// Whether `pace` is set: publishes check this alone while nobody is behind.
    on: AtomicBool,
    pace: Mutex<Option<Pace>>,
}

#[derive(Debug)]
struct Pace {
    /// The node that asked.
    node: String,
    /// Events per second admitted now.
    rate: f64,
    /// Events that may go now (negative after a batch: the debt is paid first).
    tokens: f64,
    last: Instant,
    signalled: Instant,
}

impl Pacer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Pace>> {
        self.pace.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `node` is behind and was delivering `rate` of this cluster's messages a second.
    pub(crate) fn signal(&self, node: &str, rate: u64, now: Instant) {
        if rate == 0 {
            return;
        }
        let start = rate as f64 * START_SHARE;
        let mut pace = self.lock();
        let rate = match &*pace {
            Some(current) if now < current.signalled + PACE_FOR => current.rate.min(start),
            _ => start,
        };
        *pace = Some(Pace {
            node: node.to_string(),
            rate,
            tokens: 0.0,
            last: now,
            signalled: now,
        });
        self.on.store(true, Ordering::Relaxed);
    }

    /// Whether a publish of `events` events may go now; `Some(node)` names the node whose
    /// pace refuses it. A batch needs room for all of its events at once, so concurrent
    /// batches cannot each slip through on the last token.
    pub(crate) fn admit(&self, events: usize, now: Instant) -> Option<String> {
        if !self.on.load(Ordering::Relaxed) {
            return None;
        }
        let mut guard = self.lock();
        let pace = guard.as_mut()?;
        if now >= pace.signalled + PACE_FOR {
            *guard = None;
            self.on.store(false, Ordering::Relaxed);
            return None;
        }
        let elapsed = now.saturating_duration_since(pace.last).as_secs_f64();
        pace.last = now;
        pace.rate *= 1.0 + GROWTH_PER_SECOND * elapsed;
        let cost = events.max(1) as f64;
        let room = (pace.rate * BURST_SECONDS).max(BATCH_ROOM).max(cost);
        pace.tokens = (pace.tokens + elapsed * pace.rate).min(room);
        if pace.tokens < cost {
            return Some(pace.node.clone());
        }
        pace.tokens -= cost;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events admitted over `seconds`, one attempt per millisecond from `start`.
    fn admitted(pacer: &Pacer, start: Instant, seconds: u64) -> u64 {
        (0..seconds * 1000)
            .filter(|ms| pacer.admit(1, start + Duration::from_millis(*ms)).is_none())
            .count() as u64
    }

    #[test]
    fn publishes_go_below_the_reported_rate_then_faster_then_freely() {
        let pacer = Pacer::default();
        let now = Instant::now();
        assert_eq!(pacer.admit(1, now), None, "nobody asked");
        pacer.signal("a", 500, now);
        let first = admitted(&pacer, now, 1);
        assert!(
            (380..=440).contains(&first),
            "~80 % of 500 in the first second: {first}"
        );
        let later = admitted(&pacer, now + Duration::from_secs(5), 1);
        assert!(
            later > first,
            "the rate grows without a new signal: {later} vs {first}"
        );
        assert_eq!(pacer.admit(1, now + PACE_FOR), None);
        assert_eq!(
            admitted(&pacer, now + PACE_FOR, 1),
            1000,
            "free after PACE_FOR"
        );
    }

    #[test]
    fn a_batch_waits_for_room_for_all_its_events() {
        let pacer = Pacer::default();
        let now = Instant::now();
        pacer.signal("a", 100, now);
        // 80 events a second: after 100 ms, 8 tokens; a batch of 10 waits, a single goes.
        let at = now + Duration::from_millis(100);
        assert_eq!(pacer.admit(10, at), Some("a".to_string()));
        assert_eq!(pacer.admit(1, at), None);
        let ms = |n| at + Duration::from_millis(n);
        assert_eq!(pacer.admit(10, ms(20)), Some("a".to_string()), "8.7 tokens");
        assert_eq!(pacer.admit(10, ms(50)), None, "11.1 tokens");
        assert_eq!(pacer.admit(2, ms(51)), Some("a".to_string()), "1.2 left");
    }

    #[test]
    fn a_zero_rate_does_not_pace() {
        let pacer = Pacer::default();
        pacer.signal("a", 0, Instant::now());
        assert_eq!(pacer.admit(1, Instant::now()), None);
    }
}
