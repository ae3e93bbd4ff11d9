//! Tests of the registry: counts, limits, fan-out, presence.

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
