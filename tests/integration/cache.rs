//! Cache channels and subscription counts.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn cache_channels_replay_the_last_event_or_miss() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    for channel in [
        "cache-a",
        "private-cache-a",
        "private-encrypted-cache-a",
        "presence-cache-a",
    ] {
        let mut client = connect(addr).await;
        let data = r#"{"user_id":"1"}"#;
        let (auth, channel_data) = match channel {
            "cache-a" => (None, None),
            "presence-cache-a" => (Some(client.auth(channel, Some(data))), Some(data)),
            _ => (Some(client.auth(channel, None)), None),
        };
        client.subscribe(channel, auth.clone(), channel_data).await;
        assert_eq!(
            client.recv().await,
            json!({"event": "pusher:cache_miss", "channel": channel, "data": "{}"})
        );
        // Published with nobody subscribed: still cached.
        drop(client);
        publish(addr, channel, "stats.updated", r#"{"v":1}"#, None).await;
        let mut late = connect(addr).await;
        let (auth, channel_data) = match channel {
            "cache-a" => (None, None),
            "presence-cache-a" => (Some(late.auth(channel, Some(data))), Some(data)),
            _ => (Some(late.auth(channel, None)), None),
        };
        late.subscribe(channel, auth, channel_data).await;
        assert_eq!(
            late.recv().await,
            json!({"event": "stats.updated", "channel": channel, "data": r#"{"v":1}"#}),
            "{channel}"
        );
    }
    let (status, body) = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels/cache-a"), None)
        .param("info", "cache")
        .send(addr)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["cache"]["data"], r#"{"v":1}"#);
    assert!(body["cache"]["ttl"].as_u64().unwrap() > 1700);
    let (status, _) = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels/news"), None)
        .param("info", "cache")
        .send(addr)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn subscription_counts_follow_subscribers_when_enabled() {
    let server = start(|c| c.apps[0].enable_subscription_count = true).await;
    let addr = server.local_addr();
    let mut first = connect(addr).await;
    first.subscribe("news", None, None).await;
    let count = first
        .expect_event("pusher_internal:subscription_count")
        .await;
    assert_eq!(count["data"], r#"{"subscription_count":1}"#);
    let mut second = connect(addr).await;
    second.subscribe("news", None, None).await;
    assert_eq!(
        first
            .expect_event("pusher_internal:subscription_count")
            .await["data"],
        r#"{"subscription_count":2}"#
    );
    drop(second);
    assert_eq!(
        first
            .expect_event("pusher_internal:subscription_count")
            .await["data"],
        r#"{"subscription_count":1}"#
    );
}

#[tokio::test]
async fn subscription_counts_are_off_by_default() {
    let server = start(|_| {}).await;
    let mut client = connect(server.local_addr()).await;
    client.subscribe("news", None, None).await;
    client.expect_silence(300).await;
}
