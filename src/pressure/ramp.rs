//! Slow start for deliveries on other nodes. The signals (`super`) take time: the flooded
//! node falls behind, its late messages show it (`transit`), it says so, and the word
//! crosses the bus. A flood that
//! starts at full speed — 32 keep-alive publishers, 20,000 events a second to a channel with
//! 1,000 subscribers on another node, where that node delivers 1,500 — is accepted at full
//! speed for that round trip, and what it left in the flooded node's queue is delivered a
//! second or more late. So the deliveries a node's publishes cause on the busiest other node
//! (they deliver in parallel) are admitted at a rate that starts at `START` a second and
//! doubles every `STEP` in which the publishers use at least half of it: a sudden flood
//! reaches the flooded node at most about twice as fast as it keeps up by the time its signal
//! arrives, and the pacing takes over.
//! The rate halves (not below `START`) for every step in which less than a quarter of it was
//! used, so after a quiet spell the next flood starts slowly again. A burst of `BURST`
//! deliveries goes at once (a second's worth at the start: the flooded node is at most a
//! fraction of a second behind for it). Publishes to channels without subscribers elsewhere
//! cost nothing here, and `START` is above what a dashboard's events cause (250 events a
//! second to 1,000 subscribers elsewhere).

use std::sync::Mutex;

use tokio::time::{Duration, Instant};

/// Deliveries on other nodes a second admitted from a standing start.
pub(crate) const START: f64 = 250_000.0;
/// Deliveries that may go at once, whatever the rate: a burst (a queue of broadcast jobs
/// flushed at once) passes whole; at the start rate it is one second's worth.
pub(crate) const BURST: f64 = START;
/// How often the rate is reconsidered.
pub(crate) const STEP: Duration = Duration::from_millis(100);
/// Doubling stops here (far above what any node delivers).
const MAX: f64 = 1e12;

/// The admitted rate of deliveries on other nodes.
#[derive(Debug)]
pub(crate) struct Ramp {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Deliveries a second admitted now.
    rate: f64,
    /// Deliveries that may go now (negative after a big publish: the debt is paid first).
    tokens: f64,
    last: Instant,
    /// The current step: when it began and the deliveries admitted in it.
    step_start: Instant,
    used: f64,
}

impl Ramp {
    /// A ramp at `START`, with a burst ready.
    pub(crate) fn new(now: Instant) -> Ramp {
        Ramp {
            state: Mutex::new(State {
                rate: START,
                tokens: BURST,
                last: now,
                step_start: now,
                used: 0.0,
            }),
        }
    }

    /// Whether a publish causing `deliveries` deliveries on other nodes may go now. One
    /// publish may cost more than the burst (an event to 100,000 subscribers): it goes
    /// once the tokens are not negative, and the ones after it wait until its debt is paid.
    pub(crate) fn admit(&self, deliveries: usize, now: Instant) -> bool {
        if deliveries == 0 {
            return true;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let in_step = now.saturating_duration_since(state.step_start);
        if in_step >= STEP {
            let offered = state.rate * in_step.as_secs_f64();
            if state.used * 2.0 >= offered {
                state.rate = (state.rate * 2.0).min(MAX);
            } else if state.used * 4.0 < offered {
                let quiet_steps = (in_step.as_secs_f64() / STEP.as_secs_f64()).min(64.0);
                state.rate = (state.rate / 2f64.powf(quiet_steps.floor())).max(START);
            }
            state.step_start = now;
            state.used = 0.0;
        }
        let elapsed = now.saturating_duration_since(state.last).as_secs_f64();
        state.last = now;
        let room = (state.rate * STEP.as_secs_f64()).max(BURST);
        state.tokens = (state.tokens + elapsed * state.rate).min(room);
        if state.tokens < 0.0 {
            return false;
        }
        state.tokens -= deliveries as f64;
        state.used += deliveries as f64;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deliveries admitted over `ms` milliseconds from `start`, offered `each` at a time,
    /// ten offers a millisecond.
    fn admitted(ramp: &Ramp, start: Instant, ms: u64, each: usize) -> u64 {
        let mut total = 0;
        for tenth in 0..ms * 10 {
            if ramp.admit(each, start + Duration::from_micros(tenth * 100)) {
                total += each as u64;
            }
        }
        total
    }

    #[test]
    fn a_flood_starts_slowly_then_doubles_each_step() {
        let start = Instant::now();
        let ramp = Ramp::new(start);
        // 1,000 subscribers elsewhere, 10,000 events a second offered: 10 M deliveries/s.
        let first = admitted(&ramp, start, 100, 1000);
        assert!(
            (250_000..=280_000).contains(&first),
            "a burst ready plus 250k/s for 100 ms: {first}"
        );
        let second = admitted(&ramp, start + STEP, 100, 1000);
        assert!(
            (45_000..=60_000).contains(&second),
            "500k/s in the second step: {second}"
        );
        let fifth = admitted(&ramp, start + STEP * 2, 300, 1000);
        // 1 M, 2 M and 4 M a second: 14 times the second step's.
        assert!(
            fifth > 8 * second && fifth < 16 * second,
            "doubling: {fifth} after {second}"
        );
    }

    #[test]
    fn a_dashboard_is_never_held() {
        let start = Instant::now();
        let ramp = Ramp::new(start);
        // 100 events a second to 1,000 subscribers elsewhere, for 10 s.
        for event in 0..1000u64 {
            let at = start + Duration::from_millis(event * 10);
            assert!(ramp.admit(1000, at), "event {event} held");
        }
        // One event to 100,000 subscribers elsewhere: more than a step's worth, admitted.
        assert!(ramp.admit(100_000, start + Duration::from_secs(11)));
        assert!(ramp.admit(0, start + Duration::from_secs(11)), "free");
    }

    #[test]
    fn a_burst_of_queued_jobs_goes_at_once() {
        let start = Instant::now();
        let ramp = Ramp::new(start);
        // 250 events to 1,000 subscribers elsewhere, all in the same millisecond.
        let at = start + Duration::from_secs(5);
        assert!(
            (0..250).all(|_| ramp.admit(1000, at)),
            "the burst goes whole"
        );
        assert!(ramp.admit(1000, at), "one more goes into debt");
        assert!(!ramp.admit(1000, at), "the next waits for the debt");
    }

    #[test]
    fn after_a_quiet_spell_a_flood_starts_slowly_again() {
        let start = Instant::now();
        let ramp = Ramp::new(start);
        admitted(&ramp, start, 1000, 1000); // ramped up to millions a second
        let fast = admitted(&ramp, start + Duration::from_secs(1), 100, 1000);
        assert!(fast > 500_000, "ramped up: {fast}");
        let later = start + Duration::from_secs(60);
        let slow = admitted(&ramp, later, 100, 1000);
        assert!(
            slow <= 280_000,
            "back to a burst and the start rate after a minute: {slow}"
        );
    }
}
