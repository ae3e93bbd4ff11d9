//! Presence membership of one channel on this node: members keyed by user id, each with the
//! number of this node's sockets that joined as that user.
//!
//! The methods report a user's first socket joining and last socket leaving on this node;
//! the cluster view (`adapter::view`) turns those into cluster-wide `member_added` /
//! `member_removed`, and holds the member info the member list is built from.

use std::collections::HashMap;

use serde_json::value::RawValue;

use sockwave_protocol::SocketId;

/// A member as a socket's `channel_data` (or sign-in) describes it.
#[derive(Debug, Clone)]
pub(crate) struct MemberData {
    /// The user id, stringified when the client sent a number.
    pub(crate) user_id: String,
    /// Optional `user_info`, kept as the exact JSON sent.
    pub(crate) user_info: Option<Box<RawValue>>,
}

impl PartialEq for MemberData {
    fn eq(&self, other: &MemberData) -> bool {
        self.user_id == other.user_id
            && self.user_info.as_ref().map(|i| i.get()) == other.user_info.as_ref().map(|i| i.get())
    }
}

/// Membership of one presence channel.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    /// User id → this node's sockets joined as that user.
    members: HashMap<String, u32>,
    user_of_socket: HashMap<SocketId, String>,
}

impl Presence {
    /// Adds a socket as `user_id`. Returns `true` when this is the user's first socket on this
    /// node. A socket that already joined changes nothing. The member limit is the cluster's
    /// business (the session checks it against the cluster view), not this node's.
    pub(crate) fn join(&mut self, socket_id: SocketId, user_id: &str) -> bool {
        if self.user_of_socket.contains_key(&socket_id) {
            return false;
        }
        self.user_of_socket.insert(socket_id, user_id.to_string());
        let n_sockets = self.members.entry(user_id.to_string()).or_insert(0);
        *n_sockets += 1;
        *n_sockets == 1
    }

    /// Removes a socket. Returns the user id when it was the user's last socket, i.e.
    /// `member_removed` is due.
    pub(crate) fn leave(&mut self, socket_id: SocketId) -> Option<String> {
        let user_id = self.user_of_socket.remove(&socket_id)?;
        let n_sockets = self
            .members
            .get_mut(&user_id)
            .expect("every socket's user is a member");
        *n_sockets -= 1;
        if *n_sockets == 0 {
            self.members.remove(&user_id);
            Some(user_id)
        } else {
            None
        }
    }

    /// The user a socket joined as.
    pub(crate) fn user_of(&self, socket_id: SocketId) -> Option<&str> {
        self.user_of_socket.get(&socket_id).map(String::as_str)
    }

    /// Number of distinct users.
    pub(crate) fn n_users(&self) -> usize {
        self.members.len()
    }

    #[cfg(test)]
    /// Distinct user ids, sorted for stable output.
    pub(crate) fn user_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.members.keys().cloned().collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::SocketIdGenerator;

    #[test]
    fn first_and_last_socket_of_a_user() {
        let ids = SocketIdGenerator::default();
        let (tab1, tab2, other) = (ids.next_id(), ids.next_id(), ids.next_id());
        let mut presence = Presence::default();
        assert!(presence.join(tab1, "42"));
        assert!(!presence.join(tab2, "42"));
        assert!(!presence.join(tab2, "42"), "same socket twice");
        assert!(presence.join(other, "7"));
        assert_eq!(presence.n_users(), 2);
        assert_eq!(presence.user_of(tab2), Some("42"));
        assert_eq!(presence.leave(tab1), None);
        assert_eq!(presence.leave(tab2), Some("42".to_string()));
        assert_eq!(presence.leave(tab2), None, "already gone");
        assert_eq!(presence.user_ids(), vec!["7".to_string()]);
    }
}
