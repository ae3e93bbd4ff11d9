//! Backpressure across nodes: a node that falls behind delivering (its cluster messages pile
//! up, or a fan-out takes too long while others wait behind it) says so, and every node refuses HTTP publishes with 429
//! and `Retry-After` until it has caught up — instead of accepting events that a flooded node
//! would deliver seconds late, or not at all (Redis drops a subscriber whose output buffer
//! overflows; full socket queues cut healthy clients as slow consumers).
//!
//! Signals are cheap: the cluster actor's queue length when it takes a message (above
//! `MAX_BACKLOG` for `BACKLOG_LASTS`), and each fan-out's duration (timed anyway for
//! `fanout_seconds`) when another fan-out started before it ended: one long fan-out to a big
//! audience, done before the next event, is a node keeping up (100,000 subscribers take
//! about a second here, and an event every 2 s is no backlog). A signal holds for `HOLD`; the actor tells the other nodes with the next
//! message it handles or within 100 ms, sending the time the signal has left, and again while
//! it lasts. Deep
//! socket queues are not a signal: they cannot tell a node that cannot write from clients
//! that do not read (those are cut at `socket_queue_capacity`, and must not stop publishes).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::time::{Duration, Instant};

/// How long one signal keeps a node "behind".
pub(crate) const HOLD: Duration = Duration::from_millis(500);
/// Cluster messages waiting for this node's actor above which it is behind.
pub(crate) const MAX_BACKLOG: usize = 128;
/// How long the backlog must stay above `MAX_BACKLOG` to count: a burst the actor clears
/// within this is not a node behind.
const BACKLOG_LASTS: Duration = Duration::from_millis(50);
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
    /// Since when the actor's backlog has stayed above `MAX_BACKLOG` (same clock; 0 = not).
    backlog_since: AtomicU64,
    /// Fan-outs started so far (broadcasts handed to `Context::finish_fanout`, with or
    /// without sockets to flush): a fan-out that ends with this higher than when it started
    /// had others start behind it.
    started: AtomicU64,
    /// Other nodes behind: until when.
    remote: Mutex<HashMap<String, Instant>>,
    /// The latest of those deadlines (same clock as `behind_at`), so a publish checks one
    /// atomic, not the lock, while no node is behind.
    remote_until: AtomicU64,
}

/// Why a publish is refused now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The node that is behind (`this node` for the local one).
    pub(crate) node: String,
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
            backlog_since: AtomicU64::new(0),
            started: AtomicU64::new(0),
            remote: Mutex::new(HashMap::new()),
            remote_until: AtomicU64::new(0),
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
    /// other fan-outs started before it ended (work piles up behind it).
    pub(crate) fn note_fanout(&self, ticket: u64, elapsed: Duration) {
        if !self.enabled() {
            return;
        }
        let others = self.started.load(Ordering::Relaxed) > ticket;
        if elapsed > self.threshold && others {
            self.behind_at
                .store(self.stamp(Instant::now()), Ordering::Relaxed);
        }
    }

    /// The cluster actor found `queued` messages waiting; behind when more than
    /// `MAX_BACKLOG` have been waiting for `BACKLOG_LASTS`.
    pub(crate) fn note_backlog(&self, queued: usize) {
        if !self.enabled() {
            return;
        }
        if queued <= MAX_BACKLOG {
            self.backlog_since.store(0, Ordering::Relaxed);
            return;
        }
        let now = self.stamp(Instant::now());
        let since = self.backlog_since.load(Ordering::Relaxed);
        if since == 0 {
            self.backlog_since.store(now, Ordering::Relaxed);
        } else if now.saturating_sub(since) >= BACKLOG_LASTS.as_millis() as u64 {
            self.behind_at.store(now, Ordering::Relaxed);
        }
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

    /// Another node said it is behind, for `hold`.
    pub(crate) fn note_remote(&self, node: &str, hold: Duration, now: Instant) {
        let mut remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        remote.retain(|_, until| *until > now);
        let until = now + hold.min(HOLD * 4);
        remote.insert(node.to_string(), until);
        self.remote_until
            .fetch_max(self.stamp(until), Ordering::Relaxed);
    }

    /// Whether a publish must be refused now, and why.
    pub(crate) fn refusal(&self, now: Instant) -> Option<Refusal> {
        if !self.enabled() {
            return None;
        }
        if self.local_behind(now) {
            return Some(Refusal {
                node: "this node".into(),
                retry_after: self.remaining(now),
            });
        }
        if self.remote_until.load(Ordering::Relaxed) <= self.stamp(now) {
            return None;
        }
        let remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        remote
            .iter()
            .filter(|(_, until)| **until > now)
            .max_by_key(|(_, until)| **until)
            .map(|(node, until)| Refusal {
                node: format!("node {node}"),
                retry_after: *until - now,
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
        let slow = pressure.fanout_started();
        pressure.fanout_started();
        pressure.note_fanout(slow, Duration::from_millis(150));
        assert_eq!(pressure.refusal(Instant::now()).unwrap().node, "this node");
        assert!(pressure.should_announce(Instant::now()));
        assert!(
            !pressure.should_announce(Instant::now()),
            "not twice in a row"
        );
        assert_eq!(pressure.refusal(Instant::now() + HOLD * 2), None, "faded");
        let pressure = Pressure::new(Duration::from_millis(100));
        pressure.note_remote("b", HOLD, now);
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
        let ticket = pressure.fanout_started();
        // Another publish (even one with no socket to flush) started before it ended.
        pressure.fanout_started();
        pressure.note_fanout(ticket, Duration::from_secs(1));
        assert!(
            pressure.refusal(Instant::now()).is_some(),
            "another waited behind it"
        );
    }

    #[test]
    fn a_short_backlog_burst_is_not_pressure() {
        let pressure = Pressure::new(Duration::from_millis(100));
        pressure.note_backlog(MAX_BACKLOG + 1);
        pressure.note_backlog(MAX_BACKLOG + 1);
        assert_eq!(pressure.refusal(Instant::now()), None, "a burst");
        pressure.note_backlog(0);
        pressure.note_backlog(MAX_BACKLOG + 1);
        std::thread::sleep(BACKLOG_LASTS + Duration::from_millis(10));
        pressure.note_backlog(MAX_BACKLOG + 1);
        let refusal = pressure.refusal(Instant::now()).unwrap();
        assert!(refusal.retry_after <= HOLD && refusal.retry_after > HOLD / 2);
        assert!(pressure.remaining(Instant::now()) <= HOLD);
    }

    #[test]
    fn off_means_never() {
        let pressure = Pressure::new(Duration::ZERO);
        let ticket = pressure.fanout_started();
        pressure.fanout_started();
        pressure.note_fanout(ticket, Duration::from_secs(10));
        pressure.note_backlog(1_000_000);
        pressure.note_remote("b", HOLD, Instant::now());
        assert_eq!(pressure.refusal(Instant::now()), None);
    }
}
