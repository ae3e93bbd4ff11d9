//! The cluster as this node sees it: every node's channels, presence members and signed-in
//! users — this node's own included — and the cluster-level transitions each change causes.
//!
//! All membership decisions go through one `ClusterView` behind one lock, whether the change
//! is local (a socket here joined) or remote (a message from another node), so "the user's
//! first socket in the cluster" is decided exactly once per node and `member_added` /
//! `member_removed` reach every subscriber exactly once. Pure: callers pass the time.

use sockwave_protocol::AppId;
use std::collections::{BTreeSet, HashMap, HashSet};

use tokio::time::{Duration, Instant};

use super::wire::{AppSnapshot, Change};

/// A cluster-level change for the caller to act on (frames to local sockets, webhooks).
#[derive(Debug, Clone)]
pub enum Transition {
    /// The channel went from no subscribers anywhere to some.
    ChannelOccupied {
        /// App id.
        app: AppId,
        /// Channel.
        channel: String,
    },
    /// The channel's last subscriber anywhere left.
    ChannelVacated {
        /// App id.
        app: AppId,
        /// Channel.
        channel: String,
    },
    /// The cluster-wide subscriber count of a channel changed.
    CountChanged {
        /// App id.
        app: AppId,
        /// Channel.
        channel: String,
        /// The new total.
        total: usize,
    },
    /// The user's first socket in the cluster joined the presence channel.
    MemberAdded {
        /// App id.
        app: AppId,
        /// Channel.
        channel: String,
        /// User id.
        user_id: String,
        /// Member info.
        user_info: Option<serde_json::Value>,
    },
    /// The user's last socket in the cluster left the presence channel.
    MemberRemoved {
        /// App id.
        app: AppId,
        /// Channel.
        channel: String,
        /// User id.
        user_id: String,
    },
    /// The user's first signed-in socket in the cluster.
    UserOnline {
        /// App id.
        app: AppId,
        /// User id.
        user_id: String,
    },
    /// The user's last signed-in socket in the cluster went away.
    UserOffline {
        /// App id.
        app: AppId,
        /// User id.
        user_id: String,
    },
}

#[derive(Debug, Default)]
struct NodeState {
    last_seen: Option<Instant>,
    apps: HashMap<AppId, AppSnapshot>,
}

/// Every node's state, keyed by node id.
#[derive(Debug)]
pub struct ClusterView {
    self_id: String,
    nodes: HashMap<String, NodeState>,
    /// Channels with subscribers anywhere in the cluster, per app: kept from the occupied /
    /// vacated transitions so counting them never walks every channel under the lock.
    occupied: HashMap<AppId, usize>,
}

impl ClusterView {
    /// A view holding only this node.
    pub(crate) fn new(self_id: &str) -> ClusterView {
        let mut nodes = HashMap::new();
        nodes.insert(self_id.to_string(), NodeState::default());
        ClusterView {
            self_id: self_id.to_string(),
            nodes,
            occupied: HashMap::new(),
        }
    }

    /// This node's id.
    pub fn self_id(&self) -> &str {
        &self.self_id
    }

    /// Applies one change reported by `node` (this node's own changes included).
    pub(crate) fn apply(
        &mut self,
        node: &str,
        app: &AppId,
        change: Change,
        now: Instant,
    ) -> Vec<Transition> {
        self.touch(node, now);
        let before = self.summary(app, change_key(&change));
        let state = self.app_mut(node, app);
        match change {
            Change::Count { channel, count: 0 } => {
                state.channels.remove(&channel);
            }
            Change::Count { channel, count } => {
                state.channels.insert(channel, count);
            }
            Change::MemberJoined {
                channel,
                user_id,
                user_info,
            } => {
                state
                    .presence
                    .entry(channel)
                    .or_default()
                    .insert(user_id, user_info);
            }
            Change::MemberLeft { channel, user_id } => {
                if let Some(members) = state.presence.get_mut(&channel) {
                    members.remove(&user_id);
                    if members.is_empty() {
                        state.presence.remove(&channel);
                    }
                }
            }
            Change::UserOnline { user_id } => {
                if !state.users.contains(&user_id) {
                    state.users.push(user_id);
                }
            }
            Change::UserOffline { user_id } => state.users.retain(|u| *u != user_id),
        }
        let after = self.summary(app, before.key.clone());
        let transitions = diff(app, &before, &after, self);
        self.tally(&transitions);
        transitions
    }

    /// Replaces everything `node` holds with a snapshot.
    pub(crate) fn apply_snapshot(
        &mut self,
        node: &str,
        apps: HashMap<AppId, AppSnapshot>,
        now: Instant,
    ) -> Vec<Transition> {
        self.touch(node, now);
        let old = std::mem::take(&mut self.nodes.get_mut(node).expect("touched").apps);
        self.replace(node, old, apps)
    }

    /// Records a heartbeat; returns `true` when the node was unknown.
    pub(crate) fn heartbeat(
        &mut self,
        node: &str,
        connections: HashMap<AppId, u64>,
        now: Instant,
    ) -> bool {
        let new = !self.nodes.contains_key(node);
        self.touch(node, now);
        let state = self.nodes.get_mut(node).expect("touched");
        for app in state.apps.values_mut() {
            app.connections = 0;
        }
        for (app, count) in connections {
            state.apps.entry(app).or_default().connections = count;
        }
        new
    }

    /// Forgets a node (goodbye or dead); returns the transitions its state's removal causes.
    pub fn remove_node(&mut self, node: &str) -> Vec<Transition> {
        if node == self.self_id {
            return Vec::new();
        }
        let Some(state) = self.nodes.get_mut(node) else {
            return Vec::new();
        };
        let old = std::mem::take(&mut state.apps);
        let transitions = self.replace(node, old, HashMap::new());
        self.nodes.remove(node);
        transitions
    }

    /// Marks every node as just heard from (after this node's own outage, so the others get
    /// a full timeout to answer before they count as dead).
    pub(crate) fn refresh_all(&mut self, now: Instant) {
        for state in self.nodes.values_mut() {
            state.last_seen = Some(now);
        }
    }

    /// Does not count `pause` (time this node itself stood still: a long GC-like pause, a
    /// frozen VM) against the others: their silence is shifted by it, never past `now`.
    pub(crate) fn forgive(&mut self, pause: Duration, now: Instant) {
        for state in self.nodes.values_mut() {
            if let Some(seen) = state.last_seen.as_mut() {
                *seen = (*seen + pause).min(now);
            }
        }
    }

    /// Nodes silent for longer than `timeout` (never this node).
    pub(crate) fn dead_nodes(&self, now: Instant, timeout: Duration) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(id, state)| {
                **id != self.self_id
                    && state
                        .last_seen
                        .is_some_and(|seen| now.duration_since(seen) > timeout)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Ids of every known node, this one included, sorted.
    pub fn node_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.nodes.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Sockets connected to `app` on other nodes (as of their last heartbeat).
    pub fn remote_connections(&self, app: &AppId) -> u64 {
        self.nodes
            .iter()
            .filter(|(id, _)| **id != self.self_id)
            .filter_map(|(_, state)| state.apps.get(app))
            .map(|a| a.connections)
            .sum()
    }

    /// Subscribers of a channel across the cluster.
    pub(crate) fn subscription_count(&self, app: &AppId, channel: &str) -> usize {
        self.apps(app).filter_map(|a| a.channels.get(channel)).sum()
    }

    /// The largest number of subscribers of `channels` (summed per node) any other node holds.
    pub(crate) fn busiest_remote_audience<'a>(
        &self,
        app: &AppId,
        channels: impl Iterator<Item = &'a str> + Clone,
    ) -> usize {
        self.nodes
            .iter()
            .filter(|(id, _)| **id != self.self_id)
            .filter_map(|(_, state)| state.apps.get(app))
            .map(|apps| {
                channels
                    .clone()
                    .filter_map(|channel| apps.channels.get(channel))
                    .sum::<usize>()
            })
            .max()
            .unwrap_or(0)
    }

    /// How many channels have subscribers anywhere in the cluster; constant time.
    pub(crate) fn channel_count(&self, app: &AppId) -> usize {
        self.occupied.get(app).copied().unwrap_or(0)
    }

    /// Occupied channels with a name starting with `prefix`: name → total subscribers.
    pub fn channels(&self, app: &AppId, prefix: &str) -> Vec<(String, usize)> {
        let mut totals: HashMap<&str, usize> = HashMap::new();
        for state in self.apps(app) {
            for (name, count) in state.channels.iter().filter(|(n, _)| n.starts_with(prefix)) {
                *totals.entry(name).or_default() += count;
            }
        }
        let mut list: Vec<(String, usize)> = totals
            .into_iter()
            .map(|(n, c)| (n.to_string(), c))
            .collect();
        list.sort();
        list
    }

    /// Distinct presence members of a channel across the cluster, sorted by id. When nodes
    /// hold different `user_info` for a user, the lowest node id's wins (deterministic).
    pub fn members(&self, app: &AppId, channel: &str) -> Vec<(String, Option<serde_json::Value>)> {
        let mut node_ids: Vec<&String> = self.nodes.keys().collect();
        node_ids.sort();
        let mut members: HashMap<String, Option<serde_json::Value>> = HashMap::new();
        for node in node_ids {
            let Some(users) = self.nodes[node]
                .apps
                .get(app)
                .and_then(|a| a.presence.get(channel))
            else {
                continue;
            };
            for (user_id, info) in users {
                members
                    .entry(user_id.clone())
                    .or_insert_with(|| info.clone());
            }
        }
        let mut list: Vec<_> = members.into_iter().collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// Whether a user is a member of a presence channel on any node.
    pub fn has_member(&self, app: &AppId, channel: &str, user_id: &str) -> bool {
        self.apps(app).any(|a| {
            a.presence
                .get(channel)
                .is_some_and(|members| members.contains_key(user_id))
        })
    }

    /// Number of distinct presence members of a channel across the cluster.
    pub(crate) fn user_count(&self, app: &AppId, channel: &str) -> usize {
        let users: HashSet<&String> = self
            .apps(app)
            .filter_map(|a| a.presence.get(channel))
            .flat_map(|members| members.keys())
            .collect();
        users.len()
    }

    /// Whether a user is signed in anywhere in the cluster.
    pub fn is_online(&self, app: &AppId, user_id: &str) -> bool {
        self.apps(app).any(|a| a.users.iter().any(|u| u == user_id))
    }

    /// Whether this node is the one that reports cluster-level events (webhooks) for a key:
    /// the live node with the highest hash of (node, key) — rendezvous hashing, so ownership
    /// moves only for the keys of a node that joins or leaves.
    pub(crate) fn owns(&self, app: &AppId, channel: &str) -> bool {
        let owner = self
            .nodes
            .keys()
            .max_by_key(|node| rendezvous(node, app, channel))
            .expect("the view always holds this node");
        *owner == self.self_id
    }

    /// This node's own state, for a snapshot.
    pub(crate) fn own_snapshot(&self) -> HashMap<AppId, AppSnapshot> {
        self.nodes[&self.self_id].apps.clone()
    }

    fn apps<'a>(&'a self, app: &'a str) -> impl Iterator<Item = &'a AppSnapshot> + 'a {
        self.nodes
            .values()
            .filter_map(move |state| state.apps.get(app))
    }

    fn touch(&mut self, node: &str, now: Instant) {
        self.nodes.entry(node.to_string()).or_default().last_seen = Some(now);
    }

    fn app_mut(&mut self, node: &str, app: &AppId) -> &mut AppSnapshot {
        self.nodes
            .entry(node.to_string())
            .or_default()
            .apps
            .entry(app.clone())
            .or_default()
    }

    /// Swaps a node's state and reports the difference key by key.
    fn replace(
        &mut self,
        node: &str,
        old: HashMap<AppId, AppSnapshot>,
        new: HashMap<AppId, AppSnapshot>,
    ) -> Vec<Transition> {
        let mut keys: BTreeSet<(AppId, Key)> = BTreeSet::new();
        for (app, state) in old.iter().chain(new.iter()) {
            keys.extend(
                state
                    .channels
                    .keys()
                    .map(|c| (app.clone(), Key::Channel(c.clone()))),
            );
            for (channel, members) in &state.presence {
                keys.extend(
                    members
                        .keys()
                        .map(|u| (app.clone(), Key::Member(channel.clone(), u.clone()))),
                );
            }
            keys.extend(
                state
                    .users
                    .iter()
                    .map(|u| (app.clone(), Key::User(u.clone()))),
            );
        }
        self.nodes.entry(node.to_string()).or_default().apps = old;
        let before: Vec<Summary> = keys
            .iter()
            .map(|(app, key)| self.summary(app, key.clone()))
            .collect();
        self.nodes.get_mut(node).expect("present").apps = new;
        let mut transitions = Vec::new();
        for ((app, key), before) in keys.iter().zip(before) {
            let after = self.summary(app, key.clone());
            transitions.extend(diff(app, &before, &after, self));
        }
        self.tally(&transitions);
        transitions
    }

    /// Keeps the per-app count of occupied channels in step with the transitions.
    fn tally(&mut self, transitions: &[Transition]) {
        for transition in transitions {
            match transition {
                Transition::ChannelOccupied { app, .. } => {
                    *self.occupied.entry(app.clone()).or_default() += 1;
                }
                Transition::ChannelVacated { app, .. } => {
                    if let Some(count) = self.occupied.get_mut(app) {
                        *count = count.saturating_sub(1);
                        if *count == 0 {
                            self.occupied.remove(app);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn summary(&self, app: &AppId, key: Key) -> Summary {
        let value = match &key {
            Key::Channel(channel) => self.subscription_count(app, channel),
            Key::Member(channel, user_id) => self
                .apps(app)
                .filter(|a| {
                    a.presence
                        .get(channel)
                        .is_some_and(|m| m.contains_key(user_id))
                })
                .count(),
            Key::User(user_id) => self.apps(app).filter(|a| a.users.contains(user_id)).count(),
        };
        Summary { key, value }
    }
}

/// What a change is about; its cluster-level value is compared before and after.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Channel(String),
    Member(String, String),
    User(String),
}

#[derive(Debug)]
struct Summary {
    key: Key,
    /// Subscriber total (channel) or number of nodes holding the member / user.
    value: usize,
}

fn change_key(change: &Change) -> Key {
    match change {
        Change::Count { channel, .. } => Key::Channel(channel.clone()),
        Change::MemberJoined {
            channel, user_id, ..
        }
        | Change::MemberLeft { channel, user_id } => Key::Member(channel.clone(), user_id.clone()),
        Change::UserOnline { user_id } | Change::UserOffline { user_id } => {
            Key::User(user_id.clone())
        }
    }
}

fn diff(app: &AppId, before: &Summary, after: &Summary, view: &ClusterView) -> Vec<Transition> {
    let app = app.clone();
    let (was, is) = (before.value, after.value);
    match &after.key {
        Key::Channel(channel) => {
            let mut out = Vec::new();
            if was == 0 && is > 0 {
                out.push(Transition::ChannelOccupied {
                    app: app.clone(),
                    channel: channel.clone(),
                });
            }
            if was != is {
                out.push(Transition::CountChanged {
                    app: app.clone(),
                    channel: channel.clone(),
                    total: is,
                });
            }
            if was > 0 && is == 0 {
                out.push(Transition::ChannelVacated {
                    app,
                    channel: channel.clone(),
                });
            }
            out
        }
        Key::Member(channel, user_id) if was == 0 && is > 0 => {
            let user_info = view
                .members(&app, channel)
                .into_iter()
                .find(|(id, _)| id == user_id)
                .and_then(|(_, info)| info);
            vec![Transition::MemberAdded {
                app,
                channel: channel.clone(),
                user_id: user_id.clone(),
                user_info,
            }]
        }
        Key::Member(channel, user_id) if was > 0 && is == 0 => {
            vec![Transition::MemberRemoved {
                app,
                channel: channel.clone(),
                user_id: user_id.clone(),
            }]
        }
        Key::User(user_id) if was == 0 && is > 0 => vec![Transition::UserOnline {
            app,
            user_id: user_id.clone(),
        }],
        Key::User(user_id) if was > 0 && is == 0 => vec![Transition::UserOffline {
            app,
            user_id: user_id.clone(),
        }],
        Key::Member(..) | Key::User(..) => Vec::new(),
    }
}

/// A stable 64-bit hash (FNV-1a), identical on every node and every build.
fn rendezvous(node: &str, app: &AppId, channel: &str) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in node
        .bytes()
        .chain([0])
        .chain(app.bytes())
        .chain([0])
        .chain(channel.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    hash
}

#[cfg(test)]
mod tests;
