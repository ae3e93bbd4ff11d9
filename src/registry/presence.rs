//! Presence membership of one channel on this node: members keyed by user id, each with the
//! number of this node's sockets that joined as that user.
//!
//! The methods report a user's first socket joining and last socket leaving on this node;
//! the cluster view (`adapter::view`) turns those into cluster-wide `member_added` /
//! `member_removed`, and holds the member info the member list is built from.

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::socket::SocketId;

/// A member as a socket's `channel_data` (or sign-in) describes it.
#[derive(Debug, Clone)]
pub struct MemberData {
    /// The user id, stringified when the client sent a number.
    pub user_id: String,
    /// Optional `user_info`, kept as the exact JSON sent.
    pub user_info: Option<Box<RawValue>>,
}

impl PartialEq for MemberData {
    fn eq(&self, other: &MemberData) -> bool {
        self.user_id == other.user_id
            && self.user_info.as_ref().map(|i| i.get()) == other.user_info.as_ref().map(|i| i.get())
    }
}

#[derive(Debug)]
struct Member {
    user_info: Option<Box<RawValue>>,
    n_sockets: u32,
}

/// The channel already has as many distinct members as the app allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceFull {
    /// The limit.
    pub max_members: usize,
}

/// Membership of one presence channel.
#[derive(Debug, Default)]
pub struct Presence {
    members: HashMap<String, Member>,
    user_of_socket: HashMap<SocketId, String>,
}

impl Presence {
    /// Adds a socket as `member`. Returns `true` when this is the user's first socket, i.e.
    /// `member_added` is due. A socket that already joined changes nothing.
    pub fn join(
        &mut self,
        socket_id: SocketId,
        member: MemberData,
        max_members: usize,
    ) -> Result<bool, PresenceFull> {
        if self.user_of_socket.contains_key(&socket_id) {
            return Ok(false);
        }
        let first = !self.members.contains_key(&member.user_id);
        if first && self.members.len() >= max_members {
            return Err(PresenceFull { max_members });
        }
        self.user_of_socket
            .insert(socket_id, member.user_id.clone());
        self.members
            .entry(member.user_id)
            .or_insert(Member {
                // The first socket's user_info stays until the user's last socket leaves.
                user_info: member.user_info,
                n_sockets: 0,
            })
            .n_sockets += 1;
        Ok(first)
    }

    /// Removes a socket. Returns the user id when it was the user's last socket, i.e.
    /// `member_removed` is due.
    pub fn leave(&mut self, socket_id: SocketId) -> Option<String> {
        let user_id = self.user_of_socket.remove(&socket_id)?;
        let member = self
            .members
            .get_mut(&user_id)
            .expect("every socket's user is a member");
        member.n_sockets -= 1;
        if member.n_sockets == 0 {
            self.members.remove(&user_id);
            Some(user_id)
        } else {
            None
        }
    }

    /// The user a socket joined as.
    pub fn user_of(&self, socket_id: SocketId) -> Option<&str> {
        self.user_of_socket.get(&socket_id).map(String::as_str)
    }

    /// The `user_info` a member joined with.
    pub fn user_info(&self, user_id: &str) -> Option<&RawValue> {
        self.members
            .get(user_id)
            .and_then(|m| m.user_info.as_deref())
    }

    /// Number of distinct users.
    pub fn n_users(&self) -> usize {
        self.members.len()
    }

    /// Distinct user ids, sorted for stable output.
    pub fn user_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.members.keys().cloned().collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::socket::SocketIdGenerator;

    fn member(id: &str) -> MemberData {
        MemberData {
            user_id: id.to_string(),
            user_info: Some(RawValue::from_string(format!(r#"{{"name":"{id}"}}"#)).unwrap()),
        }
    }

    #[test]
    fn first_and_last_socket_of_a_user() {
        let ids = SocketIdGenerator::default();
        let (tab1, tab2, other) = (ids.next_id(), ids.next_id(), ids.next_id());
        let mut presence = Presence::default();
        assert_eq!(presence.join(tab1, member("42"), 100), Ok(true));
        assert_eq!(presence.join(tab2, member("42"), 100), Ok(false));
        assert_eq!(
            presence.join(tab2, member("42"), 100),
            Ok(false),
            "same socket twice"
        );
        assert_eq!(presence.join(other, member("7"), 100), Ok(true));
        assert_eq!(presence.n_users(), 2);
        assert_eq!(presence.leave(tab1), None);
        assert_eq!(presence.leave(tab2), Some("42".to_string()));
        assert_eq!(presence.leave(tab2), None, "already gone");
        assert_eq!(presence.user_ids(), vec!["7".to_string()]);
    }

    #[test]
    fn limit_counts_users_not_sockets() {
        let ids = SocketIdGenerator::default();
        let mut presence = Presence::default();
        assert_eq!(presence.join(ids.next_id(), member("1"), 1), Ok(true));
        assert_eq!(presence.join(ids.next_id(), member("1"), 1), Ok(false));
        assert_eq!(
            presence.join(ids.next_id(), member("2"), 1),
            Err(PresenceFull { max_members: 1 })
        );
    }
}
