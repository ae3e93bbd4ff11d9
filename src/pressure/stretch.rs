//! How long a sign of falling behind has lasted. A node that stood still for a moment (a
//! stalled VM, a CPU quota's pause, a busy neighbour on a shared host) finds every sign at
//! once when it resumes: the messages that waited arrive late and together, the fan-outs in
//! progress all took long, its queue is deep. It usually catches up within milliseconds, and
//! the publishes refused for it meanwhile would have been turned away for nothing. A node that
//! cannot keep up shows the same signs for as long as the flood lasts. So a sign makes a node
//! behind only once it has lasted a while (`CONFIRM`, or longer for a sign that a slow
//! catch-up on a busy machine also shows).

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Duration;

/// How long a sign must last before it makes this node behind: well past the moment a node
/// that stood still finds every sign at once, short next to the second a flood may take to
/// reach its subscribers.
pub(crate) const CONFIRM: Duration = Duration::from_millis(100);

/// One sign's current stretch, in the pressure clock's stamps (ms, 0 = not seen).
#[derive(Debug, Default)]
pub(crate) struct Stretch {
    /// When the sign was first seen in this stretch.
    since: AtomicU64,
    /// When it was last seen.
    last: AtomicU64,
}

impl Stretch {
    /// The sign is seen at `now`; a stretch whose last sighting is more than `gap` ago has
    /// ended and a new one begins. Whether it has now lasted `lasting`.
    pub(crate) fn seen(&self, now: u64, gap: Duration, lasting: Duration) -> bool {
        let last = self.last.swap(now, Ordering::Relaxed);
        let since = self.since.load(Ordering::Relaxed);
        let since = if since == 0 || last == 0 || now.saturating_sub(last) > millis(gap) {
            self.since.store(now, Ordering::Relaxed);
            now
        } else {
            since
        };
        now.saturating_sub(since) >= millis(lasting)
    }

    /// The sign is gone (a message on time, a short queue): the stretch ends. Called for
    /// every cluster message, so it only writes when a stretch is open.
    pub(crate) fn clear(&self) {
        if self.since.load(Ordering::Relaxed) != 0 {
            self.since.store(0, Ordering::Relaxed);
            self.last.store(0, Ordering::Relaxed);
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    #[test]
    fn a_sign_counts_once_it_has_lasted() {
        let stretch = Stretch::default();
        assert!(!stretch.seen(1_000, LONG, CONFIRM));
        assert!(!stretch.seen(1_050, LONG, CONFIRM));
        assert!(stretch.seen(1_100, LONG, CONFIRM), "lasted CONFIRM");
        stretch.clear();
        assert!(!stretch.seen(1_150, LONG, CONFIRM), "a new stretch");
    }

    #[test]
    fn signs_all_at_once_after_a_pause_do_not_count() {
        let stretch = Stretch::default();
        for at in 5_000..5_020 {
            assert!(!stretch.seen(at, LONG, CONFIRM));
        }
    }

    #[test]
    fn a_gap_longer_than_allowed_starts_over() {
        let stretch = Stretch::default();
        assert!(!stretch.seen(1_000, Duration::from_millis(500), CONFIRM));
        assert!(
            !stretch.seen(1_600, Duration::from_millis(500), CONFIRM),
            "gap of 600 ms"
        );
        assert!(stretch.seen(1_800, Duration::from_millis(500), CONFIRM));
    }
}
