//! Node-local state: which sockets are connected to each app, which sockets are subscribed to
//! each channel, and presence membership.
//!
//! Every method is synchronous and holds a map lock only for its own duration, so no guard can
//! live across an `.await`. Methods that change state return what changed (channel occupied or
//! vacated, member added or removed) for the async caller to act on; the registry itself never
//! awaits, never logs, never emits webhooks. Fan-out (`broadcast`) only queues frames and
//! collects the sockets to flush into a `Flushes`, which the caller drains after releasing
//! its locks; nothing here waits or writes to a socket.
//!
//! Lock order: `Registry::apps`, then at most one of `AppRegistry::sockets` or
//! `AppRegistry::channels`; no method holds two shard locks of the same map.

pub(crate) mod cache;
pub(crate) mod presence;
pub(crate) mod socket_ids;
pub(crate) mod users;

#[cfg(test)]
mod leak_tests;

use sockwave_protocol::AppId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use tokio::time::{Duration, Instant};

use crate::outbox::{Flushes, Frame, SocketHandle};
pub(crate) use cache::ChannelCache;
pub(crate) use presence::{MemberData, Presence};
pub(crate) use socket_ids::SocketIdGenerator;
pub use sockwave_protocol::SocketId;
pub(crate) use users::Users;

use sockwave_protocol::ChannelName;

/// All apps' node-local state.
#[derive(Debug, Default)]
pub struct Registry {
    apps: DashMap<AppId, Arc<AppRegistry>>,
}

impl Registry {
    /// The state of one app, created on first use.
    pub fn app(&self, app_id: &AppId) -> Arc<AppRegistry> {
        if let Some(app) = self.apps.get(app_id) {
            return app.clone();
        }
        self.apps
            .entry(app_id.clone())
            .or_insert_with(|| Arc::new(AppRegistry::new(app_id)))
            .clone()
    }

    /// Connected sockets per app on this node (for cluster heartbeats).
    pub(crate) fn connection_counts(&self) -> HashMap<AppId, u64> {
        self.apps
            .iter()
            .map(|app| (app.key().clone(), app.connection_count()))
            .collect()
    }

    /// Every app's state (a snapshot of the handles; for metrics scrapes).
    pub(crate) fn apps(&self) -> Vec<Arc<AppRegistry>> {
        self.apps.iter().map(|app| app.value().clone()).collect()
    }

    /// Drops expired cache entries of every app.
    pub(crate) fn sweep_caches(&self, now: Instant) {
        for app in self.apps.iter() {
            app.cache.sweep(now);
        }
    }

    /// Total sockets connected across apps.
    pub fn total_connections(&self) -> u64 {
        self.apps.iter().map(|app| app.connection_count()).sum()
    }
}

/// One app's sockets and channels on this node.
#[derive(Debug)]
pub struct AppRegistry {
    app_id: AppId,
    sockets: DashMap<SocketId, SocketHandle>,
    n_sockets: AtomicU64,
    channels: DashMap<String, Channel>,
    /// Signed-in users and watchlists.
    pub users: Users,
    /// Last events of cache channels.
    pub(crate) cache: ChannelCache,
}

#[derive(Debug, Default)]
struct Channel {
    subscribers: HashMap<SocketId, SocketHandle>,
    presence: Option<Presence>,
    /// When `subscription_count` was last broadcast, for the 5 s throttle.
    count_sent_at: Option<Instant>,
    /// A throttled `subscription_count` is waiting to be sent.
    count_pending: bool,
    /// Subscribers whose history resume is being read: their frames wait here, in order
    /// (see `finish_hold`). Empty unless a resume is in progress.
    held: HashMap<SocketId, Held>,
    /// Positioned frames up to this stamp already reached the socket through a replay; a
    /// later copy arriving from the cluster is skipped. Dropped at the first newer frame.
    floors: HashMap<SocketId, Stamp>,
    /// The last positioned frame this node delivered on the channel: a later one that is
    /// not the next means this node missed some (see `broadcast_positioned`).
    last: Option<Stamp>,
}

/// A history frame's place: its epoch (hashed) and seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// The epoch's hash (`Stamp::epoch_key`).
    pub(crate) epoch: u64,
    /// The event's number in that epoch.
    pub(crate) seq: u64,
}

impl Stamp {
    /// A stable 64-bit key for an epoch text (FNV-1a): stamps compare epochs without
    /// carrying strings through the fan-out.
    pub(crate) fn epoch_key(epoch: &str) -> u64 {
        epoch.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// Whether `self` comes at or before `other` in the same epoch.
    fn covered_by(self, other: Stamp) -> bool {
        self.epoch == other.epoch && self.seq <= other.seq
    }
}

/// Asks every subscriber of a channel whose frames this node missed to reconnect (4200), and
/// drops what was held or remembered for them: clients with the recovery add-on resume from
/// the last frame they processed, on any node.
fn resync(
    subscribers: &HashMap<SocketId, SocketHandle>,
    held: &mut HashMap<SocketId, Held>,
    floors: &mut HashMap<SocketId, Stamp>,
) {
    for socket in subscribers.values() {
        socket.request_close(crate::outbox::CloseRequest::Resync);
    }
    held.clear();
    floors.clear();
}

/// Hands out hold tokens, so a resume only ends the hold it started.
static HOLD_TOKENS: AtomicU64 = AtomicU64::new(1);

/// A resuming subscriber's frames: positioned ones with their stamp. Past the socket's queue
/// capacity the hold overflows: the frames are dropped and, when the resume ends, the socket
/// is closed as a slow consumer (4100) and resumes again from where it stopped, so nothing
/// is lost silently.
#[derive(Debug)]
struct Held {
    token: u64,
    frames: Vec<(Option<Stamp>, Frame)>,
    overflowed: bool,
}

/// What a resume found in the history, for `finish_hold`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Replay<'a> {
    /// The events the socket missed, oldest first (empty unless `seam` is `Resumed`).
    pub(crate) events: &'a [(u64, Frame)],
    /// The epoch's key (`Stamp::epoch_key`) when the store answered.
    pub(crate) epoch: Option<u64>,
    /// The channel's last seq when the history was read.
    pub(crate) latest: u64,
    /// How the client's past meets the live frames.
    pub(crate) seam: Seam,
}

/// How a subscriber's past meets the live frames at the end of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seam {
    /// The replay reaches `latest`: later copies of events up to it are duplicates.
    Resumed,
    /// The client must refetch its state, which it does after the notice, so the state
    /// includes every event up to `latest`: later copies of them are skipped.
    Gap,
    /// A first subscribe: every event that arrives from now on is new to the client (one
    /// published before the read may still be on its way from another node), so none is
    /// skipped, and the claimed position is the one before the first held event.
    Fresh,
}

/// What `finish_hold` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Finished {
    /// The position the notice claims: the socket has every event up to it that it will
    /// ever get from before, and gets every one after it.
    pub(crate) claimed: u64,
    /// Held frames sent after the notice.
    pub(crate) released: usize,
}

/// Shrinks `map` when it uses under a quarter of a capacity of more than 1,024 entries.
pub(crate) fn shrink_if_sparse<K, V>(map: &DashMap<K, V>)
where
    K: Eq + std::hash::Hash,
{
    let capacity = map.capacity();
    if capacity > 1024 && map.len() * 4 < capacity {
        map.shrink_to_fit();
    }
}

/// Above this many subscribers, `subscription_count` is sent at most every
/// `COUNT_THROTTLE` (as Pusher does).
pub(crate) const COUNT_THROTTLE_ABOVE: usize = 100;
/// The `subscription_count` throttle interval.
pub(crate) const COUNT_THROTTLE: Duration = Duration::from_secs(5);

/// What to do about a changed subscription count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CountUpdate {
    /// Broadcast the count now.
    SendNow,
    /// Throttled: call `take_pending_count` at this instant.
    SendAt(Instant),
    /// Throttled, and a send is already scheduled (or the channel is empty).
    Nothing,
}

/// What a subscription changed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subscribed {
    /// The socket was already subscribed; nothing changed.
    pub(crate) already_subscribed: bool,
    /// Subscribers of the channel on this node, after the change.
    pub(crate) local_count: usize,
    /// Presence: the user's first socket on this node joined.
    pub(crate) member_added: Option<MemberData>,
    /// With a hold: its token, for `finish_hold`.
    pub(crate) hold: Option<u64>,
}

/// What an unsubscription changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Unsubscribed {
    /// The socket had been subscribed.
    pub(crate) was_subscribed: bool,
    /// Subscribers of the channel on this node, after the change.
    pub(crate) local_count: usize,
    /// Presence: the user's last socket on this node left.
    pub(crate) member_removed: Option<String>,
}

impl AppRegistry {
    /// An empty registry for one app.
    pub(crate) fn new(app_id: &AppId) -> AppRegistry {
        AppRegistry {
            app_id: app_id.clone(),
            sockets: DashMap::new(),
            n_sockets: AtomicU64::new(0),
            channels: DashMap::new(),
            users: Users::default(),
            cache: ChannelCache::default(),
        }
    }

    /// The app this registry belongs to.
    pub(crate) fn app_id(&self) -> &AppId {
        &self.app_id
    }

    /// Registers a connected socket unless the app is at `max_connections`.
    pub fn try_add_socket(&self, socket: SocketHandle, max_connections: Option<u64>) -> bool {
        let admitted = self
            .n_sockets
            .fetch_update(
                Ordering::AcqRel,
                Ordering::Acquire,
                |n| match max_connections {
                    Some(max) if n >= max => None,
                    _ => Some(n + 1),
                },
            )
            .is_ok();
        if admitted {
            self.sockets.insert(socket.id(), socket);
        }
        admitted
    }

    /// Forgets a socket. Its channel subscriptions must have been removed first.
    pub fn remove_socket(&self, socket_id: SocketId) {
        if self.sockets.remove(&socket_id).is_some() {
            self.n_sockets.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Calls `f` for every socket of this app on this node (the watchdog's walk). Holds one
    /// shard's read lock at a time; `f` must not call back into the registry.
    pub(crate) fn for_each_socket(&self, mut f: impl FnMut(&SocketHandle)) {
        for socket in self.sockets.iter() {
            f(socket.value());
        }
    }

    /// Gives memory back after a crowd left: a hash map keeps the capacity of its largest
    /// size, so without this the socket and channel maps would hold tens of bytes per
    /// departed socket for ever. Cheap enough for the watchdog's tick (reads shard sizes).
    pub(crate) fn shrink_if_sparse(&self) {
        shrink_if_sparse(&self.sockets);
        shrink_if_sparse(&self.channels);
        self.users.shrink_if_sparse();
    }

    /// Sockets connected to this app on this node.
    pub fn connection_count(&self) -> u64 {
        self.n_sockets.load(Ordering::Acquire)
    }

    /// Number of channels with at least one subscriber.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Presence members (distinct users per channel) with a socket on this node, summed over
    /// the app's presence channels. Walks every channel: for metrics scrapes, not hot paths.
    pub(crate) fn presence_member_count(&self) -> usize {
        self.channels
            .iter()
            .filter_map(|entry| entry.presence.as_ref().map(Presence::n_users))
            .sum()
    }

    /// Subscribes a socket; `member` is given exactly for presence channels. With `hold`, the
    /// channel's frames for this socket wait until `finish_hold` (a history resume).
    pub(crate) fn subscribe(
        &self,
        channel: &ChannelName,
        socket: &SocketHandle,
        member: Option<MemberData>,
        hold: bool,
    ) -> Subscribed {
        let mut entry = self
            .channels
            .entry(channel.as_str().to_string())
            .or_default();
        let state = entry.value_mut();
        let member_added = member.filter(|member| {
            state
                .presence
                .get_or_insert_with(Presence::default)
                .join(socket.id(), &member.user_id)
        });
        let already_subscribed = state
            .subscribers
            .insert(socket.id(), socket.clone())
            .is_some();
        let hold = (hold && !already_subscribed).then(|| {
            let token = HOLD_TOKENS.fetch_add(1, Ordering::Relaxed);
            let held = Held {
                token,
                frames: Vec::new(),
                overflowed: false,
            };
            state.held.insert(socket.id(), held);
            token
        });
        Subscribed {
            already_subscribed,
            local_count: state.subscribers.len(),
            member_added,
            hold,
        }
    }

    /// Unsubscribes a socket; an emptied channel is removed.
    pub(crate) fn unsubscribe(&self, channel: &str, socket_id: SocketId) -> Unsubscribed {
        let Some(mut entry) = self.channels.get_mut(channel) else {
            return Unsubscribed::default();
        };
        let state = entry.value_mut();
        let was_subscribed = state.subscribers.remove(&socket_id).is_some();
        state.held.remove(&socket_id);
        state.floors.remove(&socket_id);
        let member_removed = state.presence.as_mut().and_then(|p| p.leave(socket_id));
        let local_count = state.subscribers.len();
        drop(entry);
        if local_count == 0 {
            // Another socket may have subscribed between the drop and here: only remove empty.
            self.channels
                .remove_if(channel, |_, c| c.subscribers.is_empty());
        }
        Unsubscribed {
            was_subscribed,
            local_count,
            member_removed,
        }
    }

    /// Queues `frame` for every subscriber of `channel` except `except` into `flushes`;
    /// returns how many sockets took it. Slow consumers are asked to close instead. Nothing is
    /// written here: the caller flushes once it holds no lock (`outbox::fanout`), so
    /// subscribing to this shard never waits for syscalls.
    pub fn broadcast(
        &self,
        channel: &str,
        frame: &Frame,
        except: Option<SocketId>,
        flushes: &mut Flushes,
    ) -> usize {
        let Some(state) = self.channels.get(channel) else {
            return 0;
        };
        if !state.held.is_empty() {
            drop(state);
            return self.broadcast_positioned(channel, frame, None, except, flushes);
        }
        state
            .subscribers
            .values()
            .filter(|socket| Some(socket.id()) != except)
            .filter(|socket| flushes.send(socket, frame))
            .count()
    }

    /// `broadcast` for a history channel's frame (`stamp` given) or for a channel where a
    /// resume holds frames: held subscribers keep the frame for later, and a subscriber that
    /// already got this event in a replay skips it. A stamp that is not the one after the
    /// last this node delivered means the node missed frames (its cluster engine link was
    /// down): the channel's subscribers are asked to reconnect (4200) instead, so clients
    /// with the recovery add-on resume exactly where they stopped.
    pub(crate) fn broadcast_positioned(
        &self,
        channel: &str,
        frame: &Frame,
        stamp: Option<Stamp>,
        except: Option<SocketId>,
        flushes: &mut Flushes,
    ) -> usize {
        let Some(mut state) = self.channels.get_mut(channel) else {
            return 0;
        };
        let Channel {
            subscribers,
            held,
            floors,
            last,
            ..
        } = &mut *state;
        if let Some(stamp) = stamp {
            let missed = last.is_some_and(|last| {
                last.epoch == stamp.epoch && stamp.seq > last.seq.saturating_add(1)
            });
            if last.is_none_or(|last| last.epoch != stamp.epoch || stamp.seq > last.seq) {
                *last = Some(stamp);
            }
            if missed {
                resync(subscribers, held, floors);
                return 0;
            }
        }
        let mut reached = 0;
        for (id, socket) in subscribers.iter() {
            if Some(*id) == except {
                continue;
            }
            if let Some(waiting) = held.get_mut(id) {
                if waiting.overflowed {
                    continue;
                }
                if waiting.frames.len() >= socket.capacity() {
                    waiting.overflowed = true;
                    waiting.frames = Vec::new();
                    continue;
                }
                waiting.frames.push((stamp, frame.clone()));
                reached += 1;
                continue;
            }
            if let (Some(stamp), false) = (stamp, floors.is_empty()) {
                match floors.get(id) {
                    Some(floor) if stamp.covered_by(*floor) => continue,
                    Some(_) => {
                        floors.remove(id);
                    }
                    None => {}
                }
            }
            if flushes.send(socket, frame) {
                reached += 1;
            }
        }
        reached
    }

    /// Ends a resume's hold — the one `token` names, so a resume that outlived its
    /// subscription never ends a newer one's: queues the replayed events, then the notice
    /// `notice(claimed)` builds, then the held frames the seam lets through (see `Seam`).
    /// `None` when the socket left the channel (or subscribed again) meanwhile, or when its
    /// hold overflowed (the socket is then asked to close with 4100 and resumes again).
    pub(crate) fn finish_hold(
        &self,
        channel: &str,
        socket: &SocketHandle,
        token: u64,
        replay: Replay<'_>,
        notice: impl FnOnce(u64) -> Frame,
        flushes: &mut Flushes,
    ) -> Option<Finished> {
        let Replay {
            events: replay,
            epoch,
            latest,
            seam,
        } = replay;
        let mut state = self.channels.get_mut(channel)?;
        if state.held.get(&socket.id())?.token != token {
            return None;
        }
        let held = state.held.remove(&socket.id())?;
        if held.overflowed {
            socket.request_close(crate::outbox::CloseRequest::SlowConsumer);
            return None;
        }
        let first_held = held
            .frames
            .iter()
            .find_map(|(stamp, _)| stamp.filter(|s| Some(s.epoch) == epoch))
            .map(|stamp| stamp.seq);
        if let Some(epoch) = epoch {
            // Frames reach this node in position order, so the first held one cannot be
            // newer than the one after what the read saw, unless this node missed some (its
            // engine link dropped them): everyone on the channel reconnects and resumes.
            if first_held.is_some_and(|first| first > latest.saturating_add(1)) {
                let Channel {
                    subscribers,
                    held: holds,
                    floors,
                    ..
                } = &mut *state;
                resync(subscribers, holds, floors);
                return None;
            }
            // The read tells where the channel stood: a later frame that is not the next
            // one reveals a gap (see `broadcast_positioned`).
            if state.last.is_none() {
                state.last = Some(Stamp { epoch, seq: latest });
            }
        }
        let claimed = match (seam, first_held) {
            (Seam::Fresh, Some(first)) => latest.min(first.saturating_sub(1)),
            _ => latest,
        };
        for (_, frame) in replay {
            flushes.send(socket, frame);
        }
        flushes.send(socket, &notice(claimed));
        // Held frames of the read's epoch up to the floor were replayed (or precede the
        // claimed position); frames of another epoch are always new.
        let mut floor = match (seam, epoch) {
            (Seam::Resumed | Seam::Gap, Some(epoch)) => Some(Stamp {
                epoch,
                seq: claimed,
            }),
            _ => None,
        };
        let mut released = 0;
        for (stamp, frame) in held.frames {
            if let (Some(stamp), Some(current)) = (stamp, floor) {
                if stamp.covered_by(current) {
                    continue;
                }
            }
            if stamp.is_some() && floor.is_some() {
                floor = stamp;
            }
            flushes.send(socket, &frame);
            released += 1;
        }
        if let Some(floor) = floor {
            state.floors.insert(socket.id(), floor);
        }
        Some(Finished { claimed, released })
    }

    /// The last history frame this node delivered, per channel that had one (to check
    /// against the store after a cluster engine outage).
    pub(crate) fn history_marks(&self) -> Vec<(String, Stamp)> {
        self.channels
            .iter()
            .filter_map(|entry| Some((entry.key().clone(), entry.last?)))
            .collect()
    }

    /// After an engine outage: when the store is ahead of what this node delivered on the
    /// channel (`latest` is the store's position), the node missed frames — its subscribers
    /// reconnect and resume. Returns whether they were asked to.
    pub(crate) fn resync_if_behind(&self, channel: &str, latest: Stamp) -> bool {
        let Some(mut state) = self.channels.get_mut(channel) else {
            return false;
        };
        let behind = state
            .last
            .is_some_and(|last| last.epoch != latest.epoch || last.seq < latest.seq);
        if behind {
            let Channel {
                subscribers,
                held,
                floors,
                last,
                ..
            } = &mut *state;
            resync(subscribers, held, floors);
            *last = None;
        }
        behind
    }

    /// Subscribers of a channel on this node.
    pub(crate) fn subscriber_count(&self, channel: &str) -> usize {
        self.channels
            .get(channel)
            .map_or(0, |state| state.subscribers.len())
    }

    /// Whether a socket is subscribed to a channel.
    pub fn is_subscribed(&self, channel: &str, socket_id: SocketId) -> bool {
        self.channels
            .get(channel)
            .is_some_and(|state| state.subscribers.contains_key(&socket_id))
    }

    /// Records that a channel's cluster-wide subscriber count changed to `total` and says
    /// when to announce it.
    pub(crate) fn note_count_change(
        &self,
        channel: &str,
        total: usize,
        now: Instant,
    ) -> CountUpdate {
        let Some(mut state) = self.channels.get_mut(channel) else {
            return CountUpdate::Nothing;
        };
        let due = state
            .count_sent_at
            .is_none_or(|sent| now >= sent + COUNT_THROTTLE);
        if total <= COUNT_THROTTLE_ABOVE || due {
            state.count_sent_at = Some(now);
            state.count_pending = false;
            CountUpdate::SendNow
        } else if state.count_pending {
            CountUpdate::Nothing
        } else {
            state.count_pending = true;
            CountUpdate::SendAt(
                state
                    .count_sent_at
                    .expect("throttled implies a previous send")
                    + COUNT_THROTTLE,
            )
        }
    }

    /// Whether a throttled count is still due for a channel (clears the flag).
    pub(crate) fn take_pending_count(&self, channel: &str, now: Instant) -> bool {
        let Some(mut state) = self.channels.get_mut(channel) else {
            return false;
        };
        if !state.count_pending {
            return false;
        }
        state.count_pending = false;
        state.count_sent_at = Some(now);
        true
    }

    /// Sockets that joined any presence channel as `user_id`.
    pub fn presence_sockets_of(&self, user_id: &str) -> Vec<SocketHandle> {
        let mut found = Vec::new();
        for entry in self.channels.iter() {
            let Some(presence) = &entry.presence else {
                continue;
            };
            for (socket_id, socket) in &entry.subscribers {
                if presence.user_of(*socket_id) == Some(user_id) {
                    found.push(socket.clone());
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(ids: &SocketIdGenerator) -> (SocketHandle, SocketHandle) {
        let handle = SocketHandle::detached(ids.next_id(), 8);
        (handle.clone(), handle)
    }

    fn channel(name: &str) -> ChannelName {
        ChannelName::parse(name, 200).unwrap()
    }

    fn join(user: &str) -> Option<MemberData> {
        Some(MemberData {
            user_id: user.into(),
            user_info: None,
        })
    }

    #[test]
    fn subscription_counts_are_throttled_above_100() {
        let app = AppRegistry::new(&AppId::from("app"));
        let ids = SocketIdGenerator::default();
        let (s, _r) = socket(&ids);
        app.subscribe(&channel("big"), &s, None, false);
        let now = Instant::now();
        assert_eq!(app.note_count_change("big", 101, now), CountUpdate::SendNow);
        assert_eq!(
            app.note_count_change("big", 102, now),
            CountUpdate::SendAt(now + COUNT_THROTTLE)
        );
        assert_eq!(app.note_count_change("big", 103, now), CountUpdate::Nothing);
        assert!(app.take_pending_count("big", now + COUNT_THROTTLE));
        assert!(!app.take_pending_count("big", now + COUNT_THROTTLE));
        assert_eq!(
            app.note_count_change("big", 50, now),
            CountUpdate::SendNow,
            "small counts are never held"
        );
    }

    #[test]
    fn connection_limit() {
        let ids = SocketIdGenerator::default();
        let app = AppRegistry::new(&AppId::from("app"));
        let (a, _ra) = socket(&ids);
        let (b, _rb) = socket(&ids);
        assert!(app.try_add_socket(a.clone(), Some(1)));
        assert!(!app.try_add_socket(b.clone(), Some(1)));
        app.remove_socket(a.id());
        assert!(app.try_add_socket(b, Some(1)));
        assert_eq!(app.connection_count(), 1);
    }

    #[test]
    fn local_counts_and_cleanup() {
        let ids = SocketIdGenerator::default();
        let app = AppRegistry::new(&AppId::from("app"));
        let (a, _ra) = socket(&ids);
        let (b, _rb) = socket(&ids);
        let ch = channel("news");
        assert_eq!(app.subscribe(&ch, &a, None, false).local_count, 1);
        let again = app.subscribe(&ch, &a, None, false);
        assert!(again.already_subscribed);
        assert_eq!(app.subscribe(&ch, &b, None, false).local_count, 2);
        assert_eq!(app.unsubscribe("news", a.id()).local_count, 1);
        let last = app.unsubscribe("news", b.id());
        assert!(last.was_subscribed);
        assert_eq!(last.local_count, 0);
        assert_eq!(app.channel_count(), 0);
        assert!(!app.unsubscribe("news", b.id()).was_subscribed);
    }

    #[test]
    fn broadcast_skips_the_excluded_socket() {
        let ids = SocketIdGenerator::default();
        let app = AppRegistry::new(&AppId::from("app"));
        let (a, ra) = socket(&ids);
        let (b, rb) = socket(&ids);
        let ch = channel("news");
        app.subscribe(&ch, &a, None, false);
        app.subscribe(&ch, &b, None, false);
        let mut flushes = Flushes::new();
        let frame = Frame::from("hi");
        assert_eq!(app.broadcast("news", &frame, Some(a.id()), &mut flushes), 1);
        assert_eq!(app.broadcast("nobody", &frame, None, &mut flushes), 0);
        flushes.flush();
        assert!(ra.take_queued().is_empty());
        assert_eq!(rb.take_queued(), ["hi"]);
    }

    #[test]
    fn presence_first_and_last_local_socket() {
        let ids = SocketIdGenerator::default();
        let app = AppRegistry::new(&AppId::from("app"));
        let (a, _ra) = socket(&ids);
        let (b, _rb) = socket(&ids);
        let ch = channel("presence-room");
        let first = app.subscribe(&ch, &a, join("1"), false);
        assert_eq!(first.member_added.unwrap().user_id, "1");
        assert!(app
            .subscribe(&ch, &b, join("1"), false)
            .member_added
            .is_none());
        assert_eq!(app.presence_sockets_of("1").len(), 2);
        assert_eq!(
            app.unsubscribe("presence-room", a.id()).member_removed,
            None
        );
        assert_eq!(
            app.unsubscribe("presence-room", b.id()).member_removed,
            Some("1".into())
        );
        assert_eq!(app.channel_count(), 0);
    }
}
