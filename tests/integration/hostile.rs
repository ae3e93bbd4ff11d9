//! Slow and malicious clients: each is cut off within a bounded time while a well-behaved
//! client on the same server keeps receiving promptly.

use sockwave::app::AppId;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// How long a refused socket may take to go away beyond its configured limit.
const SLACK: Duration = Duration::from_secs(3);

/// Reads until the server closes the connection; returns what it sent and when it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open for {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return (received, started.elapsed()),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_client_that_never_sends_a_request_is_dropped_after_the_handshake_timeout() {
    let server = start(|c| c.server.handshake_timeout = Duration::from_millis(300)).await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let (_, after) = read_until_closed(&mut stream, Duration::from_millis(300) + SLACK).await;
    assert!(
        after >= Duration::from_millis(250),
        "closed too early: {after:?}"
    );
}

#[tokio::test]
async fn a_client_sending_headers_forever_is_dropped_after_the_handshake_timeout() {
    let server = start(|c| c.server.handshake_timeout = Duration::from_millis(500)).await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(format!("GET /app/{KEY}?protocol=7 HTTP/1.1\r\nHost: x\r\n").as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    // A header line every 50 ms, never the blank line that ends the head.
    let mut n_lines = 0;
    let closed = loop {
        if stream.write_all(b"X-Slow: drip\r\n").await.is_err() {
            break started.elapsed();
        }
        n_lines += 1;
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_millis(500) + SLACK,
            "never cut off"
        );
    };
    assert!(
        n_lines > 3,
        "the server must wait for the timeout, not the first line"
    );
    assert!(closed >= Duration::from_millis(400), "{closed:?}");
}

#[tokio::test]
async fn an_oversized_request_head_gets_431() {
    let server = start(|c| c.server.max_header_bytes = 8 * 1024).await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let cookie = "a".repeat(16 * 1024);
    let request = format!("GET /up HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n");
    // The server may stop reading before the whole head is written; that is fine.
    let _ = stream.write_all(request.as_bytes()).await;
    let (response, _) = read_until_closed(&mut stream, SLACK).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");

    // Normal requests still work.
    assert_eq!(
        raw_request(server.local_addr(), "GET", "/up", None).await.0,
        200
    );
}

#[tokio::test]
async fn a_flooding_client_is_closed_with_4100_and_others_are_unaffected() {
    let server = start(|c| {
        c.server.max_ws_messages_per_second = 20;
        c.server.ws_message_burst = 40;
    })
    .await;
    let mut calm = connect(server.local_addr()).await;
    calm.subscribe("news", None, None).await;
    let mut flood = connect(server.local_addr()).await;
    // Within the burst: all answered.
    for _ in 0..30 {
        flood.send(json!({"event": "pusher:ping"})).await;
    }
    for _ in 0..30 {
        flood.expect_event("pusher:pong").await;
    }
    // Past it: one error with the code, then the close.
    for _ in 0..50 {
        flood.send(json!({"event": "pusher:ping"})).await;
    }
    let error = flood.expect_event("pusher:error").await;
    assert_eq!(error["data"]["code"], 4100, "{error}");
    assert!(error["data"]["message"]
        .as_str()
        .unwrap()
        .contains("rate limit"));
    assert_eq!(flood.expect_close().await, 4100);

    publish(server.local_addr(), "news", "still-here", "{}", None).await;
    calm.expect_event("still-here").await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_while_others_keep_their_latency() {
    let server = start(|c| c.server.socket_queue_capacity = 64).await;
    let addr = server.local_addr();
    let mut calm = connect(addr).await;
    calm.subscribe("feed", None, None).await;
    let stalled = connect(addr).await;
    let mut stalled = stalled;
    stalled.subscribe("feed", None, None).await;
    let stalled_id = stalled.socket_id.parse().unwrap();
    let registry = server.context().registry.app(&AppId::from(APP_ID));

    let payload = "x".repeat(32 * 1024);
    let mut worst = Duration::ZERO;
    let mut n_published = 0;
    while registry.is_subscribed("feed", stalled_id) {
        assert!(n_published < 2_000, "the stalled client was never cut off");
        let sent = Instant::now();
        publish(addr, "feed", "tick", &payload, None).await;
        calm.expect_event("tick").await;
        worst = worst.max(sent.elapsed());
        n_published += 1;
    }
    eprintln!("never-reading client cut off after {n_published} publishes of 32 KiB; worst publish-to-receive latency of the other client {worst:?}");
    assert!(worst < Duration::from_secs(1), "{worst:?}");
    let started = Instant::now();
    while registry.connection_count() > 1 {
        assert!(
            started.elapsed() < SLACK,
            "the stalled socket was not removed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(stalled);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_even_when_no_more_messages_come() {
    // The queue never overflows; the write itself stalls and pong_timeout ends it.
    let server = start(|c| {
        c.server.socket_queue_capacity = 100_000;
        c.server.pong_timeout = Duration::from_secs(1);
    })
    .await;
    let stalled = connect(server.local_addr()).await;
    let mut stalled = stalled;
    stalled.subscribe("feed", None, None).await;
    let registry = server.context().registry.app(&AppId::from(APP_ID));
    let frame = sockwave_protocol::Frame::from(sockwave_protocol::messages::channel_event(
        "e",
        "feed",
        &"x".repeat(64 * 1024),
    ));
    // Enough to fill both kernel buffers of a loopback connection many times over.
    for _ in 0..600 {
        let mut flushes = sockwave::outbox::Flushes::new();
        registry.broadcast("feed", &frame, None, &mut flushes);
        flushes.flush();
    }
    let started = Instant::now();
    while registry.connection_count() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(1) + SLACK,
            "stalled socket kept"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stalled);
}

#[tokio::test]
async fn connections_in_a_tight_loop_from_one_address_are_refused_with_429() {
    let server = start(|c| {
        c.server.ws_connections_per_ip = Some(3);
        c.server.ws_new_connections_per_ip_per_second = Some(20);
    })
    .await;
    let addr = server.local_addr();
    let url = format!("ws://{addr}/app/{KEY}?protocol=7&client=js&version=8.4.0");
    let mut open = Vec::new();
    let mut refused = 0;
    let started = Instant::now();
    for _ in 0..200 {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((ws, _)) => open.push(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 429);
                refused += 1;
            }
            Err(other) => panic!("unexpected failure: {other}"),
        }
    }
    assert!(
        open.len() <= 3,
        "{} sockets admitted from one address",
        open.len()
    );
    assert!(refused >= 197, "{refused}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Another address is not affected by this one's limit.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut other, _) = tokio_tungstenite::client_async(&url, stream).await.unwrap();
    use futures_util::StreamExt;
    let first = other.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("connection_established"));
}

#[tokio::test]
async fn one_socket_cannot_collect_unlimited_channels() {
    // The burst is raised so the message rate limit does not end the socket first.
    let server = start(|c| c.server.ws_message_burst = 5_000).await;
    let mut client = connect(server.local_addr()).await;
    let limit = sockwave::connection::session::MAX_CHANNELS_PER_SOCKET;
    for n in 0..limit {
        client
            .send(json!({"event": "pusher:subscribe", "data": {"channel": format!("c-{n}")}}))
            .await;
        client
            .expect_event("pusher_internal:subscription_succeeded")
            .await;
    }
    let refused = client.subscribe("one-too-many", None, None).await;
    assert_eq!(refused["event"], "pusher:subscription_error", "{refused}");
    assert_eq!(refused["data"]["type"], "LimitReached");
    // Subscribing again to a channel it already has is still fine.
    let again = client.subscribe("c-0", None, None).await;
    assert_eq!(again["event"], "pusher_internal:subscription_succeeded");
    assert_eq!(
        server
            .context()
            .registry
            .app(&AppId::from(APP_ID))
            .channel_count(),
        limit
    );
}
