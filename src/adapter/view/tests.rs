//! Tests of the parent module.

use super::*;

fn joined(channel: &str, user: &str) -> Change {
    Change::MemberJoined {
        channel: channel.into(),
        user_id: user.into(),
        user_info: None,
    }
}

fn left(channel: &str, user: &str) -> Change {
    Change::MemberLeft {
        channel: channel.into(),
        user_id: user.into(),
    }
}

fn names(transitions: &[Transition]) -> Vec<String> {
    transitions
        .iter()
        .map(|t| match t {
            Transition::ChannelOccupied { channel, .. } => format!("occupied {channel}"),
            Transition::ChannelVacated { channel, .. } => format!("vacated {channel}"),
            Transition::CountChanged { channel, total, .. } => {
                format!("count {channel} {total}")
            }
            Transition::MemberAdded { user_id, .. } => format!("added {user_id}"),
            Transition::MemberRemoved { user_id, .. } => format!("removed {user_id}"),
            Transition::UserOnline { user_id, .. } => format!("online {user_id}"),
            Transition::UserOffline { user_id, .. } => format!("offline {user_id}"),
        })
        .collect()
}

#[test]
fn members_are_added_and_removed_once_across_nodes() {
    let now = Instant::now();
    let mut view = ClusterView::new("a");
    assert_eq!(
        names(&view.apply("a", &AppId::from("app"), joined("presence-x", "42"), now)),
        ["added 42"]
    );
    assert!(view
        .apply("b", &AppId::from("app"), joined("presence-x", "42"), now)
        .is_empty());
    assert_eq!(view.user_count(&AppId::from("app"), "presence-x"), 1);
    assert!(view.has_member(&AppId::from("app"), "presence-x", "42"));
    assert!(!view.has_member(&AppId::from("app"), "presence-x", "7"));
    assert!(view
        .apply("a", &AppId::from("app"), left("presence-x", "42"), now)
        .is_empty());
    assert_eq!(
        names(&view.apply("b", &AppId::from("app"), left("presence-x", "42"), now)),
        ["removed 42"]
    );
    assert_eq!(view.user_count(&AppId::from("app"), "presence-x"), 0);
}

#[test]
fn counts_occupancy_and_dead_nodes() {
    let now = Instant::now();
    let mut view = ClusterView::new("a");
    let count = |n| Change::Count {
        channel: "news".into(),
        count: n,
    };
    assert_eq!(
        names(&view.apply("a", &AppId::from("app"), count(2), now)),
        ["occupied news", "count news 2"]
    );
    assert_eq!(
        names(&view.apply("b", &AppId::from("app"), count(3), now)),
        ["count news 5"]
    );
    assert_eq!(view.subscription_count(&AppId::from("app"), "news"), 5);
    assert_eq!(
        view.channels(&AppId::from("app"), ""),
        vec![("news".to_string(), 5)]
    );
    assert_eq!(view.channel_count(&AppId::from("app")), 1);
    assert_eq!(
        names(&view.apply("a", &AppId::from("app"), count(0), now)),
        ["count news 3"]
    );
    view.apply("b", &AppId::from("app"), joined("presence-x", "7"), now);
    view.heartbeat("b", HashMap::from([(AppId::from("app"), 10)]), now);
    assert_eq!(view.remote_connections(&AppId::from("app")), 10);
    let later = now + Duration::from_secs(11);
    assert_eq!(
        view.dead_nodes(later, Duration::from_secs(10)),
        vec!["b".to_string()]
    );
    // Time this node stood still does not count against the others.
    view.forgive(Duration::from_secs(5), later);
    assert!(view.dead_nodes(later, Duration::from_secs(10)).is_empty());
    view.forgive(Duration::from_secs(60), later);
    assert!(view
        .dead_nodes(later + Duration::from_secs(10), Duration::from_secs(10))
        .is_empty());
    assert_eq!(
        view.dead_nodes(
            later + Duration::from_millis(10_001),
            Duration::from_secs(10)
        ),
        vec!["b".to_string()]
    );
    let gone = names(&view.remove_node("b"));
    assert!(gone.contains(&"vacated news".to_string()), "{gone:?}");
    assert_eq!(view.channel_count(&AppId::from("app")), 0);
    assert!(gone.contains(&"removed 7".to_string()), "{gone:?}");
    assert_eq!(view.remote_connections(&AppId::from("app")), 0);
    assert_eq!(view.node_ids(), vec!["a".to_string()]);
}

#[test]
fn snapshots_replace_a_nodes_state_and_report_the_difference() {
    let now = Instant::now();
    let mut view = ClusterView::new("a");
    view.apply("b", &AppId::from("app"), joined("presence-x", "1"), now);
    view.apply(
        "b",
        &AppId::from("app"),
        Change::UserOnline {
            user_id: "1".into(),
        },
        now,
    );
    let mut snapshot = AppSnapshot::default();
    snapshot.presence.insert(
        "presence-x".into(),
        HashMap::from([("2".to_string(), None)]),
    );
    snapshot.channels.insert("presence-x".into(), 1);
    let changes =
        names(&view.apply_snapshot("b", HashMap::from([(AppId::from("app"), snapshot)]), now));
    for expected in ["added 2", "removed 1", "offline 1", "occupied presence-x"] {
        assert!(
            changes.contains(&expected.to_string()),
            "{expected} in {changes:?}"
        );
    }
    assert!(!view.is_online(&AppId::from("app"), "1"));
}

#[test]
fn exactly_one_node_owns_each_channel() {
    let now = Instant::now();
    let mut views: Vec<ClusterView> = ["a", "b", "c"]
        .iter()
        .map(|id| ClusterView::new(id))
        .collect();
    for view in &mut views {
        for id in ["a", "b", "c"] {
            view.heartbeat(id, HashMap::new(), now);
        }
    }
    for channel in ["x", "y", "z", "presence-room"] {
        assert_eq!(
            views
                .iter()
                .filter(|v| v.owns(&AppId::from("app"), channel))
                .count(),
            1,
            "{channel}"
        );
    }
}

#[test]
fn the_busiest_other_node_sums_its_own_subscribers_of_the_channels() {
    let now = Instant::now();
    let app = AppId::from("app");
    let mut view = ClusterView::new("a");
    let count = |channel: &str, n| Change::Count {
        channel: channel.into(),
        count: n,
    };
    view.apply("a", &app, count("news", 500), now); // this node's own: never counted
    view.apply("b", &app, count("news", 30), now);
    view.apply("b", &app, count("sport", 40), now);
    view.apply("c", &app, count("news", 60), now);
    let audience = |channels: &[&str]| view.busiest_remote_audience(&app, channels.iter().copied());
    assert_eq!(audience(&["news"]), 60, "c holds the most of news");
    assert_eq!(audience(&["news", "sport"]), 70, "b: 30 + 40");
    assert_eq!(audience(&["weather"]), 0);
    assert_eq!(
        view.busiest_remote_audience(&AppId::from("other"), ["news"].into_iter()),
        0
    );
}
