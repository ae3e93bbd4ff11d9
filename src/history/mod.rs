//! Channel history for recovery: channels an app names (`history_channels`) keep their last
//! events, each event carries its `position`, and a client that comes back after a short
//! disconnect says where it stopped (`resume_after`) and gets what it missed, in order,
//! exactly once — or is told plainly that the history no longer reaches back that far.
//!
//! Two stores, one contract:
//! - `memory` (no cluster engine): positions are assigned and frames delivered under one
//!   per-app lock, so every subscriber sees one order, the order of the positions.
//! - `redis`: one Lua script assigns the position, appends to the channel's stream and
//!   publishes the frame to every node, atomically; every node — the publishing one too —
//!   delivers it when it comes back from Redis, so all nodes see the order of the positions
//!   and a client recovers on whichever node it reconnects to. The history survives node
//!   restarts (it lives in Redis).
//!
//! `resume` (in `connection`) holds a resuming subscriber's live frames while it reads the
//! store, then sends the replay and the held frames without duplicates (see
//! `AppRegistry::finish_hold`). Client events are not kept: they are whispers between
//! clients, not state.

mod memory;
mod position;
mod redis;
mod stats;

use std::sync::Arc;

use dashmap::DashMap;
use sockwave_protocol::AppId;

use crate::app::App;
use crate::outbox::Frame;
pub(crate) use memory::MemoryStore;
pub(crate) use position::Position;
pub(crate) use redis::RedisStore;
pub(crate) use stats::HistoryStats;

/// Most events one resume replays (and one HTTP history read returns).
pub(crate) const MAX_READ: usize = 100_000;

/// Why a resume could not be served completely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gap {
    /// The position belongs to a history that no longer exists (expired while the channel
    /// was idle, or lost: a restarted in-memory node, a flushed Redis).
    HistoryLost,
    /// Events after the position were already dropped (older than `history_max_age`, or
    /// beyond `history_max_events` / the byte bounds).
    TooOld,
    /// The position is malformed or ahead of the channel.
    UnknownPosition,
}

impl Gap {
    /// The reason as sent to the client.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Gap::HistoryLost => "history_lost",
            Gap::TooOld => "too_old",
            Gap::UnknownPosition => "unknown_position",
        }
    }
}

/// Which events a read returns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Since<'a> {
    /// None: only the channel's position (a first subscribe).
    Now,
    /// Every event still kept, the last `limit` of them (the HTTP API).
    Start,
    /// The events after this position, if the history still has all of them (a resume).
    After(&'a Position),
}

/// What a read of a channel's history found.
#[derive(Debug)]
pub(crate) struct Read {
    /// The channel's position now (seq 0: nothing published in this history yet).
    pub(crate) latest: Position,
    /// The events after the asked position, oldest first, when the history reaches back.
    pub(crate) events: Vec<(u64, Frame)>,
    /// `None` when complete.
    pub(crate) gap: Option<Gap>,
}

/// A channel's retained events, as a store sees them, for `Read` to be computed alike by
/// both stores.
pub(crate) struct Retained<'a> {
    /// The history's epoch.
    pub(crate) epoch: &'a str,
    /// The last seq assigned.
    pub(crate) last: u64,
    /// The oldest seq still kept (`last + 1` when none is).
    pub(crate) first: u64,
    /// Kept events, oldest first, contiguous and ending at `last`: at least those `since`
    /// asks for (a store may leave out older ones).
    pub(crate) events: Vec<(u64, Frame)>,
}

impl Retained<'_> {
    /// The events `since` asks for and whether they are all of them.
    pub(crate) fn read(self, since: Since<'_>, limit: usize) -> Read {
        let latest = Position {
            epoch: self.epoch.to_string(),
            seq: self.last,
        };
        let after = match since {
            Since::Now => {
                return Read {
                    latest,
                    events: Vec::new(),
                    gap: None,
                }
            }
            Since::Start => {
                let skip = self.events.len().saturating_sub(limit);
                return Read {
                    latest,
                    events: self.events.into_iter().skip(skip).collect(),
                    gap: None,
                };
            }
            Since::After(after) => after,
        };
        let gap = if after.epoch != self.epoch {
            Some(Gap::HistoryLost)
        } else if after.seq > self.last {
            Some(Gap::UnknownPosition)
        } else {
            (self.first > after.seq + 1).then_some(Gap::TooOld)
        };
        let events = match gap {
            Some(_) => Vec::new(),
            None => {
                let mut events: Vec<(u64, Frame)> = self
                    .events
                    .into_iter()
                    .filter(|(seq, _)| *seq > after.seq)
                    .collect();
                events.truncate(limit);
                events
            }
        };
        Read {
            latest,
            events,
            gap,
        }
    }
}

/// Why a store could not be used.
#[derive(Debug, thiserror::Error)]
#[error("channel history unavailable: {0}")]
pub struct HistoryError(pub String);

/// Where this node keeps history, and what it did.
pub(crate) struct History {
    /// The store.
    pub(crate) store: Store,
    /// Per-app counters.
    pub(crate) stats: AllStats,
}

/// Where history is kept.
pub(crate) enum Store {
    /// In this process (single node).
    Memory(MemoryStore),
    /// In the cluster's Redis.
    Redis(Box<RedisStore>),
}

impl History {
    /// History in this process.
    pub(crate) fn memory() -> History {
        History {
            store: Store::Memory(MemoryStore::default()),
            stats: AllStats::default(),
        }
    }

    /// History in the cluster's Redis.
    pub(crate) fn redis(store: RedisStore) -> History {
        History {
            store: Store::Redis(Box::new(store)),
            stats: AllStats::default(),
        }
    }

    /// Reads `channel`'s history `since` (creating an empty history, so a subscriber
    /// gets a position even before the first event).
    pub(crate) async fn read(
        &self,
        app: &App,
        channel: &str,
        since: Since<'_>,
        limit: usize,
    ) -> Result<Read, HistoryError> {
        match &self.store {
            Store::Memory(store) => Ok(store.read(app, channel, since, limit, &self.stats)),
            Store::Redis(store) => store.read(app, channel, since, limit).await,
        }
    }
}

/// Per-app counters and sizes, read by metrics scrapes.
#[derive(Debug, Default)]
pub(crate) struct AllStats {
    apps: DashMap<AppId, Arc<HistoryStats>>,
}

impl AllStats {
    /// One app's stats, created on first use.
    pub(crate) fn app(&self, app: &AppId) -> Arc<HistoryStats> {
        if let Some(stats) = self.apps.get(app) {
            return stats.clone();
        }
        self.apps.entry(app.clone()).or_default().clone()
    }

    /// Every app's stats.
    pub(crate) fn all(&self) -> Vec<(AppId, Arc<HistoryStats>)> {
        self.apps
            .iter()
            .map(|entry| (entry.key().clone(), entry.value().clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests;
