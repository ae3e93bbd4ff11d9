//! Public and private subscriptions, publishing through the HTTP API, exclusion, slow consumers.

use serde_json::{json, Value};
use sockwave::app::AppId;

use crate::support::*;

#[tokio::test]
async fn public_subscription_receives_http_publishes() {
    let server = start(|_| {}).await;
    let mut client = connect(server.local_addr()).await;
    let ok = client.subscribe("router-telemetry", None, None).await;
    assert_eq!(
        ok,
        json!({"event": "pusher_internal:subscription_succeeded", "channel": "router-telemetry", "data": "{}"})
    );
    publish(
        server.local_addr(),
        "router-telemetry",
        "stats.updated",
        r#"{"cpu":3}"#,
        None,
    )
    .await;
    assert_eq!(
        client.expect_event("stats.updated").await,
        json!({"event": "stats.updated", "channel": "router-telemetry", "data": r#"{"cpu":3}"#})
    );
}

#[tokio::test]
async fn subscribing_twice_is_idempotent() {
    let server = start(|_| {}).await;
    let mut client = connect(server.local_addr()).await;
    client.subscribe("news", None, None).await;
    let again = client.subscribe("news", None, None).await;
    assert_eq!(again["event"], "pusher_internal:subscription_succeeded");
    publish(server.local_addr(), "news", "e", "1", None).await;
    client.expect_event("e").await;
    client.expect_silence(300).await;
}

#[tokio::test]
async fn socket_id_exclusion_skips_only_the_sender() {
    let server = start(|_| {}).await;
    let mut sender = connect(server.local_addr()).await;
    let mut other = connect(server.local_addr()).await;
    sender.subscribe("news", None, None).await;
    other.subscribe("news", None, None).await;
    let socket_id = sender.socket_id.clone();
    publish(server.local_addr(), "news", "e", "1", Some(&socket_id)).await;
    other.expect_event("e").await;
    sender.expect_silence(300).await;
}

#[tokio::test]
async fn unsubscribed_sockets_receive_nothing() {
    let server = start(|_| {}).await;
    let mut client = connect(server.local_addr()).await;
    client.subscribe("news", None, None).await;
    client
        .send(json!({"event": "pusher:unsubscribe", "data": {"channel": "news"}}))
        .await;
    client.send(json!({"event": "pusher:ping"})).await;
    client.expect_event("pusher:pong").await;
    publish(server.local_addr(), "news", "e", "1", None).await;
    client.expect_silence(300).await;
}

#[tokio::test]
async fn private_channels_check_the_signature() {
    let server = start(|_| {}).await;
    let mut client = connect(server.local_addr()).await;
    let auth = client.auth("private-dashboard-stats", None);
    let ok = client
        .subscribe("private-dashboard-stats", Some(auth), None)
        .await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");

    let bad = client
        .subscribe(
            "private-other",
            Some(format!("{KEY}:{}", "0".repeat(64))),
            None,
        )
        .await;
    assert_eq!(bad["event"], "pusher:subscription_error");
    assert_eq!(bad["channel"], "private-other");
    assert_eq!(bad["data"]["type"], "AuthError");
    assert_eq!(bad["data"]["status"], 401);
    assert!(
        bad["data"]["error"]
            .as_str()
            .unwrap()
            .contains("invalid signature"),
        "{bad}"
    );

    let wrong_key = client.auth("private-x", None).replace(KEY, "other-key");
    let bad = client.subscribe("private-x", Some(wrong_key), None).await;
    assert!(
        bad["data"]["error"]
            .as_str()
            .unwrap()
            .contains("auth key 'other-key'"),
        "{bad}"
    );

    let missing = client.subscribe("private-y", None, None).await;
    assert!(
        missing["data"]["error"]
            .as_str()
            .unwrap()
            .contains("auth is missing"),
        "{missing}"
    );

    let encrypted_auth = client.auth("private-encrypted-z", None);
    let ok = client
        .subscribe("private-encrypted-z", Some(encrypted_auth), None)
        .await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
}

#[tokio::test]
async fn pusher_error_mode_reports_refusals_as_pusher_does() {
    let server = start(|c| {
        c.server.subscription_error_mode = sockwave::config::SubscriptionErrorMode::Pusher
    })
    .await;
    let mut client = connect(server.local_addr()).await;
    let bad = client
        .subscribe("private-a", Some(format!("{KEY}:00")), None)
        .await;
    assert_eq!(bad["event"], "pusher:error");
    assert_eq!(bad["data"]["code"], Value::Null);
    assert_eq!(bad["channel"], "private-a");
}

#[tokio::test]
async fn invalid_and_reserved_names_are_refused() {
    let server = start(|_| {}).await;
    let mut client = connect(server.local_addr()).await;
    for name in ["foo bar", "foo$", "#server-to-user-1", &"a".repeat(201)] {
        let refused = client.subscribe(name, None, None).await;
        assert_eq!(refused["event"], "pusher:subscription_error", "{name}");
        assert_eq!(refused["data"]["type"], "InvalidChannel");
    }
    assert_eq!(
        server
            .context()
            .registry
            .app(&AppId::from(APP_ID))
            .channel_count(),
        0
    );
}

#[tokio::test]
async fn a_slow_consumer_is_closed_with_4100_and_others_keep_receiving() {
    let server = start(|c| c.server.socket_queue_capacity = 4).await;
    let slow = connect(server.local_addr()).await;
    let mut fast = connect(server.local_addr()).await;
    let mut slow = slow;
    slow.subscribe("feed", None, None).await;
    fast.subscribe("feed", None, None).await;
    let registry = server.context().registry.app(&AppId::from(APP_ID));
    // The slow client stops reading; its kernel buffers fill, then its queue.
    let frame = sockwave_protocol::Frame::from(sockwave_protocol::messages::channel_event(
        "e",
        "feed",
        &"x".repeat(64 * 1024),
    ));
    let mut received = 0;
    for _ in 0..400 {
        let mut flushes = sockwave::outbox::Flushes::new();
        registry.broadcast("feed", &frame, None, &mut flushes);
        flushes.flush();
        fast.expect_event("e").await;
        received += 1;
        if !registry.is_subscribed("feed", slow_id(&slow)) {
            break;
        }
    }
    assert!(
        !registry.is_subscribed("feed", slow_id(&slow)),
        "slow socket was never cut off"
    );
    assert!(received < 400);
    assert_eq!(slow.expect_close().await, 4100);
}

fn slow_id(client: &Client) -> sockwave::registry::SocketId {
    client.socket_id.parse().unwrap()
}
