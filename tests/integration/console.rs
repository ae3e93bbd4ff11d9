//! The console backend: access control, the event stream, the event creator, hints.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tokio::net::TcpStream;

use crate::support::*;

const TOKEN: &str = "admin-secret-token";

async fn console_server() -> sockwave::server::Server {
    start(|c| {
        c.server.console.enabled = true;
        c.server.console.token = Some(TOKEN.into());
    })
    .await
}

/// Opens the SSE stream; returns the status and a receiver of parsed events.
async fn open_stream(
    addr: std::net::SocketAddr,
    token: &str,
) -> (u16, tokio::sync::mpsc::Receiver<Value>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get(format!("/console/stream?app_id={APP_ID}"))
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let mut body = response.into_body();
    tokio::spawn(async move {
        let _sender = sender;
        let mut buffer = String::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buffer.push_str(&String::from_utf8_lossy(&data));
            while let Some(end) = buffer.find("\n\n") {
                let chunk: String = buffer.drain(..end + 2).collect();
                if let Some(json) = chunk.trim().strip_prefix("data: ") {
                    if let Ok(value) = serde_json::from_str(json) {
                        if tx.send(value).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    (status, rx)
}

async fn next_of_kind(rx: &mut tokio::sync::mpsc::Receiver<Value>, kind: &str) -> Value {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no '{kind}' event in time"))
            .expect("stream open");
        if event["kind"] == kind {
            return event;
        }
    }
}

#[tokio::test]
async fn the_console_is_off_by_default() {
    let server = start(|_| {}).await;
    let (status, body) = raw_request(server.local_addr(), "GET", "/console", None).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("disabled"));
}

#[tokio::test]
async fn the_stream_needs_a_token() {
    let server = console_server().await;
    let (status, page) = raw_request(server.local_addr(), "GET", "/console", None).await;
    assert_eq!(status, 200);
    assert!(
        page.as_str().unwrap().contains("<html") || page.as_str().unwrap().contains("<!doctype")
    );
    assert_eq!(open_stream(server.local_addr(), "wrong").await.0, 401);
    // The app's own secret opens that app's stream.
    assert_eq!(open_stream(server.local_addr(), SECRET).await.0, 200);
    // A credential in the URL is refused, whatever it is.
    let (status, body) = raw_request(
        server.local_addr(),
        "GET",
        &format!("/console/stream?app_id={APP_ID}&token={TOKEN}"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("Authorization"),
        "{body}"
    );
}

#[tokio::test]
async fn the_stream_shows_connections_subscriptions_publishes_and_failures() {
    let server = console_server().await;
    let addr = server.local_addr();
    let (status, mut events) = open_stream(addr, TOKEN).await;
    assert_eq!(status, 200);
    next_of_kind(&mut events, "stats").await;

    let mut client = connect(addr).await;
    let opened = next_of_kind(&mut events, "connection_opened").await;
    assert_eq!(opened["socket_id"], client.socket_id.as_str());
    assert_eq!(opened["client"], "js");
    assert_eq!(opened["client_supplied"], true, "{opened}");
    client.subscribe("news", None, None).await;
    let subscribed = next_of_kind(&mut events, "subscribed").await;
    assert_eq!(subscribed["channel"], "news");
    assert_eq!(
        subscribed["client_supplied"], true,
        "a public channel's name is the client's"
    );
    client
        .subscribe("private-x", Some(format!("{KEY}:00")), None)
        .await;
    let failed = next_of_kind(&mut events, "subscription_failed").await;
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("invalid signature"),
        "{failed}"
    );
    assert_eq!(failed["client_supplied"], true, "{failed}");

    publish(addr, "news", "stats.updated", r#"{"cpu":1}"#, None).await;
    let published = next_of_kind(&mut events, "publish").await;
    assert_eq!(published["channels"], json!(["news"]));
    assert_eq!(
        published.get("client_supplied"),
        None,
        "a signed publish is the backend's"
    );
    assert_eq!(
        (published["event"].as_str(), published["reached"].as_u64()),
        (Some("stats.updated"), Some(1))
    );

    let mut wrong = ApiCall::new(
        "POST",
        &format!("/apps/{APP_ID}/events"),
        Some(json!({"name": "e", "channel": "a", "data": "x"})),
    );
    wrong.secret = "nope".into();
    wrong.send(addr).await;
    let rejected = next_of_kind(&mut events, "publish_rejected").await;
    assert_eq!(rejected["status"], 401);
    assert_eq!(rejected["client_supplied"], true, "{rejected}");

    drop(client);
    next_of_kind(&mut events, "connection_closed").await;
}

#[tokio::test]
async fn refused_client_events_and_sign_ins_are_shown_with_their_reason() {
    let server = console_server().await;
    let addr = server.local_addr();
    let (_, mut events) = open_stream(addr, TOKEN).await;
    let mut client = connect(addr).await;
    // Client events are off for the app: the sender gets a pusher:error nobody sees in a
    // browser by default; the console shows it.
    client
        .send(json!({"event": "client-typing", "channel": "private-chat", "data": {}}))
        .await;
    client.expect_event("pusher:error").await;
    let refused = next_of_kind(&mut events, "client_event_refused").await;
    assert_eq!(refused["socket_id"], client.socket_id.as_str());
    assert_eq!(refused["channel"], "private-chat");
    assert_eq!(refused["event"], "client-typing");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("client events are disabled"),
        "{refused}"
    );
    assert_eq!(refused["client_supplied"], true, "{refused}");
    client
        .send(json!({"event": "pusher:signin", "data": {"auth": format!("{KEY}:00"), "user_data": "{\"id\":\"u1\"}"}}))
        .await;
    client.expect_event("pusher:error").await;
    let signin = next_of_kind(&mut events, "signin_refused").await;
    assert_eq!(signin["socket_id"], client.socket_id.as_str());
    assert!(
        signin["reason"]
            .as_str()
            .unwrap()
            .contains("sign-in refused"),
        "{signin}"
    );
}

#[tokio::test]
async fn the_event_creator_publishes() {
    let server = console_server().await;
    let addr = server.local_addr();
    let mut client = connect(addr).await;
    client.subscribe("news", None, None).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let body = json!({"channel": "news", "event": "test", "data": "{}"}).to_string();
    let request = hyper::Request::post(format!("/console/publish?app_id={APP_ID}"))
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let reply: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(reply, json!({"reached": 1}));
    client.expect_event("test").await;
}

#[tokio::test]
async fn a_publish_to_a_near_identical_channel_is_flagged() {
    let server = console_server().await;
    let addr = server.local_addr();
    let (_, mut events) = open_stream(addr, TOKEN).await;
    let mut client = connect(addr).await;
    let auth = client.auth("private-dashboard-stats", None);
    client
        .subscribe("private-dashboard-stats", Some(auth), None)
        .await;
    publish(addr, "dashboard-stats", "stats.updated", "{}", None).await;
    let warning = next_of_kind(&mut events, "warning").await;
    let message = warning["message"].as_str().unwrap();
    assert!(
        message.contains("'dashboard-stats'") && message.contains("'private-dashboard-stats'"),
        "{message}"
    );
}
