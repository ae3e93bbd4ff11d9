//! Clients that never read while publishes flow: the server cuts each one off (4100) and its
//! memory stays bounded, while a reading client keeps a low publish-to-receive latency.
//!
//! `SOCKWAVE_SLOW_READERS` (default 50) sets how many clients stop reading.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::process::{env_or, free_port, get, publish, Server, APP_ID, KEY};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribed(addr: std::net::SocketAddr, channel: &str) -> Ws {
    let url = format!("ws://{addr}/app/{KEY}?protocol=7&client=js&version=8.4.0");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    let subscribe = json!({"event": "pusher:subscribe", "data": {"channel": channel}});
    ws.send(Message::text(subscribe.to_string())).await.unwrap();
    loop {
        let Some(Ok(Message::Text(text))) = ws.next().await else {
            panic!("closed before subscribing");
        };
        if text.contains("subscription_succeeded") {
            return ws;
        }
    }
}

async fn next_event(ws: &mut Ws, event: &str) {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the reading client receives in time");
        if let Some(Ok(Message::Text(text))) = message {
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            if frame["event"] == event {
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_reading_clients_are_cut_off_with_bounded_memory() {
    let n_slow = env_or("SOCKWAVE_SLOW_READERS", 50) as usize;
    let server = Server::start(free_port(), "socket_queue_capacity = 256").await;
    let addr = server.addr;
    let mut reader = subscribed(addr, "feed").await;
    let mut slow = Vec::new();
    for _ in 0..n_slow {
        slow.push(subscribed(addr, "feed").await);
    }
    let (rss_before, _) = server.memory_kib();

    // 64 KiB events until every slow client is gone (or a bound is hit).
    let payload = "x".repeat(64 * 1024);
    let mut worst = Duration::ZERO;
    let mut n_published = 0;
    let started = Instant::now();
    loop {
        let sent = Instant::now();
        assert_eq!(publish(addr, "feed", &payload).await, 200);
        next_event(&mut reader, "tick").await;
        worst = worst.max(sent.elapsed());
        n_published += 1;
        if n_published % 20 == 0 && subscribers(addr).await == 1 {
            break;
        }
        assert!(
            n_published < 3_000 && started.elapsed() < Duration::from_secs(120),
            "slow readers were not cut off ({} subscribers left)",
            subscribers(addr).await
        );
    }
    let (rss_after, peak) = server.memory_kib();
    eprintln!(
        "slow readers: {n_slow} clients that never read were cut off after {n_published} publishes of 64 KiB \
         in {:.2?}; the reading client's worst publish-to-receive latency {worst:.2?}; server RSS \
         {} MiB before, {} MiB after, peak {} MiB",
        started.elapsed(),
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024,
    );
    assert!(worst < Duration::from_secs(1), "{worst:?}");
    // Frames are shared between sockets; per socket only its write buffer is its own.
    assert!(peak < 512 * 1024, "peak RSS {peak} KiB");
    // Each slow client finds, after what the kernel had buffered, a 4100 close, or the end of
    // the connection when even the close frame found no room (the server gives a close 1 s).
    let mut n_4100 = 0;
    for mut ws in slow {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => {
                    assert_eq!(frame.map(|f| u16::from(f.code)), Some(4100));
                    n_4100 += 1;
                    break;
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_)) | None) => break,
                Err(_) => panic!("a slow client's connection was still open"),
            }
        }
    }
    eprintln!("slow readers: {n_4100} of {n_slow} found the 4100 close frame, the others a closed connection");
    assert_eq!(get(addr, "/up").await, Some(200));
}

/// Subscribers of `feed`, from the HTTP API.
async fn subscribers(addr: std::net::SocketAddr) -> u64 {
    use sockwave_protocol::auth::api_auth::string_to_sign;
    use sockwave_protocol::auth::signature::sign;
    let path = format!("/apps/{APP_ID}/channels/feed");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut query = vec![
        ("auth_key".to_string(), KEY.to_string()),
        ("auth_timestamp".to_string(), now.to_string()),
        ("auth_version".to_string(), "1.0".to_string()),
        ("info".to_string(), "subscription_count".to_string()),
    ];
    let signature = sign(
        crate::process::SECRET,
        string_to_sign("GET", &path, &query).as_bytes(),
    );
    query.push(("auth_signature".to_string(), signature));
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&query)
        .finish();
    let body = crate::process::get_body(addr, &format!("{path}?{query}")).await;
    let value: Value = serde_json::from_str(&body).unwrap_or_default();
    value["subscription_count"].as_u64().unwrap_or(0)
}
