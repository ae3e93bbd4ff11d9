//! Signed-in users and watchlists of one app on this node: which sockets are signed in as each
//! user, and which sockets watch each user.
//!
//! A user is online while at least one socket is signed in as it; `sign_in` and `sign_out`
//! report the first and last socket so watchers hear `online` / `offline` exactly once.

use std::collections::HashMap;

use dashmap::DashMap;

use crate::outbox::{Flushes, Frame, SocketHandle};
use sockwave_protocol::SocketId;

/// Users and watchers of one app.
#[derive(Debug, Default)]
pub struct Users {
    signed_in: DashMap<String, HashMap<SocketId, SocketHandle>>,
    watchers: DashMap<String, HashMap<SocketId, SocketHandle>>,
}

impl Users {
    /// Records a socket signed in as `user_id`. Returns `true` when the user just came online.
    pub(crate) fn sign_in(&self, user_id: &str, socket: &SocketHandle) -> bool {
        let mut sockets = self.signed_in.entry(user_id.to_string()).or_default();
        let first = sockets.is_empty();
        sockets.insert(socket.id(), socket.clone());
        first
    }

    /// Forgets a signed-in socket. Returns `true` when the user just went offline.
    pub(crate) fn sign_out(&self, user_id: &str, socket_id: SocketId) -> bool {
        let Some(mut sockets) = self.signed_in.get_mut(user_id) else {
            return false;
        };
        let removed = sockets.remove(&socket_id).is_some();
        let last = removed && sockets.is_empty();
        drop(sockets);
        if last {
            self.signed_in.remove_if(user_id, |_, s| s.is_empty());
        }
        last
    }

    /// Gives back the capacity left by users who went offline (see `AppRegistry`).
    pub(crate) fn shrink_if_sparse(&self) {
        super::shrink_if_sparse(&self.signed_in);
        super::shrink_if_sparse(&self.watchers);
    }

    #[cfg(test)]
    /// Whether any socket is signed in as `user_id`.
    pub(crate) fn is_online(&self, user_id: &str) -> bool {
        self.signed_in.get(user_id).is_some_and(|s| !s.is_empty())
    }

    /// Queues `frame` for every socket signed in as `user_id` into `flushes`; returns how
    /// many took it.
    pub(crate) fn send_to_user(
        &self,
        user_id: &str,
        frame: &Frame,
        flushes: &mut Flushes,
    ) -> usize {
        self.signed_in.get(user_id).map_or(0, |sockets| {
            sockets
                .values()
                .filter(|socket| flushes.send(socket, frame))
                .count()
        })
    }

    /// Handles of every socket signed in as `user_id`.
    pub fn sockets_of(&self, user_id: &str) -> Vec<SocketHandle> {
        self.signed_in
            .get(user_id)
            .map(|sockets| sockets.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of distinct signed-in users.
    pub fn n_online(&self) -> usize {
        self.signed_in.len()
    }

    /// Makes `socket` a watcher of each of `user_ids`.
    pub(crate) fn watch(&self, socket: &SocketHandle, user_ids: &[String]) {
        for user_id in user_ids {
            self.watchers
                .entry(user_id.clone())
                .or_default()
                .insert(socket.id(), socket.clone());
        }
    }

    /// Removes `socket_id` from the watchers of each of `user_ids`.
    pub(crate) fn unwatch(&self, socket_id: SocketId, user_ids: &[String]) {
        for user_id in user_ids {
            let emptied = self.watchers.get_mut(user_id).is_some_and(|mut watchers| {
                watchers.remove(&socket_id);
                watchers.is_empty()
            });
            if emptied {
                self.watchers.remove_if(user_id, |_, w| w.is_empty());
            }
        }
    }

    /// Queues `frame` for every socket watching `user_id` into `flushes`.
    pub(crate) fn notify_watchers(
        &self,
        user_id: &str,
        frame: &Frame,
        flushes: &mut Flushes,
    ) -> usize {
        self.watchers.get(user_id).map_or(0, |watchers| {
            watchers
                .values()
                .filter(|socket| flushes.send(socket, frame))
                .count()
        })
    }

    /// Number of users somebody watches (for leak checks).
    pub fn n_watched(&self) -> usize {
        self.watchers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::SocketIdGenerator;

    #[test]
    fn online_transitions_and_watchers() {
        let ids = SocketIdGenerator::default();
        let watcher = SocketHandle::detached(ids.next_id(), 8);
        let tab1 = SocketHandle::detached(ids.next_id(), 8);
        let tab2 = SocketHandle::detached(ids.next_id(), 8);
        let users = Users::default();
        users.watch(&watcher, &["42".to_string()]);
        assert!(users.sign_in("42", &tab1));
        assert!(!users.sign_in("42", &tab2));
        assert!(users.is_online("42"));
        let mut flushes = Flushes::new();
        assert_eq!(users.send_to_user("42", &Frame::from("x"), &mut flushes), 2);
        assert!(!users.sign_out("42", tab1.id()));
        assert!(users.sign_out("42", tab2.id()));
        assert!(!users.sign_out("42", tab2.id()));
        assert_eq!(users.n_online(), 0);
        assert_eq!(
            users.notify_watchers("42", &Frame::from("offline"), &mut flushes),
            1
        );
        flushes.flush();
        assert_eq!(watcher.take_queued(), ["offline"]);
        users.unwatch(watcher.id(), &["42".to_string()]);
        assert_eq!(users.n_watched(), 0);
    }
}
