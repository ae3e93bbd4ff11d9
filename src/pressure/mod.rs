//! Backpressure across nodes: a node that falls behind delivering (its cluster messages pile
//! up, or a fan-out takes too long while others wait behind it) says so, and every node
//! refuses HTTP publishes with 429 and `Retry-After` until it has caught up, then paces them
//! below the rate the node managed (`pace`) — instead of accepting events that a flooded node
//! would deliver seconds late, or not at all (Redis drops a subscriber whose output buffer
//! overflows; full socket queues cut healthy clients as slow consumers). A node also refuses
//! publishes while its own messages to the others queue up (`outgoing_refusal`).
//!
//! Signals are cheap: how much slower than their quickest another node's messages arrive
//! (`transit`: every queue on the way, the actor's included), each fan-out's duration (timed
//! anyway for `fanout_seconds`) when another fan-out started before it ended (one long
//! fan-out to a big audience, done before the next event, is a node keeping up: 100,000
//! subscribers take about a second here, and an event every 2 s is no backlog), and, as a
//! safety net, the cluster actor's queue length when it takes a message (above
//! `MAX_BACKLOG`). None counts at the first sight: a node that stood still for a moment sees
//! them all at once when it resumes, then catches up (`transit`, `stretch`). A signal holds
//! for `HOLD`; the actor tells the other
//! nodes with the next message it handles or within 100 ms, sending the time the signal has
//! left and the rate it has been handling their messages at, and again while it lasts. Deep
//! socket queues are not a signal: they cannot tell a node that cannot write from clients
//! that do not read (those are cut at `socket_queue_capacity`, and must not stop publishes).

pub(crate) mod pace;
pub(crate) mod ramp;
pub(crate) mod stretch;
pub(crate) mod transit;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::time::{Duration, Instant};

/// What a node behind on its fan-outs or cluster messages is behind doing.
const DELIVERING: &str = "delivering events to its subscribers";
/// What a node does while its publishes flood the others faster than it has seen them keep
/// up with (`ramp`).
const RAMPING: &str = concat!(
    "ramping up to a sudden flood of deliveries on other nodes ",
    "(the rate doubles every 100 ms while they keep up)"
);
/// How long one signal keeps a node "behind".
pub(crate) const HOLD: Duration = Duration::from_millis(500);
/// Cluster messages waiting for this node's actor above which it is behind, once that has
/// lasted `BACKLOG_LASTING`: a safety net. The late messages (`transit`, measured as the actor
/// takes them, so including this queue) tell a flood from a catch-up much sooner; a deep
/// queue alone cannot, and after a pause it can take a busy machine a while to drain.
pub(crate) const MAX_BACKLOG: usize = 128;
const BACKLOG_LASTING: Duration = Duration::from_secs(1);
/// The shortest busy stretch (messages waiting all along) a handling rate is measured over.
const RATE_WINDOW: Duration = Duration::from_millis(100);
/// Shortest interval between two announcements of this node's pressure.
const ANNOUNCE_EVERY: Duration = Duration::from_millis(100);

/// This node's pressure and what the others said of theirs.
#[derive(Debug)]
pub struct Pressure {
    /// Fan-out time above which this node is behind; zero turns backpressure off.
    threshold: Duration,
    origin: Instant,
    /// When this node was last found behind (ms after `origin`, plus one; 0 = never).
    behind_at: AtomicU64,
    /// When this node last announced it (same clock).
    announced_at: AtomicU64,
    /// The cluster actor's current busy stretch: when it began (same clock; 0 = idle) and
    /// the messages handled in it so far.
    busy_since: AtomicU64,
    busy_handled: AtomicU64,
    /// Cluster messages handled a second over the last complete busy stretch (0 = none yet).
    handling_rate: AtomicU64,
    /// When `handling_rate` was measured (same clock).
    rate_at: AtomicU64,
    /// Fan-outs started so far (broadcasts handed to `Context::finish_fanout`, with or
    /// without sockets to flush): a fan-out that ends with this higher than when it started
    /// had others start behind it.
    started: AtomicU64,
    /// Other nodes behind: until when.
    remote: Mutex<HashMap<String, Instant>>,
    /// The latest of those deadlines (same clock as `behind_at`), so a publish checks one
    /// atomic, not the lock, while no node is behind.
    remote_until: AtomicU64,
    /// The pace publishes are admitted at after another node was behind.
    pacer: pace::Pacer,
    /// The rate deliveries on other nodes are admitted at: a sudden flood starts slowly.
    ramp: ramp::Ramp,
    /// Per sending node: how quickly its messages arrive.
    transits: transit::Transits,
    /// The current stretch of slow fan-outs with others waiting behind them.
    slow_fanouts: stretch::Stretch,
    /// The current stretch of a backlog over `MAX_BACKLOG`.
    deep_backlog: stretch::Stretch,
}

/// Messages waiting to be published to the cluster engine above which this node refuses
/// publishes: it is accepting events faster than the engine takes them, and each one
/// waiting adds to every delivery's latency on every other node.
pub(crate) const MAX_OUTGOING: usize = 512;

/// Why a publish is refused now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The node that is behind (`this node` for the local one).
    pub(crate) node: String,
    /// What it is behind doing.
    pub(crate) behind: &'static str,
    /// How long to wait before retrying.
    pub(crate) retry_after: Duration,
}

impl Pressure {
    /// Pressure with the given fan-out threshold (zero: off).
    pub fn new(threshold: Duration) -> Pressure {
        Pressure {
            threshold,
            origin: Instant::now(),
            behind_at: AtomicU64::new(0),
            announced_at: AtomicU64::new(0),
            busy_since: AtomicU64::new(0),
            busy_handled: AtomicU64::new(0),
            handling_rate: AtomicU64::new(0),
            rate_at: AtomicU64::new(0),
            started: AtomicU64::new(0),
            remote: Mutex::new(HashMap::new()),
            remote_until: AtomicU64::new(0),
            pacer: pace::Pacer::default(),
            ramp: ramp::Ramp::new(Instant::now()),
            transits: transit::Transits::default(),
            slow_fanouts: stretch::Stretch::default(),
            deep_backlog: stretch::Stretch::default(),
        }
    }

    /// Whether backpressure is on.
    pub(crate) fn enabled(&self) -> bool {
        !self.threshold.is_zero()
    }

    fn stamp(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
            + 1
    }

    /// A fan-out starts; its ticket goes to `note_fanout` when it ends. Counting, never
    /// decrementing, so a fan-out that never reports back (a flush task dropped at shutdown)
    /// leaves nothing behind.
    pub(crate) fn fanout_started(&self) -> u64 {
        self.started.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The fan-out with `ticket` took `elapsed`: behind when that is over the threshold and
    /// other fan-outs started before it ended (work piles up behind it), and such fan-outs
    /// have kept ending for `stretch::CONFIRM`, each within its own length of the last (those
    /// of a flood do; those that one pause of the node made slow all end together).
    pub(crate) fn note_fanout(&self, ticket: u64, elapsed: Duration) {
        if !self.enabled() {
            return;
        }
        let others = self.started.load(Ordering::Relaxed) > ticket;
        if elapsed <= self.threshold || !others {
            return;
        }
        let now = self.stamp(Instant::now());
        if self.slow_fanouts.seen(now, elapsed, stretch::CONFIRM) {
            self.fall_behind(now, || {
                format!(
                    "a fan-out took {} ms (over backpressure_fanout_ms) while others waited",
                    elapsed.as_millis()
                )
            });
        }
    }

    /// The cluster actor takes a message with `queued` more waiting: behind when more than
    /// `MAX_BACKLOG` have waited all along for `BACKLOG_LASTING`. Busy stretches (messages
    /// waiting all along) also measure how many messages a second it gets through, the rate
    /// the others are asked to stay below. Only the actor calls this.
    pub(crate) fn note_backlog(&self, queued: usize) {
        if !self.enabled() {
            return;
        }
        let now = self.stamp(Instant::now());
        if queued <= MAX_BACKLOG {
            self.deep_backlog.clear();
        } else if self.deep_backlog.seen(now, Duration::MAX, BACKLOG_LASTING) {
            self.fall_behind(now, || {
                format!("over {MAX_BACKLOG} messages from other nodes have waited for {} ms ({queued} now)", BACKLOG_LASTING.as_millis())
            });
        }
        if queued == 0 {
            self.busy_since.store(0, Ordering::Relaxed);
            return;
        }
        let since = self.busy_since.load(Ordering::Relaxed);
        if since == 0 {
            self.busy_since.store(now, Ordering::Relaxed);
            self.busy_handled.store(0, Ordering::Relaxed);
        } else {
            let handled = self.busy_handled.fetch_add(1, Ordering::Relaxed) + 1;
            let elapsed = now.saturating_sub(since);
            if elapsed >= RATE_WINDOW.as_millis() as u64 {
                self.handling_rate
                    .store(handled * 1000 / elapsed, Ordering::Relaxed);
                self.rate_at.store(now, Ordering::Relaxed);
                self.busy_since.store(now, Ordering::Relaxed);
                self.busy_handled.store(0, Ordering::Relaxed);
            }
        }
    }

    /// A message `node` sent at `sent_ms` (its wall clock) arrived at `received_ms` (ours):
    /// behind when that node's messages have been arriving late (see `transit`).
    pub(crate) fn note_transit(&self, node: &str, sent_ms: u64, received_ms: u64) {
        if !self.enabled() {
            return;
        }
        let now = self.stamp(Instant::now());
        if let Some(run) = self.transits.note(node, sent_ms, received_ms, now) {
            self.fall_behind(now, || run.to_string());
        }
    }

    /// Marks this node behind at `now` (a `stamp`); says why in the log when it was not
    /// behind already, so the 429s other nodes give have a cause an operator can find.
    fn fall_behind(&self, now: u64, why: impl FnOnce() -> String) {
        let before = self.behind_at.swap(now, Ordering::Relaxed);
        if before == 0 || now.saturating_sub(before) >= HOLD.as_millis() as u64 {
            tracing::warn!(
                why = %why(),
                "this node is behind delivering: publishes are refused (429) on every node until it catches up"
            );
        }
    }

    /// A node left: forget its transit times.
    pub(crate) fn forget(&self, node: &str) {
        self.transits.forget(node);
    }

    /// Cluster messages a second this node handled in its last busy stretch, if measured
    /// within the last second, else in the current one once it has some length (what a
    /// pressure announcement asks the others to stay below).
    pub(crate) fn handling_rate(&self, now: Instant) -> Option<u64> {
        let now = self.stamp(now);
        let at = self.rate_at.load(Ordering::Relaxed);
        let rate = self.handling_rate.load(Ordering::Relaxed);
        if at != 0 && now.saturating_sub(at) <= 1000 && rate > 0 {
            return Some(rate);
        }
        // The first signal of a flood comes before a whole window: the stretch so far.
        let since = self.busy_since.load(Ordering::Relaxed);
        let elapsed = now.saturating_sub(since);
        let handled = self.busy_handled.load(Ordering::Relaxed);
        (since != 0 && elapsed >= 10 && handled >= 10).then(|| handled * 1000 / elapsed)
    }

    /// How long this node stays behind from `now` without a new signal (zero when it is not).
    pub(crate) fn remaining(&self, now: Instant) -> Duration {
        let at = self.behind_at.load(Ordering::Relaxed);
        if at == 0 {
            return Duration::ZERO;
        }
        let since = self.stamp(now).saturating_sub(at);
        HOLD.saturating_sub(Duration::from_millis(since))
    }

    /// Whether this node is behind now.
    pub(crate) fn local_behind(&self, now: Instant) -> bool {
        let at = self.behind_at.load(Ordering::Relaxed);
        at != 0 && self.stamp(now).saturating_sub(at) < HOLD.as_millis() as u64
    }

    /// Whether this node should tell the others now (behind, and not told within
    /// `ANNOUNCE_EVERY`); marks it told.
    pub(crate) fn should_announce(&self, now: Instant) -> bool {
        if !self.local_behind(now) {
            return false;
        }
        let stamp = self.stamp(now);
        let last = self.announced_at.load(Ordering::Relaxed);
        if last != 0 && stamp.saturating_sub(last) < ANNOUNCE_EVERY.as_millis() as u64 {
            return false;
        }
        self.announced_at.store(stamp, Ordering::Relaxed);
        true
    }

    /// Another node said it is behind, for `hold`, handling `rate` messages a second.
    pub(crate) fn note_remote(&self, node: &str, hold: Duration, rate: Option<u64>, now: Instant) {
        if let Some(rate) = rate {
            self.pacer.signal(node, rate, now);
        }
        let mut remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        remote.retain(|_, until| *until > now);
        let until = now + hold.min(HOLD * 4);
        remote.insert(node.to_string(), until);
        self.remote_until
            .fetch_max(self.stamp(until), Ordering::Relaxed);
    }

    /// Whether a publish must be refused because `queued` messages wait to be published to
    /// the cluster engine (see `MAX_OUTGOING`).
    pub(crate) fn outgoing_refusal(&self, queued: usize) -> Option<Refusal> {
        (self.enabled() && queued > MAX_OUTGOING).then(|| Refusal {
            node: "this node".into(),
            behind: "sending events to the other nodes",
            retry_after: Duration::from_secs(1),
        })
    }

    /// Whether a publish must be refused now, and why.
    pub(crate) fn refusal(&self, now: Instant) -> Option<Refusal> {
        if !self.enabled() {
            return None;
        }
        if self.local_behind(now) {
            return Some(Refusal {
                node: "this node".into(),
                behind: DELIVERING,
                retry_after: self.remaining(now),
            });
        }
        if self.remote_until.load(Ordering::Relaxed) > self.stamp(now) {
            let remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
            let held = remote
                .iter()
                .filter(|(_, until)| **until > now)
                .max_by_key(|(_, until)| **until)
                .map(|(node, until)| Refusal {
                    node: format!("node {node}"),
                    behind: DELIVERING,
                    retry_after: *until - now,
                });
            if held.is_some() {
                return held;
            }
        }
        None
    }

    /// Whether a publish of `events` events, causing `remote_deliveries` deliveries on the
    /// busiest other node, must wait for the pace another node asked for (`pace`) or for the ramp a
    /// flood starts on (`ramp`); checked once the request is parsed and its events counted.
    pub(crate) fn paced(
        &self,
        events: usize,
        remote_deliveries: usize,
        now: Instant,
    ) -> Option<Refusal> {
        if !self.enabled() {
            return None;
        }
        if let Some(node) = self.pacer.admit(events, now) {
            return Some(Refusal {
                node: format!("node {node}"),
                behind: DELIVERING,
                retry_after: Duration::from_secs(1),
            });
        }
        (!self.ramp.admit(remote_deliveries, now)).then(|| Refusal {
            node: "this node".to_string(),
            behind: RAMPING,
            retry_after: Duration::from_secs(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_hold_then_fade() {
        let pressure = Pressure::new(Duration::from_millis(100));
        let now = Instant::now();
        assert_eq!(pressure.refusal(now), None);
        let first = pressure.fanout_started();
        pressure.fanout_started();
        pressure.note_fanout(first, Duration::from_millis(50));
        assert_eq!(pressure.refusal(now), None, "under the threshold");
        slow_fanout(&pressure, Duration::from_millis(150));
        assert_eq!(pressure.refusal(Instant::now()), None, "not lasted yet");
        std::thread::sleep(stretch::CONFIRM);
        slow_fanout(&pressure, Duration::from_millis(150));
        assert_eq!(pressure.refusal(Instant::now()).unwrap().node, "this node");
        assert!(pressure.should_announce(Instant::now()));
        assert!(
            !pressure.should_announce(Instant::now()),
            "not twice in a row"
        );
        assert_eq!(pressure.refusal(Instant::now() + HOLD * 2), None, "faded");
        let pressure = Pressure::new(Duration::from_millis(100));
        pressure.note_remote("b", HOLD, None, now);
        let refusal = pressure.refusal(now + Duration::from_millis(100)).unwrap();
        assert_eq!(refusal.node, "node b");
        assert_eq!(refusal.retry_after, HOLD - Duration::from_millis(100));
        assert_eq!(pressure.refusal(now + HOLD), None);
    }

    #[test]
    fn one_long_fanout_with_nothing_behind_it_is_not_pressure() {
        let pressure = Pressure::new(Duration::from_millis(100));
        for _ in 0..3 {
            let ticket = pressure.fanout_started();
            pressure.note_fanout(ticket, Duration::from_secs(1));
        }
        assert_eq!(pressure.refusal(Instant::now()), None);
        // Another publish (even one with no socket to flush) started before each ended.
        slow_fanout(&pressure, Duration::from_secs(1));
        std::thread::sleep(stretch::CONFIRM);
        slow_fanout(&pressure, Duration::from_secs(1));
        assert!(
            pressure.refusal(Instant::now()).is_some(),
            "others waited behind them"
        );
    }

    /// A fan-out that took `elapsed` with another started before it ended.
    fn slow_fanout(pressure: &Pressure, elapsed: Duration) {
        let ticket = pressure.fanout_started();
        pressure.fanout_started();
        pressure.note_fanout(ticket, elapsed);
    }

    #[test]
    fn a_pause_that_made_every_fanout_slow_at_once_is_not_pressure() {
        let pressure = Pressure::new(Duration::from_millis(100));
        for _ in 0..50 {
            slow_fanout(&pressure, Duration::from_millis(400));
        }
        assert_eq!(pressure.refusal(Instant::now()), None);
        // The next slow one comes later than the last one's length: a new stretch.
        std::thread::sleep(stretch::CONFIRM + Duration::from_millis(10));
        slow_fanout(&pressure, Duration::from_millis(101));
        assert_eq!(pressure.refusal(Instant::now()), None);
    }

    #[test]
    fn a_lasting_backlog_over_the_limit_is_pressure_and_busy_stretches_measure_the_rate() {
        let pressure = Pressure::new(Duration::from_millis(100));
        pressure.note_backlog(MAX_BACKLOG);
        assert_eq!(pressure.refusal(Instant::now()), None, "at the limit");
        // What piled up during a pause, taken at once: not pressure.
        for queued in (MAX_BACKLOG..MAX_BACKLOG * 3).rev() {
            pressure.note_backlog(queued);
        }
        pressure.note_backlog(0);
        assert_eq!(pressure.refusal(Instant::now()), None, "caught up at once");
        assert_eq!(
            pressure.handling_rate(Instant::now()),
            None,
            "not measured yet"
        );
        // Busy for RATE_WINDOW: every message taken with others waiting.
        let started = std::time::Instant::now();
        let mut handled = 0;
        while started.elapsed() < RATE_WINDOW + Duration::from_millis(20) {
            pressure.note_backlog(10);
            handled += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        let rate = pressure.handling_rate(Instant::now()).expect("measured");
        let expected = handled * 1000 / started.elapsed().as_millis() as u64;
        assert!(
            rate.abs_diff(expected) * 4 <= expected,
            "{rate} vs about {expected}"
        );
        pressure.note_backlog(MAX_BACKLOG + 1);
        assert_eq!(pressure.refusal(Instant::now()), None, "not lasted yet");
        std::thread::sleep(BACKLOG_LASTING);
        pressure.note_backlog(MAX_BACKLOG + 1);
        let refusal = pressure.refusal(Instant::now()).unwrap();
        assert_eq!(refusal.node, "this node");
        assert!(refusal.retry_after <= HOLD && refusal.retry_after > HOLD / 2);
    }

    #[test]
    fn after_a_remote_hold_publishes_are_paced_then_free() {
        let pressure = Pressure::new(Duration::from_millis(100));
        let now = Instant::now();
        pressure.note_remote("b", HOLD, Some(1000), now);
        assert!(pressure.refusal(now + HOLD / 2).is_some(), "held");
        let paced = (0..1000)
            .filter(|ms| {
                let at = now + HOLD + Duration::from_millis(*ms);
                pressure.refusal(at).is_none() && pressure.paced(1, 0, at).is_none()
            })
            .count();
        // 80 % of 1,000 a second, grown by 10 % a second since the signal, plus a burst.
        assert!(
            (800..=960).contains(&paced),
            "paced below 1,000 a second: {paced}"
        );
        assert_eq!(pressure.paced(1, 0, now + pace::PACE_FOR), None);
    }

    #[test]
    fn late_transits_that_last_are_pressure() {
        let pressure = Pressure::new(Duration::from_millis(100));
        let calm = |pressure: &Pressure| pressure.refusal(Instant::now()).is_none();
        pressure.note_transit("b", 1_000, 1_001);
        for _ in 0..transit::LATE_IN_A_ROW {
            pressure.note_transit("b", 1_000, 1_500);
        }
        assert!(
            calm(&pressure),
            "a run, but all arrived at once (after a pause)"
        );
        std::thread::sleep(stretch::CONFIRM);
        pressure.note_transit("b", 1_000, 1_500);
        assert_eq!(pressure.refusal(Instant::now()).unwrap().node, "this node");
    }

    #[test]
    fn a_full_outgoing_queue_refuses_publishes() {
        let pressure = Pressure::new(Duration::from_millis(100));
        assert_eq!(pressure.outgoing_refusal(MAX_OUTGOING), None);
        let refusal = pressure.outgoing_refusal(MAX_OUTGOING + 1).unwrap();
        assert_eq!(refusal.behind, "sending events to the other nodes");
        assert_eq!(
            Pressure::new(Duration::ZERO).outgoing_refusal(usize::MAX),
            None
        );
    }

    #[test]
    fn off_means_never() {
        let pressure = Pressure::new(Duration::ZERO);
        let ticket = pressure.fanout_started();
        pressure.fanout_started();
        pressure.note_fanout(ticket, Duration::from_secs(10));
        pressure.note_backlog(1_000_000);
        pressure.note_remote("b", HOLD, Some(100), Instant::now());
        assert_eq!(pressure.refusal(Instant::now()), None);
    }
}
