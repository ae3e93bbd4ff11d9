//! History in this process, for a node without a cluster engine.
//!
//! One lock per app: an event gets its position and is queued for the channel's subscribers
//! under it, so concurrent publishes reach every subscriber in the order of their positions.
//! Queuing never waits (`Flushes`), so the lock is held for microseconds. Bounds: events and
//! bytes per channel, age, and bytes per app — past the app's budget the channels published
//! to least recently lose their history first (their next subscriber gets a new epoch).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use sockwave_protocol::{messages, AppId};
use tokio::time::{Duration, Instant};

use super::{AllStats, Position, Read, Retained, Since};
use crate::app::{App, HistoryPolicy};
use crate::outbox::Frame;
use crate::registry::Stamp;

/// What a channel's record costs besides its frames (name, epoch, deque), counted against
/// the app's budget so that many empty histories are bounded too.
const RECORD_BYTES: usize = 192;
/// A history that had events, all expired since, is kept this long after its last use, so a
/// client that was up to date when the channel fell silent resumes without a false gap.
const EMPTY_RECORD_LIFE: Duration = Duration::from_secs(24 * 3600);
/// Histories created by a first subscribe, never published to, kept per app at most: any
/// client can name channels, so these are capped apart (oldest dropped first) and never
/// push out histories with events. They also go after `history_max_age` unused.
const MAX_UNPUBLISHED: usize = 10_000;
/// Past the app's budget, eviction frees down to this share of it, so its scan over the
/// app's channels runs once per many appends, not on each.
const EVICT_TO: f64 = 0.9;

/// Every app's in-memory history.
#[derive(Debug, Default)]
pub(crate) struct MemoryStore {
    apps: DashMap<AppId, Arc<Mutex<AppHistory>>>,
}

#[derive(Debug, Default)]
struct AppHistory {
    channels: HashMap<String, ChannelHistory>,
    /// Frame bytes plus `RECORD_BYTES` per channel.
    bytes: usize,
    events: usize,
    /// Channels whose history a subscribe created, oldest first (some may have been
    /// published to since, or removed: checked when popped).
    unpublished: VecDeque<String>,
}

#[derive(Debug)]
struct ChannelHistory {
    epoch: String,
    last: u64,
    events: VecDeque<Stored>,
    bytes: usize,
    touched: Instant,
    max_age: Duration,
}

#[derive(Debug)]
struct Stored {
    seq: u64,
    at: Instant,
    frame: Frame,
}

impl ChannelHistory {
    fn new(now: Instant, max_age: Duration) -> ChannelHistory {
        ChannelHistory {
            epoch: Position::new_epoch(),
            last: 0,
            events: VecDeque::new(),
            bytes: 0,
            touched: now,
            max_age,
        }
    }

    /// Drops the oldest events while over a bound; returns (events, bytes) dropped.
    fn trim(&mut self, policy: Option<&HistoryPolicy>, now: Instant) -> (usize, usize) {
        let (mut events, mut bytes) = (0, 0);
        while let Some(oldest) = self.events.front() {
            let too_old = now.saturating_duration_since(oldest.at) > self.max_age;
            let too_many = policy.is_some_and(|p| {
                self.events.len() > p.max_events || self.bytes > p.max_channel_bytes
            });
            if !(too_old || too_many) {
                break;
            }
            let oldest = self.events.pop_front().expect("checked above");
            self.bytes -= oldest.frame.len();
            events += 1;
            bytes += oldest.frame.len();
        }
        (events, bytes)
    }

    /// What `since` needs, cloning only the frames it returns.
    fn retained(&self, since: Since<'_>, limit: usize) -> Retained<'_> {
        let first = self
            .events
            .front()
            .map_or(self.last + 1, |stored| stored.seq);
        let wanted = |stored: &&Stored| match since {
            Since::Now => false,
            Since::Start => true,
            Since::After(after) => after.epoch == self.epoch && stored.seq > after.seq,
        };
        let skip = match since {
            Since::Start => self.events.len().saturating_sub(limit),
            Since::Now | Since::After(_) => 0,
        };
        Retained {
            epoch: &self.epoch,
            last: self.last,
            first,
            events: self
                .events
                .iter()
                .skip(skip)
                .filter(wanted)
                .map(|stored| (stored.seq, stored.frame.clone()))
                .collect(),
        }
    }
}

impl AppHistory {
    /// The channel's history, created when missing; `by_subscribe` marks one a client's
    /// subscribe created (capped apart, see `MAX_UNPUBLISHED`).
    fn channel(
        &mut self,
        name: &str,
        now: Instant,
        max_age: Duration,
        by_subscribe: bool,
    ) -> &mut ChannelHistory {
        if !self.channels.contains_key(name) {
            self.bytes += RECORD_BYTES;
            self.channels
                .insert(name.to_string(), ChannelHistory::new(now, max_age));
            if by_subscribe {
                self.unpublished.push_back(name.to_string());
                while self.unpublished.len() > MAX_UNPUBLISHED {
                    let oldest = self.unpublished.pop_front().expect("over the cap");
                    if oldest != name && self.channels.get(&oldest).is_some_and(|c| c.last == 0) {
                        self.channels.remove(&oldest);
                        self.bytes -= RECORD_BYTES;
                    }
                }
            }
        }
        let channel = self.channels.get_mut(name).expect("inserted above");
        channel.touched = now;
        channel.max_age = max_age;
        channel
    }

    fn forget(&mut self, dropped: (usize, usize)) {
        self.events -= dropped.0;
        self.bytes -= dropped.1;
    }

    /// Past `budget`, drops whole histories, never-published ones first, then the least
    /// recently used, down to `EVICT_TO` of the budget (never `keep`, the channel being
    /// written). One sorted pass over the app's channels per eviction round.
    fn evict(&mut self, budget: usize, keep: &str) {
        if self.bytes <= budget {
            return;
        }
        let target = (budget as f64 * EVICT_TO) as usize;
        let mut order: Vec<(bool, Instant, String)> = self
            .channels
            .iter()
            .filter(|(name, _)| name.as_str() != keep)
            .map(|(name, channel)| (channel.last != 0, channel.touched, name.clone()))
            .collect();
        order.sort_unstable();
        for (_, _, victim) in order {
            if self.bytes <= target {
                break;
            }
            let channel = self.channels.remove(&victim).expect("listed above");
            self.events -= channel.events.len();
            self.bytes -= channel.bytes + RECORD_BYTES;
        }
    }
}

impl MemoryStore {
    fn app(&self, app: &AppId) -> Arc<Mutex<AppHistory>> {
        if let Some(history) = self.apps.get(app) {
            return history.clone();
        }
        self.apps.entry(app.clone()).or_default().clone()
    }

    /// Gives the event on `channel` its position, keeps it, and calls `deliver` with the
    /// positioned frame and its seq while still holding the app's lock (so the next event
    /// on any of the app's history channels is delivered after this one).
    pub(crate) fn append(
        &self,
        app: &App,
        channel: &str,
        frame: &str,
        stats: &AllStats,
        deliver: impl FnOnce(&Frame, Stamp),
    ) -> Position {
        let now = Instant::now();
        let policy = &app.history;
        let history = self.app(&app.id);
        let mut history = history.lock().unwrap_or_else(|p| p.into_inner());
        let entry = history.channel(channel, now, policy.max_age, false);
        entry.last += 1;
        let position = Position {
            epoch: entry.epoch.clone(),
            seq: entry.last,
        };
        let positioned = Frame::from(messages::with_position(frame, &position.to_string()));
        let size = positioned.len();
        entry.events.push_back(Stored {
            seq: position.seq,
            at: now,
            frame: positioned.clone(),
        });
        entry.bytes += size;
        let dropped = entry.trim(Some(policy), now);
        history.events += 1;
        history.bytes += size;
        history.forget(dropped);
        history.evict(policy.max_app_bytes, channel);
        deliver(&positioned, position.stamp());
        let stats = stats.app(&app.id);
        stats.appended();
        stats.set_held(history.channels.len(), history.events, history.bytes);
        position
    }

    /// The channel's history `since` (see `Retained::read`).
    pub(crate) fn read(
        &self,
        app: &App,
        channel: &str,
        since: Since<'_>,
        limit: usize,
        stats: &AllStats,
    ) -> Read {
        let now = Instant::now();
        let history = self.app(&app.id);
        let mut history = history.lock().unwrap_or_else(|p| p.into_inner());
        let entry = history.channel(channel, now, app.history.max_age, true);
        let dropped = entry.trim(Some(&app.history), now);
        let read = entry.retained(since, limit).read(since, limit);
        history.forget(dropped);
        history.evict(app.history.max_app_bytes, channel);
        stats
            .app(&app.id)
            .set_held(history.channels.len(), history.events, history.bytes);
        read
    }

    /// Drops expired events everywhere, and histories empty and unused for a day.
    pub(crate) fn sweep(&self, now: Instant, stats: &AllStats) {
        for app in self.apps.iter() {
            let mut history = app.value().lock().unwrap_or_else(|p| p.into_inner());
            let mut dropped = (0, 0);
            let mut removed = Vec::new();
            for (name, channel) in &mut history.channels {
                let (events, bytes) = channel.trim(None, now);
                dropped.0 += events;
                dropped.1 += bytes;
                let idle = now.saturating_duration_since(channel.touched);
                let life = match channel.last {
                    0 => channel.max_age,
                    _ => EMPTY_RECORD_LIFE.max(channel.max_age),
                };
                if channel.events.is_empty() && idle > life {
                    removed.push(name.clone());
                }
            }
            history.forget(dropped);
            for name in removed {
                history.channels.remove(&name);
                history.bytes -= RECORD_BYTES;
            }
            let channels = &history.channels;
            let keep: VecDeque<String> = history
                .unpublished
                .iter()
                .filter(|name| channels.get(*name).is_some_and(|c| c.last == 0))
                .cloned()
                .collect();
            history.unpublished = keep;
            stats
                .app(app.key())
                .set_held(history.channels.len(), history.events, history.bytes);
        }
    }

    /// An app's channels, events and bytes held (tests look without creating anything).
    #[cfg(test)]
    pub(crate) fn held(&self, app: &AppId) -> (usize, usize, usize) {
        let history = self.app(app);
        let history = history.lock().unwrap_or_else(|p| p.into_inner());
        (history.channels.len(), history.events, history.bytes)
    }
}
