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
mod hold;
pub(crate) mod presence;
pub(crate) mod socket_ids;
pub(crate) mod users;

#[cfg(test)]
mod leak_tests;
#[cfg(test)]
mod tests;

use sockwave_protocol::AppId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use tokio::time::{Duration, Instant};

use crate::outbox::{Flushes, Frame, SocketHandle};
pub(crate) use cache::ChannelCache;
use hold::Held;
pub(crate) use hold::{Finished, Replay, Seam, Stamp};
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
            let (token, held) = Held::start();
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
