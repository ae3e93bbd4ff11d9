//! Webhook counters: events accepted, dropped, delivered and failed, and retries. Kept as
//! atomics so hot paths count without a lock, and read as a plain snapshot (by the delivery
//! log endpoint today, by the metrics exporter later).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Server-wide counters; every field counts events except `retries`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    dropped: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
}

/// A point-in-time copy of the counters (server-wide, or one app's).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// Events taken into the queue.
    pub(crate) accepted: u64,
    /// Events dropped because the queue or a target's backlog was full.
    pub dropped: u64,
    /// Events in requests the receiver answered with 2xx.
    pub(crate) delivered: u64,
    /// Events in requests that failed for good (permanent error, or retry budget spent).
    pub failed: u64,
    /// Attempts after the first one, over all requests.
    pub(crate) retries: u64,
}

/// Which counter to add to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Accepted,
    Dropped,
    Delivered,
    Failed,
    Retries,
}

impl Counters {
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        let cell = match counter {
            Counter::Accepted => &self.accepted,
            Counter::Dropped => &self.dropped,
            Counter::Delivered => &self.delivered,
            Counter::Failed => &self.failed,
            Counter::Retries => &self.retries,
        };
        // Relaxed: each counter is independent and only ever read as a statistic.
        cell.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CounterSnapshot {
        let read = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
        CounterSnapshot {
            accepted: read(&self.accepted),
            dropped: read(&self.dropped),
            delivered: read(&self.delivered),
            failed: read(&self.failed),
            retries: read(&self.retries),
        }
    }
}

impl CounterSnapshot {
    pub(crate) fn add(&mut self, counter: Counter, n: u64) {
        let cell = match counter {
            Counter::Accepted => &mut self.accepted,
            Counter::Dropped => &mut self.dropped,
            Counter::Delivered => &mut self.delivered,
            Counter::Failed => &mut self.failed,
            Counter::Retries => &mut self.retries,
        };
        *cell += n;
    }
}
