//! How quickly each other node's messages arrive: the queue on the way to this node (the
//! sender's, the engine's, this node's socket buffers), which the cluster actor cannot count.
//! Each message carries its sender's wall clock; only one sender's transit times are compared
//! with each other, which cancels the two clocks' offset, and the quickest is let rise by
//! 1 ms a second so a drifting clock cannot keep it too low.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use tokio::time::Duration;

use super::stretch::CONFIRM;

/// How much longer than its quickest a message from another node may take to arrive before
/// this node counts as behind.
pub(crate) const MAX_TRANSIT_DELAY: Duration = Duration::from_millis(100);
/// Late messages in a row from one node that make this node behind: one delayed heartbeat (a
/// pause of the engine, say) must not turn publishes away.
pub(crate) const LATE_IN_A_ROW: u32 = 16;
/// How much later than the first of a run of late messages a later one must be for the run
/// to show this node falling further behind, and how much earlier to show it catching up
/// (beyond the clocks' millisecond and a little jitter).
const GROWN_MS: i64 = 10;

/// Per sending node: how quickly its messages arrive.
#[derive(Debug, Default)]
pub(crate) struct Transits {
    nodes: Mutex<HashMap<String, Transit>>,
}

#[derive(Debug)]
struct Transit {
    /// The quickest transit seen (receive minus send time, in ms, with the clocks' offset).
    quickest: i64,
    /// When `quickest` was set (a pressure stamp, ms).
    set_at: u64,
    /// Late messages since the last one on time, when the first of them arrived, and by how
    /// much it was late.
    late: u32,
    late_since: u64,
    first_late: i64,
}

/// A run of late messages that makes this node behind: what the log says of it (formatted
/// only when it is logged, not for every late message of a flood).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LateRun<'a> {
    node: &'a str,
    count: u32,
    lasted_ms: u64,
    first_ms: i64,
    last_ms: i64,
}

impl fmt::Display for LateRun<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} messages in a row from node {} arrived late over {} ms, the first {} ms and the last {} ms later than its quickest",
            self.count, self.node, self.lasted_ms, self.first_ms, self.last_ms
        )
    }
}

impl Transits {
    /// A message `node` sent at `sent_ms` (its wall clock) arrived at `received_ms` (ours),
    /// at `now` (a pressure stamp). The run that makes this node behind, when `LATE_IN_A_ROW` messages in
    /// a row took `MAX_TRANSIT_DELAY` longer than the quickest, and either they are getting
    /// later than the first of them (this node takes them more slowly than they were sent: a
    /// flood) or, `CONFIRM` into the run, they are still as late (it is not catching up).
    /// Not while each is less late than the first: what waited while this node stood still
    /// for a moment (a stalled VM, a CPU quota's pause), taken faster than it was sent as the
    /// node catches up, however long that takes on a busy machine.
    pub(crate) fn note<'a>(
        &self,
        node: &'a str,
        sent_ms: u64,
        received_ms: u64,
        now: u64,
    ) -> Option<LateRun<'a>> {
        let transit = received_ms as i64 - sent_ms as i64;
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        // Per cluster message: the node's name is copied only the first time it is heard.
        if !nodes.contains_key(node) {
            let first = Transit {
                quickest: transit,
                set_at: now,
                late: 0,
                late_since: 0,
                first_late: 0,
            };
            nodes.insert(node.to_string(), first);
        }
        let entry = nodes.get_mut(node)?;
        let floor = entry.quickest + (now.saturating_sub(entry.set_at) / 1000) as i64;
        if transit <= floor {
            entry.quickest = transit;
            entry.set_at = now;
            entry.late = 0;
            return None;
        }
        if transit - floor <= MAX_TRANSIT_DELAY.as_millis() as i64 {
            entry.late = 0;
            return None;
        }
        let late = transit - floor;
        if entry.late == 0 {
            entry.late_since = now;
            entry.first_late = late;
        }
        entry.late += 1;
        let lasted = now.saturating_sub(entry.late_since);
        let growing = late >= entry.first_late + GROWN_MS;
        let stuck = lasted >= CONFIRM.as_millis() as u64 && late > entry.first_late - GROWN_MS;
        (entry.late >= LATE_IN_A_ROW && (growing || stuck)).then_some(LateRun {
            node,
            count: entry.late,
            lasted_ms: lasted,
            first_ms: entry.first_late,
            last_ms: late,
        })
    }

    /// A node left: forget its transit times.
    pub(crate) fn forget(&self, node: &str) {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes.remove(node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slower_transit_than_the_quickest_is_late_whatever_the_clocks_say() {
        let transits = Transits::default();
        // The sender's clock runs 5 s ahead: transits look negative, and only their growth counts.
        assert_eq!(transits.note("b", 10_000, 5_002, 1), None);
        assert_eq!(transits.note("b", 11_000, 6_001, 2), None);
        assert_eq!(
            transits.note("b", 12_000, 7_050, 3),
            None,
            "within the allowance"
        );
        let late = |at| transits.note("b", 13_000, 8_200, at);
        for at in 10..10 + u64::from(LATE_IN_A_ROW) - 1 {
            assert_eq!(late(at * 10), None);
        }
        assert_eq!(transits.note("b", 12_000, 7_010, 300), None, "on time");
        assert_eq!(late(310), None, "the run starts again");
        for at in 32..32 + u64::from(LATE_IN_A_ROW) - 2 {
            assert_eq!(late(at * 10), None, "one short of a run at {at}0");
        }
        let why = late(470).expect("16 in a row over 160 ms").to_string();
        assert!(why.starts_with("16 messages in a row from node b"), "{why}");
        // Another node's transits are measured against its own quickest.
        assert_eq!(transits.note("c", 1_000, 1_500, 500), None);
        transits.forget("c");
        assert_eq!(transits.note("c", 2_000, 2_001, 510), None);
    }

    #[test]
    fn messages_getting_later_are_behind_at_once() {
        let transits = Transits::default();
        assert_eq!(transits.note("b", 1_000, 1_001, 1), None);
        // A flood: sent every millisecond, taken every two, already 101 ms late.
        let take = |k: u64| transits.note("b", 2_000 + k, 2_102 + 2 * k, 100 + 2 * k);
        for k in 0..u64::from(LATE_IN_A_ROW) - 1 {
            assert_eq!(take(k), None, "message {k}");
        }
        let why = take(u64::from(LATE_IN_A_ROW) - 1)
            .expect("the 16th, 30 ms into the run")
            .to_string();
        assert!(
            why.contains("the first 101 ms and the last 116 ms later"),
            "{why}"
        );
    }

    #[test]
    fn a_slow_catch_up_after_a_pause_on_a_busy_machine_is_not_behind() {
        let transits = Transits::default();
        assert_eq!(transits.note("b", 1_000, 1_001, 1), None);
        // 400 ms late after a pause; the node then takes a message every 2 ms, sent every
        // 4 ms, but stalls 10 ms more before every tenth: it catches up by a quarter of the
        // time it spends, and takes over a second to.
        let mut received = 1_400;
        for k in 0..150u64 {
            received += if k % 10 == 9 { 12 } else { 2 };
            let at = received - 1_000;
            assert_eq!(
                transits.note("b", 1_000 + 4 * k, received, at),
                None,
                "message {k}"
            );
        }
    }

    #[test]
    fn late_messages_all_at_once_after_a_pause_are_not_behind() {
        let transits = Transits::default();
        assert_eq!(transits.note("b", 1_000, 1_001, 1), None);
        // This node stood still for 400 ms; what waited arrives within 5 ms.
        for k in 0..200u64 {
            assert_eq!(transits.note("b", 1_010 + 2 * k, 1_420, 410 + k / 40), None);
        }
        // Then on time again.
        assert_eq!(transits.note("b", 1_420, 1_421, 420), None);
    }
}
