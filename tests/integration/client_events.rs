//! Client events: relayed to other subscribers only, user_id stamped on presence, refusals.

use serde_json::{json, Value};

use crate::support::*;

fn code(frame: &Value) -> u64 {
    frame["data"]["code"].as_u64().unwrap()
}

#[tokio::test]
async fn client_events_reach_others_with_server_set_user_id() {
    let server = start(|c| c.apps[0].enable_client_messages = true).await;
    let mut a = connect(server.local_addr()).await;
    let mut b = connect(server.local_addr()).await;
    for (client, user) in [(&mut a, "1"), (&mut b, "2")] {
        let data = format!(r#"{{"user_id":"{user}"}}"#);
        let auth = client.auth("presence-chat", Some(&data));
        client
            .subscribe("presence-chat", Some(auth), Some(&data))
            .await;
    }
    a.expect_event("pusher_internal:member_added").await;
    a.send(json!({"event": "client-typing", "channel": "presence-chat", "data": {"typing": true}, "user_id": "forged"}))
        .await;
    let relayed = b.expect_event("client-typing").await;
    assert_eq!(
        relayed,
        json!({"event": "client-typing", "channel": "presence-chat", "data": {"typing": true}, "user_id": "1"})
    );
    a.expect_silence(300).await;
}

#[tokio::test]
async fn client_events_are_refused_with_reasons() {
    let server = start(|c| {
        c.apps[0].enable_client_messages = true;
        c.apps[0].limits.max_client_events_per_second = Some(3);
        c.apps[0].limits.max_event_payload_bytes = 100;
    })
    .await;
    let mut a = connect(server.local_addr()).await;
    a.subscribe("public", None, None).await;
    let auth = a.auth("private-a", None);
    a.subscribe("private-a", Some(auth), None).await;

    let cases = [
        (
            json!({"event": "client-x", "channel": "public", "data": {}}),
            "not a private or presence channel",
        ),
        (
            json!({"event": "client-x", "channel": "private-b", "data": {}}),
            "not subscribed",
        ),
        (
            json!({"event": "client-x", "channel": "private-a", "data": "x".repeat(200)}),
            "limit is 100",
        ),
    ];
    for (frame, reason) in cases {
        a.send(frame).await;
        let error = a.expect_event("pusher:error").await;
        assert_eq!(code(&error), 4301);
        assert!(
            error["data"]["message"].as_str().unwrap().contains(reason),
            "{error}"
        );
    }
    for _ in 0..5 {
        a.send(json!({"event": "client-x", "channel": "private-a", "data": {}}))
            .await;
    }
    let error = a.expect_event("pusher:error").await;
    assert!(
        error["data"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limit"),
        "{error}"
    );
    a.send(json!({"event": "pusher:ping"})).await;
    a.expect_event("pusher:pong").await;
}

#[tokio::test]
async fn client_events_are_refused_when_disabled() {
    let server = start(|_| {}).await;
    let mut a = connect(server.local_addr()).await;
    let auth = a.auth("private-a", None);
    a.subscribe("private-a", Some(auth), None).await;
    a.send(json!({"event": "client-x", "channel": "private-a", "data": {}}))
        .await;
    let error = a.expect_event("pusher:error").await;
    assert_eq!(code(&error), 4301);
    assert!(error["data"]["message"]
        .as_str()
        .unwrap()
        .contains("disabled"));
}
