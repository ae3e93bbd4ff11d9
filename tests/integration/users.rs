//! Sign-in, server-to-user messages, terminate_connections, watchlists, authorized connections.

use std::time::Duration;

use serde_json::{json, Value};
use sockwave_protocol::auth::signature::sign;

use crate::support::*;

fn signin_frame(client: &Client, user_data: &str) -> Value {
    let signature = sign(
        SECRET,
        format!("{}::user::{user_data}", client.socket_id).as_bytes(),
    );
    json!({"event": "pusher:signin", "data": {"auth": format!("{KEY}:{signature}"), "user_data": user_data}})
}

async fn sign_in(client: &mut Client, user_data: &str) -> Value {
    client.send(signin_frame(client, user_data)).await;
    client.recv().await
}

#[tokio::test]
async fn signin_succeeds_and_bad_signatures_fail() {
    let server = start(|_| {}).await;
    let mut client = connect(server.local_addr()).await;
    let user_data = r#"{"id":"42","user_info":{"name":"Ann"}}"#;
    let ok = sign_in(&mut client, user_data).await;
    assert_eq!(
        ok,
        json!({"event": "pusher:signin_success", "data": {"user_data": user_data}})
    );

    let mut other = connect(server.local_addr()).await;
    let mut forged = signin_frame(&other, user_data);
    forged["data"]["user_data"] = r#"{"id":"1"}"#.into();
    other.send(forged).await;
    let error = other.expect_event("pusher:error").await;
    assert_eq!(error["data"]["code"], 4009);
    assert!(
        error["data"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid signature"),
        "{error}"
    );

    // A second sign-in as somebody else on the same connection is refused.
    let again = sign_in(&mut client, r#"{"id":"43"}"#).await;
    assert!(again["data"]["message"]
        .as_str()
        .unwrap()
        .contains("already signed in as '42'"));
}

#[tokio::test]
async fn signin_can_be_disabled() {
    let server = start(|c| c.apps[0].enable_user_authentication = false).await;
    let mut client = connect(server.local_addr()).await;
    let error = sign_in(&mut client, r#"{"id":"1"}"#).await;
    assert_eq!(error["data"]["code"], 4009);
    assert!(error["data"]["message"]
        .as_str()
        .unwrap()
        .contains("disabled"));
}

#[tokio::test]
async fn send_to_user_reaches_only_that_users_sockets() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    let mut tab1 = connect(addr).await;
    let mut tab2 = connect(addr).await;
    let mut stranger = connect(addr).await;
    sign_in(&mut tab1, r#"{"id":"42"}"#).await;
    sign_in(&mut tab2, r#"{"id":"42"}"#).await;
    sign_in(&mut stranger, r#"{"id":"7"}"#).await;
    // pusher-js subscribes to its own server-to-user channel; another user's is refused.
    let own = tab1.subscribe("#server-to-user-42", None, None).await;
    assert_eq!(own["event"], "pusher_internal:subscription_succeeded");
    let spy = stranger.subscribe("#server-to-user-42", None, None).await;
    assert_eq!(spy["event"], "pusher:subscription_error");

    publish(addr, "#server-to-user-42", "notice", r#"{"n":1}"#, None).await;
    for tab in [&mut tab1, &mut tab2] {
        let frame = tab.expect_event("notice").await;
        assert_eq!(frame["channel"], "#server-to-user-42");
    }
    stranger.expect_silence(300).await;
}

#[tokio::test]
async fn terminate_connections_closes_that_user_only() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    let mut signed = connect(addr).await;
    let mut member = connect(addr).await;
    let mut other = connect(addr).await;
    sign_in(&mut signed, r#"{"id":"42"}"#).await;
    let data = r#"{"user_id":42}"#;
    let auth = member.auth("presence-room", Some(data));
    member
        .subscribe("presence-room", Some(auth), Some(data))
        .await;
    sign_in(&mut other, r#"{"id":"7"}"#).await;

    let (status, body) = ApiCall::new(
        "POST",
        &format!("/apps/{APP_ID}/users/42/terminate_connections"),
        Some(json!({})),
    )
    .send(addr)
    .await;
    assert_eq!((status, body), (200, json!({})));
    for client in [&mut signed, &mut member] {
        assert_eq!(
            client.expect_event("pusher:error").await["data"]["code"],
            4009
        );
        assert_eq!(client.expect_close().await, 4009);
    }
    other.send(json!({"event": "pusher:ping"})).await;
    other.expect_event("pusher:pong").await;
}

#[tokio::test]
async fn presence_without_channel_data_uses_the_signed_in_user() {
    let server = start(|_| {}).await;
    let mut client = connect(server.local_addr()).await;
    sign_in(&mut client, r#"{"id":"42","user_info":{"name":"Ann"}}"#).await;
    let auth = client.auth("presence-room", None);
    let ok = client.subscribe("presence-room", Some(auth), None).await;
    let presence: Value = serde_json::from_str(ok["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        presence["presence"],
        json!({"ids": ["42"], "hash": {"42": {"name": "Ann"}}, "count": 1})
    );
}

#[tokio::test]
async fn watchlist_reports_online_and_offline() {
    let server = start(|_| {}).await;
    let addr = server.local_addr();
    let mut friend = connect(addr).await;
    sign_in(&mut friend, r#"{"id":"7"}"#).await;
    let mut watcher = connect(addr).await;
    sign_in(&mut watcher, r#"{"id":"1","watchlist":["7","9"]}"#).await;
    let initial = watcher
        .expect_event("pusher_internal:watchlist_events")
        .await;
    assert_eq!(
        initial["data"],
        json!({"events": [{"name": "online", "user_ids": ["7"]}, {"name": "offline", "user_ids": ["9"]}]})
    );
    let mut nine = connect(addr).await;
    sign_in(&mut nine, r#"{"id":"9"}"#).await;
    let online = watcher
        .expect_event("pusher_internal:watchlist_events")
        .await;
    assert_eq!(
        online["data"],
        json!({"events": [{"name": "online", "user_ids": ["9"]}]})
    );
    drop(friend);
    let offline = watcher
        .expect_event("pusher_internal:watchlist_events")
        .await;
    assert_eq!(
        offline["data"],
        json!({"events": [{"name": "offline", "user_ids": ["7"]}]})
    );
}

#[tokio::test]
async fn watchlists_over_100_are_cut_with_4302() {
    let server = start(|_| {}).await;
    let mut client = connect(server.local_addr()).await;
    let ids: Vec<String> = (0..101).map(|i| format!("\"u{i}\"")).collect();
    let user_data = format!(r#"{{"id":"1","watchlist":[{}]}}"#, ids.join(","));
    assert_eq!(
        sign_in(&mut client, &user_data).await["event"],
        "pusher:signin_success"
    );
    let error = client.expect_event("pusher:error").await;
    assert_eq!(error["data"]["code"], 4302);
}

#[tokio::test]
async fn unauthorized_connections_are_closed_when_required() {
    let server =
        start(|c| c.apps[0].authorized_connections_timeout = Some(Duration::from_secs(1))).await;
    let addr = server.local_addr();
    let mut idle = connect(addr).await;
    let mut signed = connect(addr).await;
    sign_in(&mut signed, r#"{"id":"1"}"#).await;
    let mut private = connect(addr).await;
    let auth = private.auth("private-a", None);
    private.subscribe("private-a", Some(auth), None).await;
    idle.subscribe("public", None, None).await;
    assert_eq!(
        idle.expect_event("pusher:error").await["data"]["code"],
        4009
    );
    assert_eq!(idle.expect_close().await, 4009);
    for client in [&mut signed, &mut private] {
        client.send(json!({"event": "pusher:ping"})).await;
        client.expect_event("pusher:pong").await;
    }
}
