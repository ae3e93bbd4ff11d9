//! What history did, per app: counters for metrics and, for the in-memory store, what it
//! holds now.

use std::sync::atomic::{AtomicU64, Ordering};

/// One app's history counters (monotonic) and sizes (in-memory store only).
#[derive(Debug, Default)]
pub(crate) struct HistoryStats {
    appended: AtomicU64,
    recovered: AtomicU64,
    gaps: AtomicU64,
    replayed: AtomicU64,
    channels: AtomicU64,
    events: AtomicU64,
    bytes: AtomicU64,
}

/// A copy of one app's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StatsReading {
    /// Events given a position.
    pub(crate) appended: u64,
    /// Resumes served completely.
    pub(crate) recovered: u64,
    /// Resumes answered with a gap notice.
    pub(crate) gaps: u64,
    /// Events replayed to resuming clients.
    pub(crate) replayed: u64,
    /// Channels with history held in this process.
    pub(crate) channels: u64,
    /// Events held in this process.
    pub(crate) events: u64,
    /// Frame bytes held in this process.
    pub(crate) bytes: u64,
}

impl HistoryStats {
    pub(crate) fn appended(&self) {
        self.appended.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn resumed(&self, complete: bool, replayed: usize) {
        let counter = if complete {
            &self.recovered
        } else {
            &self.gaps
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.replayed.fetch_add(replayed as u64, Ordering::Relaxed);
    }

    /// Sets the in-memory sizes (the store keeps the truth; this is its copy for scrapes).
    pub(crate) fn set_held(&self, channels: usize, events: usize, bytes: usize) {
        self.channels.store(channels as u64, Ordering::Relaxed);
        self.events.store(events as u64, Ordering::Relaxed);
        self.bytes.store(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn reading(&self) -> StatsReading {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsReading {
            appended: load(&self.appended),
            recovered: load(&self.recovered),
            gaps: load(&self.gaps),
            replayed: load(&self.replayed),
            channels: load(&self.channels),
            events: load(&self.events),
            bytes: load(&self.bytes),
        }
    }
}
