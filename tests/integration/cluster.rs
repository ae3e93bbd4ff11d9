//! Two nodes sharing a real Redis (and a real NATS): delivery, exclusion, presence and queries
//! across nodes. Each test uses its own channel prefix, so runs never see each other.
//!
//! The engines are services: when one is not reachable the test says so and passes, unless
//! `SOCKWAVE_TEST_REQUIRE_SERVICES=1` (set by CI), which makes its absence a failure.

use sockwave::app::AppId;
use std::time::Duration;

use serde_json::{json, Value};
use sockwave::config::{ClusterSettings, Driver};
use sockwave::server::Server;

use crate::support::*;

const REDIS: &str = "redis://127.0.0.1:6379";
const NATS: &str = "nats://127.0.0.1:4222";

/// Whether the engine at `addr` accepts TCP; `false` means "skip", unless CI requires it.
async fn available(name: &str, addr: &str) -> bool {
    let reachable = tokio::net::TcpStream::connect(addr).await.is_ok();
    if !reachable {
        assert!(
            std::env::var("SOCKWAVE_TEST_REQUIRE_SERVICES").is_err(),
            "{name} is not reachable at {addr} and SOCKWAVE_TEST_REQUIRE_SERVICES is set"
        );
        eprintln!("NOT RUN: {name} is not reachable at {addr}; start it to run the cluster tests");
    }
    reachable
}

async fn node(driver: Driver, prefix: &str) -> Server {
    node_with(driver, prefix, |_| {}).await
}

async fn node_with(
    driver: Driver,
    prefix: &str,
    tweak: impl FnOnce(&mut sockwave::config::Config),
) -> Server {
    let settings = ClusterSettings {
        driver,
        prefix: prefix.to_string(),
        heartbeat_interval: Duration::from_millis(200),
        node_timeout: Duration::from_secs(2),
        ready_requires_engine: false,
        redis_tls: Default::default(),
        redis_sentinel: Default::default(),
        redis_cluster_nodes: Vec::new(),
    };
    start(|c| {
        c.server.cluster = settings;
        c.apps[0].enable_client_messages = true;
        tweak(c);
    })
    .await
}

/// Waits (bounded) until every node sees `n` nodes.
async fn converge(nodes: &[&Server], n: usize) {
    for _ in 0..200 {
        if nodes
            .iter()
            .all(|s| s.context().cluster.lock().node_ids().len() == n)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the nodes did not see each other within 5 s");
}

async fn two_nodes(driver: Driver) -> (Server, Server) {
    let prefix = format!("test-{:x}", rand::random::<u64>());
    let a = node(driver.clone(), &prefix).await;
    let b = node(driver, &prefix).await;
    converge(&[&a, &b], 2).await;
    (a, b)
}

async fn join(client: &mut Client, channel: &str, user: &str) -> Value {
    let data = format!(r#"{{"user_id":"{user}"}}"#);
    let auth = client.auth(channel, Some(&data));
    client.subscribe(channel, Some(auth), Some(&data)).await
}

async fn cluster_behaves_as_one_node(a: Server, b: Server) {
    let mut on_a = connect(a.local_addr()).await;
    let mut on_b = connect(b.local_addr()).await;
    on_a.subscribe("news", None, None).await;
    on_b.subscribe("news", None, None).await;

    // A publish on one node reaches both, once; the excluded socket is skipped on its node.
    publish(b.local_addr(), "news", "e", "1", None).await;
    assert_eq!(on_a.expect_event("e").await["data"], "1");
    assert_eq!(on_b.expect_event("e").await["data"], "1");
    let excluded = on_a.socket_id.clone();
    publish(b.local_addr(), "news", "e", "2", Some(&excluded)).await;
    assert_eq!(on_b.expect_event("e").await["data"], "2");
    on_a.expect_silence(300).await;

    // Presence is global: one member list, member_added to the other node's member.
    let first = join(&mut on_a, "presence-room", "1").await;
    assert!(first["data"].as_str().unwrap().contains(r#""count":1"#));
    let second = join(&mut on_b, "presence-room", "2").await;
    let members: Value = serde_json::from_str(second["data"].as_str().unwrap()).unwrap();
    let ids = members["presence"]["ids"].clone();
    // Replication is asynchronous: when A's join is still in flight, B's subscriber learns
    // about member 1 through member_added right after, and ends in the same state.
    if ids != json!(["1", "2"]) {
        assert_eq!(ids, json!(["2"]));
        let late = on_b.expect_event("pusher_internal:member_added").await;
        assert!(late["data"].as_str().unwrap().contains(r#""user_id":"1""#));
    }
    let added = on_a.expect_event("pusher_internal:member_added").await;
    assert!(added["data"].as_str().unwrap().contains(r#""user_id":"2""#));

    // The same user on both nodes counts once; leaving one node keeps them present.
    let mut also_two = connect(a.local_addr()).await;
    join(&mut also_two, "presence-room", "2").await;
    on_a.expect_silence(300).await;
    let (_, users) = ApiCall::new(
        "GET",
        &format!("/apps/{APP_ID}/channels/presence-room/users"),
        None,
    )
    .send(a.local_addr())
    .await;
    assert_eq!(users, json!({"users": [{"id": "1"}, {"id": "2"}]}));
    drop(also_two);
    on_a.expect_silence(300).await;

    // Client events cross nodes, never back to the sender.
    on_b.send(json!({"event": "client-typing", "channel": "presence-room", "data": {"t": 1}}))
        .await;
    let relayed = on_a.expect_event("client-typing").await;
    assert_eq!(relayed["user_id"], "2");

    // Queries answer for the whole cluster.
    let (_, info) = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels/news"), None)
        .param("info", "subscription_count")
        .send(a.local_addr())
        .await;
    assert_eq!(info["subscription_count"], 2);

    // The last socket of user 2 leaves: member_removed on the other node.
    drop(on_b);
    let removed = on_a.expect_event("pusher_internal:member_removed").await;
    assert!(removed["data"]
        .as_str()
        .unwrap()
        .contains(r#""user_id":"2""#));
}

#[tokio::test]
async fn redis_cluster_behaves_as_one_node() {
    if !available("Redis", "127.0.0.1:6379").await {
        return;
    }
    let (a, b) = two_nodes(Driver::Redis { url: REDIS.into() }).await;
    cluster_behaves_as_one_node(a, b).await;
}

#[tokio::test]
async fn nats_cluster_behaves_as_one_node() {
    if !available("NATS", "127.0.0.1:4222").await {
        return;
    }
    let (a, b) = two_nodes(Driver::Nats {
        servers: vec![NATS.into()],
    })
    .await;
    cluster_behaves_as_one_node(a, b).await;
}

/// The presence member limit counts the cluster's members, not one node's.
#[tokio::test]
async fn the_member_limit_is_cluster_wide() {
    if !available("Redis", "127.0.0.1:6379").await {
        return;
    }
    let driver = Driver::Redis { url: REDIS.into() };
    let prefix = format!("test-{:x}", rand::random::<u64>());
    let one_member = |c: &mut sockwave::config::Config| c.apps[0].limits.max_presence_members = 1;
    let a = node_with(driver.clone(), &prefix, one_member).await;
    let b = node_with(driver, &prefix, one_member).await;
    converge(&[&a, &b], 2).await;
    let mut on_a = connect(a.local_addr()).await;
    join(&mut on_a, "presence-room", "1").await;
    // Bounded wait until node B knows about member 1.
    for _ in 0..200 {
        if b.context()
            .cluster
            .lock()
            .has_member(&AppId::from(APP_ID), "presence-room", "1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut on_b = connect(b.local_addr()).await;
    let refused = join(&mut on_b, "presence-room", "2").await;
    assert_eq!(refused["event"], "pusher:subscription_error", "{refused}");
    assert_eq!(refused["data"]["type"], "LimitReached");
    // The member already present may still join from another node.
    let again = join(&mut on_b, "presence-room", "1").await;
    assert_eq!(again["event"], "pusher_internal:subscription_succeeded");
}
