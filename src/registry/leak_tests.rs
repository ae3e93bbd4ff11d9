//! Property tests: after any sequence of connects, subscribes (every channel kind),
//! sign-ins, watches, unsubscribes and normal or abrupt disconnects, the registry holds
//! exactly what a simple model says, and nothing once every socket has gone.
//!
//! An abrupt disconnect is modelled as the connection task's cleanup (`Session::leave_all`
//! then `remove_socket`) running without any unsubscribe first, which is what happens when a
//! TCP connection drops.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

const CHANNELS: [&str; 6] = [
    "public-a",
    "cache-b",
    "private-c",
    "private-encrypted-d",
    "presence-e",
    "presence-f",
];
const N_SOCKETS: usize = 5;
const N_USERS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Connect,
    Subscribe {
        socket: usize,
        channel: usize,
        user: usize,
    },
    Unsubscribe {
        socket: usize,
        channel: usize,
    },
    SignIn {
        socket: usize,
        user: usize,
    },
    Watch {
        socket: usize,
        users: Vec<usize>,
    },
    Disconnect {
        socket: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let socket = 0..N_SOCKETS;
    prop_oneof![
        2 => Just(Op::Connect),
        5 => (socket.clone(), 0..CHANNELS.len(), 0..N_USERS)
            .prop_map(|(socket, channel, user)| Op::Subscribe { socket, channel, user }),
        2 => (socket.clone(), 0..CHANNELS.len())
            .prop_map(|(socket, channel)| Op::Unsubscribe { socket, channel }),
        2 => (socket.clone(), 0..N_USERS).prop_map(|(socket, user)| Op::SignIn { socket, user }),
        1 => (socket.clone(), proptest::collection::vec(0..N_USERS, 0..3))
            .prop_map(|(socket, users)| Op::Watch { socket, users }),
        2 => socket.prop_map(|socket| Op::Disconnect { socket }),
    ]
}

/// One socket as the model sees it, with the state its session would keep.
struct Live {
    handle: SocketHandle,
    /// Channel → the presence user it joined as.
    channels: BTreeMap<usize, Option<usize>>,
    user: Option<usize>,
    watchlist: Vec<String>,
}

struct Harness {
    app: AppRegistry,
    ids: SocketIdGenerator,
    sockets: Vec<Option<Live>>,
}

fn user_id(user: usize) -> String {
    format!("user-{user}")
}

impl Harness {
    fn new() -> Harness {
        Harness {
            app: AppRegistry::new(&AppId::from("app")),
            ids: SocketIdGenerator::default(),
            sockets: (0..N_SOCKETS).map(|_| None).collect(),
        }
    }

    fn run(&mut self, op: &Op) {
        match op {
            Op::Connect => {
                if let Some(slot) = self.sockets.iter_mut().find(|slot| slot.is_none()) {
                    let handle = SocketHandle::detached(self.ids.next_id(), 4);
                    assert!(self.app.try_add_socket(handle.clone(), None));
                    *slot = Some(Live {
                        handle,
                        channels: BTreeMap::new(),
                        user: None,
                        watchlist: Vec::new(),
                    });
                }
            }
            Op::Subscribe {
                socket,
                channel,
                user,
            } => self.subscribe(*socket, *channel, *user),
            Op::Unsubscribe { socket, channel } => self.unsubscribe(*socket, *channel),
            Op::SignIn { socket, user } => {
                let Some(live) = self.sockets[*socket].as_mut() else {
                    return;
                };
                if live.user.is_some() {
                    return;
                }
                let was_online = self.app.users.is_online(&user_id(*user));
                let first = self.app.users.sign_in(&user_id(*user), &live.handle);
                assert_eq!(
                    first, !was_online,
                    "first socket of a user is reported once"
                );
                live.user = Some(*user);
            }
            Op::Watch { socket, users } => {
                let Some(live) = self.sockets[*socket].as_mut() else {
                    return;
                };
                if !live.watchlist.is_empty() {
                    return;
                }
                live.watchlist = users.iter().map(|user| user_id(*user)).collect();
                self.app.users.watch(&live.handle, &live.watchlist);
            }
            Op::Disconnect { socket } => self.disconnect(*socket),
        }
        self.check();
    }

    fn subscribe(&mut self, socket: usize, channel: usize, user: usize) {
        let Some(live) = self.sockets[socket].as_ref() else {
            return;
        };
        let name = ChannelName::parse(CHANNELS[channel], 200).expect("valid test channel");
        let is_presence = name.kind() == sockwave_protocol::ChannelKind::Presence;
        let members_before = self.presence_users(channel);
        let member = is_presence.then(|| MemberData {
            user_id: user_id(user),
            user_info: None,
        });
        let already = live.channels.contains_key(&channel);
        let subscribed = self.app.subscribe(&name, &live.handle, member, false);
        assert_eq!(subscribed.already_subscribed, already);
        if already {
            assert!(subscribed.member_added.is_none());
            return;
        }
        let first_of_user = is_presence && !members_before.contains(&user);
        assert_eq!(subscribed.member_added.is_some(), first_of_user);
        let live = self.sockets[socket].as_mut().expect("checked above");
        live.channels.insert(channel, is_presence.then_some(user));
    }

    fn unsubscribe(&mut self, socket: usize, channel: usize) {
        let Some(live) = self.sockets[socket].as_mut() else {
            return;
        };
        let joined = live.channels.remove(&channel);
        let left = self.app.unsubscribe(CHANNELS[channel], live.handle.id());
        assert_eq!(left.was_subscribed, joined.is_some());
        if let Some(Some(user)) = joined {
            let still_there = self.presence_users(channel).contains(&user);
            assert_eq!(left.member_removed, (!still_there).then(|| user_id(user)));
        } else {
            assert_eq!(left.member_removed, None);
        }
    }

    /// The connection task's cleanup: leave every channel, unwatch, sign out, forget.
    fn disconnect(&mut self, socket: usize) {
        let Some(live) = self.sockets[socket].as_ref() else {
            return;
        };
        let channels: Vec<usize> = live.channels.keys().copied().collect();
        for channel in channels {
            self.unsubscribe(socket, channel);
        }
        let live = self.sockets[socket].take().expect("checked above");
        self.app.users.unwatch(live.handle.id(), &live.watchlist);
        if let Some(user) = live.user {
            let others = self.sockets.iter().flatten().any(|l| l.user == Some(user));
            let last = self.app.users.sign_out(&user_id(user), live.handle.id());
            assert_eq!(last, !others, "last socket of a user is reported once");
        }
        self.app.remove_socket(live.handle.id());
    }

    /// Users the model has in a presence channel.
    fn presence_users(&self, channel: usize) -> BTreeSet<usize> {
        self.sockets
            .iter()
            .flatten()
            .filter_map(|live| live.channels.get(&channel).copied().flatten())
            .collect()
    }

    fn check(&self) {
        let live: Vec<&Live> = self.sockets.iter().flatten().collect();
        assert_eq!(self.app.connection_count(), live.len() as u64);
        let occupied: BTreeSet<usize> = live
            .iter()
            .flat_map(|l| l.channels.keys().copied())
            .collect();
        assert_eq!(self.app.channel_count(), occupied.len());
        for (channel, name) in CHANNELS.iter().enumerate() {
            for l in &live {
                assert_eq!(
                    self.app.is_subscribed(name, l.handle.id()),
                    l.channels.contains_key(&channel)
                );
            }
        }
        let online: BTreeSet<usize> = live.iter().filter_map(|l| l.user).collect();
        assert_eq!(self.app.users.n_online(), online.len());
        let watched: BTreeSet<&String> = live.iter().flat_map(|l| &l.watchlist).collect();
        assert_eq!(self.app.users.n_watched(), watched.len());
        for user in 0..N_USERS {
            // One entry per (socket, presence channel) the user joined through.
            let joined_sockets: usize = live
                .iter()
                .map(|l| l.channels.values().filter(|j| **j == Some(user)).count())
                .sum();
            assert_eq!(
                self.app.presence_sockets_of(&user_id(user)).len(),
                joined_sockets
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn registry_returns_to_empty(ops in proptest::collection::vec(op(), 1..60)) {
        let mut harness = Harness::new();
        for op in &ops {
            harness.run(op);
        }
        for socket in 0..N_SOCKETS {
            harness.disconnect(socket);
        }
        harness.check();
        prop_assert_eq!(harness.app.connection_count(), 0);
        prop_assert_eq!(harness.app.channel_count(), 0);
        prop_assert_eq!(harness.app.users.n_online(), 0);
        prop_assert_eq!(harness.app.users.n_watched(), 0);
        for user in 0..N_USERS {
            prop_assert!(harness.app.presence_sockets_of(&user_id(user)).is_empty());
        }
    }
}
