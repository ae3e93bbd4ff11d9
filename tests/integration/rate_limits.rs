//! Every rate limit hit and recovered: backend events (one per channel) and read requests per
//! app with their headers, client events per socket, connections per app, per-IP connection
//! limits, and backend events shared by two nodes through Redis.
//!
//! Limits use one-second windows, so recovery waits for the window to end (a fixed wait on
//! purpose: the thing under test is the clock).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sockwave::config::{ClusterSettings, Driver};
use sockwave::server::Server;
use tokio_tungstenite::tungstenite;

use crate::support::*;

const WINDOW_END: Duration = Duration::from_millis(1100);

async fn publish_to(
    addr: std::net::SocketAddr,
    channels: &[&str],
) -> (u16, hyper::HeaderMap, Value) {
    let body = json!({"name": "e", "channels": channels, "data": "x"});
    let call = ApiCall::new("POST", &format!("/apps/{APP_ID}/events"), Some(body));
    signed_request_with_headers(addr, call).await
}

fn header(headers: &hyper::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn backend_events_count_channels_answer_429_and_recover() {
    let server = start(|c| c.apps[0].limits.max_backend_events_per_second = Some(3)).await;
    let addr = server.local_addr();

    let (status, headers, _) = publish_to(addr, &["a", "b"]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-ratelimit-limit"), "3");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "1");

    let (status, headers, body) = publish_to(addr, &["c", "d"]).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(header(&headers, "x-ratelimit-limit"), "3");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "1");
    assert_eq!(header(&headers, "retry-after"), "1");
    assert_eq!(body["code"], 429);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("at most 3 per second"),
        "{body}"
    );

    let (status, headers, _) = publish_to(addr, &["c"]).await;
    assert_eq!(status, 200, "one channel still fits");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "0");

    tokio::time::sleep(WINDOW_END).await;
    let (status, headers, _) = publish_to(addr, &["a", "b", "c"]).await;
    assert_eq!(status, 200, "a new window");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "0");

    let (status, _, body) = publish_to(addr, &["a", "b", "c", "d"]).await;
    assert_eq!(status, 429);
    assert!(
        body["error"].as_str().unwrap().contains("split it"),
        "{body}"
    );
}

#[tokio::test]
async fn batches_cost_one_per_event() {
    let server = start(|c| c.apps[0].limits.max_backend_events_per_second = Some(2)).await;
    let batch = json!({"batch": [
        {"name": "e", "channel": "a", "data": "1"},
        {"name": "e", "channel": "b", "data": "2"},
    ]});
    let call = || {
        ApiCall::new(
            "POST",
            &format!("/apps/{APP_ID}/batch_events"),
            Some(batch.clone()),
        )
    };
    let (status, headers, _) = signed_request_with_headers(server.local_addr(), call()).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "0");
    let (status, _, _) = signed_request_with_headers(server.local_addr(), call()).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn read_requests_answer_429_and_recover() {
    let server = start(|c| c.apps[0].limits.max_read_requests_per_second = Some(1)).await;
    let addr = server.local_addr();
    let read = || ApiCall::new("GET", &format!("/apps/{APP_ID}/channels"), None);
    let (status, headers, _) = signed_request_with_headers(addr, read()).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-ratelimit-limit"), "1");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "0");
    let (status, headers, body) = signed_request_with_headers(addr, read()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(header(&headers, "retry-after"), "1");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "0");
    let (status, _, _) = publish_to(addr, &["a"]).await;
    assert_eq!(status, 200, "publishes have their own budget");
    tokio::time::sleep(WINDOW_END).await;
    assert_eq!(signed_request_with_headers(addr, read()).await.0, 200);
}

#[tokio::test]
async fn unsigned_requests_do_not_spend_the_budget() {
    let server = start(|c| c.apps[0].limits.max_read_requests_per_second = Some(1)).await;
    let addr = server.local_addr();
    for _ in 0..3 {
        let mut call = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels"), None);
        call.secret = "wrong".into();
        assert_eq!(call.send(addr).await.0, 401);
    }
    let call = ApiCall::new("GET", &format!("/apps/{APP_ID}/channels"), None);
    assert_eq!(call.send(addr).await.0, 200);
}

#[tokio::test]
async fn client_events_per_socket_are_limited_and_recover() {
    let server = start(|c| {
        c.apps[0].enable_client_messages = true;
        c.apps[0].limits.max_client_events_per_second = Some(1);
    })
    .await;
    let addr = server.local_addr();
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    for client in [&mut a, &mut b] {
        let auth = client.auth("private-chat", None);
        client.subscribe("private-chat", Some(auth), None).await;
    }
    let whisper = json!({"event": "client-typing", "channel": "private-chat", "data": {}});
    a.send(whisper.clone()).await;
    b.expect_event("client-typing").await;
    a.send(whisper.clone()).await;
    let error = a.expect_event("pusher:error").await;
    assert_eq!(error["data"]["code"], 4301);
    tokio::time::sleep(WINDOW_END).await;
    a.send(whisper).await;
    b.expect_event("client-typing").await;
}

#[tokio::test]
async fn app_connection_quota_refuses_with_4004_and_recovers() {
    let server = start(|c| c.apps[0].max_connections = Some(1)).await;
    let addr = server.local_addr();
    let first = connect(addr).await;
    let mut refused = Client::from_stream(
        connect_raw(
            addr,
            &format!("/app/{KEY}?protocol=7&client=js&version=8.4.0"),
        )
        .await,
    );
    assert_eq!(refused.expect_close().await, 4004);
    drop(first);
    wait_until_no_sockets(&server).await;
    connect(addr).await;
}

async fn wait_until_no_sockets(server: &Server) {
    for _ in 0..200 {
        if server.context().registry.total_connections() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("sockets still open after 2 s");
}

/// The HTTP status a refused upgrade answered with.
async fn upgrade_status(addr: std::net::SocketAddr) -> Result<(), (u16, Option<String>)> {
    let url = format!("ws://{addr}/app/{KEY}?protocol=7&client=js&version=8.4.0");
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => Ok(()),
        Err(tungstenite::Error::Http(response)) => Err((
            response.status().as_u16(),
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
        )),
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[tokio::test]
async fn open_connections_per_ip_are_limited_and_recover() {
    let server = start(|c| c.server.ws_connections_per_ip = Some(1)).await;
    let addr = server.local_addr();
    let first = connect(addr).await;
    assert_eq!(upgrade_status(addr).await, Err((429, Some("1".into()))));
    drop(first);
    for _ in 0..200 {
        if server
            .context()
            .rate_limits
            .ip
            .open_count("127.0.0.1".parse().unwrap())
            == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    connect(addr).await;
}

#[tokio::test]
async fn new_connections_per_ip_per_second_are_limited_and_recover() {
    let server = start(|c| c.server.ws_new_connections_per_ip_per_second = Some(1)).await;
    let addr = server.local_addr();
    drop(connect(addr).await);
    assert_eq!(upgrade_status(addr).await, Err((429, Some("1".into()))));
    tokio::time::sleep(WINDOW_END).await;
    connect(addr).await;
}

#[tokio::test]
async fn per_ip_limits_are_off_by_default() {
    let server = start(|_| {}).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(connect(server.local_addr()).await);
    }
}

#[tokio::test]
async fn backend_events_are_shared_across_nodes_through_redis() {
    const REDIS: &str = "redis://127.0.0.1:6379";
    if tokio::net::TcpStream::connect("127.0.0.1:6379")
        .await
        .is_err()
    {
        assert!(
            std::env::var("SOCKWAVE_TEST_REQUIRE_SERVICES").is_err(),
            "Redis is not reachable and SOCKWAVE_TEST_REQUIRE_SERVICES is set"
        );
        eprintln!("NOT RUN: Redis is not reachable at 127.0.0.1:6379");
        return;
    }
    let prefix = format!("ratelimit-test-{}", rand_suffix());
    let node = |prefix: String| {
        start(move |c| {
            c.server.cluster = ClusterSettings {
                driver: Driver::Redis { url: REDIS.into() },
                prefix,
                ..ClusterSettings::default()
            };
            c.apps[0].limits.max_backend_events_per_second = Some(2);
        })
    };
    let a = node(prefix.clone()).await;
    let b = node(prefix).await;
    // Both requests must fall in the same wall-clock second, the window Redis counts in.
    let into_second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(
        1010 - into_second.min(1000),
    )))
    .await;
    let (status, headers, _) = publish_to(a.local_addr(), &["x", "y"]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "0");
    let (status, headers, body) = publish_to(b.local_addr(), &["z"]).await;
    assert_eq!(status, 429, "node B sees node A's spending: {body}");
    assert_eq!(header(&headers, "x-ratelimit-limit"), "2");
    tokio::time::sleep(WINDOW_END).await;
    assert_eq!(publish_to(b.local_addr(), &["z"]).await.0, 200);
}

fn rand_suffix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}
