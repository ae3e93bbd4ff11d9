//! Handshake, refusals, heartbeats and malformed frames.

use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

fn error_code(frame: &Value) -> Option<u64> {
    frame["data"]["code"].as_u64()
}

#[tokio::test]
async fn connection_established_carries_socket_id_and_activity_timeout() {
    let server = start(|_| {}).await;
    let mut client = connect_raw(
        server.local_addr(),
        "/app/app-key?protocol=7&client=js&version=8.4.0",
    )
    .await;
    use futures_util::StreamExt;
    let Some(Ok(Message::Text(text))) = client.next().await else {
        panic!("no frame")
    };
    let frame: Value = serde_json::from_str(text.as_str()).unwrap();
    assert_eq!(frame["event"], "pusher:connection_established");
    let data: Value =
        serde_json::from_str(frame["data"].as_str().expect("data is a JSON string")).unwrap();
    let socket_id = data["socket_id"].as_str().unwrap();
    assert!(
        socket_id.parse::<sockwave::registry::SocketId>().is_ok(),
        "{socket_id}"
    );
    assert_eq!(data["activity_timeout"], 30);
}

async fn refused(query: &str, tweak: impl FnOnce(&mut sockwave::config::Config)) -> (u64, u16) {
    let server = start(tweak).await;
    let ws = connect_raw(server.local_addr(), query).await;
    let mut client = Client::from_stream(ws);
    let error = client.expect_event("pusher:error").await;
    let close = client.expect_close().await;
    (error_code(&error).unwrap(), close)
}

#[tokio::test]
async fn refusals_send_an_error_then_close_with_the_same_code() {
    assert_eq!(refused("/app/nope?protocol=7", |_| {}).await, (4001, 4001));
    assert_eq!(
        refused("/app/app-key?client=js", |_| {}).await,
        (4008, 4008)
    );
    assert_eq!(
        refused("/app/app-key?protocol=abc", |_| {}).await,
        (4006, 4006)
    );
    assert_eq!(
        refused("/app/app-key?protocol=3", |_| {}).await,
        (4007, 4007)
    );
    assert_eq!(
        refused("/app/app-key?protocol=7", |c| c.apps[0].enabled = false).await,
        (4003, 4003)
    );
}

#[tokio::test]
async fn connection_quota_is_enforced_and_freed() {
    let server = start(|c| c.apps[0].max_connections = Some(1)).await;
    let first = connect(server.local_addr()).await;
    let ws = connect_raw(server.local_addr(), "/app/app-key?protocol=7").await;
    let mut second = Client::from_stream(ws);
    assert_eq!(
        error_code(&second.expect_event("pusher:error").await),
        Some(4004)
    );
    assert_eq!(second.expect_close().await, 4004);
    drop(first);
    // The slot frees once the server notices the first socket is gone.
    for _ in 0..100 {
        if server.context().registry.total_connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    connect(server.local_addr()).await;
}

#[tokio::test]
async fn path_prefix_is_served() {
    let server = start(|c| c.server.path_prefix = "/ws".into()).await;
    let ws = connect_raw(server.local_addr(), "/ws/app/app-key?protocol=7").await;
    let mut client = Client::from_stream(ws);
    client.expect_event("pusher:connection_established").await;
}

#[tokio::test]
async fn ping_gets_pong_and_ws_pings_get_pongs() {
    let server = start(|_| {}).await;
    let mut client = connect(server.local_addr()).await;
    client
        .send(json!({"event": "pusher:ping", "data": {}}))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"event": "pusher:pong", "data": {}})
    );
    client.send_raw(Message::Ping(b"hi".to_vec().into())).await;
    assert_eq!(client.next_pong().await, b"hi".to_vec());
}

// Heartbeats run on tokio's clock: with it paused, the timers fire as soon as nothing else
// can run, and the elapsed virtual time shows that each fired no earlier than configured.
#[tokio::test(start_paused = true)]
async fn silent_clients_are_pinged_then_closed_with_4201() {
    let server = start(|c| {
        c.server.activity_timeout = Duration::from_secs(1);
        c.server.pong_timeout = Duration::from_secs(1);
    })
    .await;
    let mut client = connect(server.local_addr()).await;
    let connected = tokio::time::Instant::now();
    assert_eq!(client.recv().await["event"], "pusher:ping");
    let pinged = tokio::time::Instant::now();
    assert!(pinged - connected >= Duration::from_secs(1));
    assert_eq!(
        error_code(&client.expect_event("pusher:error").await),
        Some(4201)
    );
    assert!(pinged.elapsed() >= Duration::from_secs(1));
    assert_eq!(client.expect_close().await, 4201);
}

#[tokio::test(start_paused = true)]
async fn answering_the_ping_keeps_the_socket() {
    let server = start(|c| {
        c.server.activity_timeout = Duration::from_secs(1);
        c.server.pong_timeout = Duration::from_secs(1);
    })
    .await;
    let mut client = connect(server.local_addr()).await;
    let connected = tokio::time::Instant::now();
    for _ in 0..2 {
        assert_eq!(client.recv().await["event"], "pusher:ping");
        client
            .send(json!({"event": "pusher:pong", "data": {}}))
            .await;
    }
    // Two activity timeouts passed, and the socket is still served.
    assert!(connected.elapsed() >= Duration::from_secs(2));
    client.send(json!({"event": "pusher:ping"})).await;
    assert_eq!(
        client.expect_event("pusher:pong").await["event"],
        "pusher:pong"
    );
}

#[tokio::test]
async fn malformed_frames_get_errors_and_the_socket_survives() {
    let server = start(|_| {}).await;
    let mut client = connect(server.local_addr()).await;
    let frames = [
        "not json",
        r#"{"data":{}}"#,
        r#"{"event":"pusher:subscribe"}"#,
        r#"{"event":"pusher:subscribe","data":{"channel":5}}"#,
        r#"{"event":"pusher:foo","data":{}}"#,
        r#"{"event":"client-x","data":{}}"#,
    ];
    for frame in frames {
        client.send_raw(Message::text(frame)).await;
        let error = client.expect_event("pusher:error").await;
        assert_eq!(error_code(&error), Some(4300), "{frame}");
        assert!(!error["data"]["message"].as_str().unwrap().is_empty());
    }
    client
        .send_raw(Message::Binary(b"{}".to_vec().into()))
        .await;
    let error = client.expect_event("pusher:error").await;
    assert!(error["data"]["message"]
        .as_str()
        .unwrap()
        .contains("binary"));
    client.send(json!({"event": "pusher:ping"})).await;
    client.expect_event("pusher:pong").await;
}

#[tokio::test]
async fn oversize_frames_close_only_that_socket() {
    let server = start(|c| c.server.max_ws_message_bytes = 1024).await;
    let mut other = connect(server.local_addr()).await;
    let mut client = connect(server.local_addr()).await;
    client.send_raw(Message::text("x".repeat(4096))).await;
    assert_eq!(client.expect_close().await, 1009);
    other.send(json!({"event": "pusher:ping"})).await;
    other.expect_event("pusher:pong").await;
}
