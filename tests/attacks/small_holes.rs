//! Finding 5, the smaller holes: parameter names read differently from how they were signed,
//! a metrics listener without timeouts, credentials of webhook URLs and of `.env` values in
//! output, and a TCP connection kept open after a WebSocket protocol error.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::{binary, free_port, signed, Server, Setup, APP_ID, KEY};
use crate::ws::Client;

#[tokio::test]
async fn parameter_names_mean_what_was_signed() {
    let server = Server::start(free_port(), "").await;
    let mut client = Client::connect(server.addr).await;
    for channel in ["news", "weather"] {
        client
            .send(json!({"event": "pusher:subscribe", "data": {"channel": channel}}))
            .await;
        client
            .next_event("pusher_internal:subscription_succeeded")
            .await;
    }
    let path = format!("/apps/{APP_ID}/channels");
    // The signature lower-cases names, so a captured request with the name upper-cased still
    // verifies: it must still filter.
    let (status, body) = signed(
        server.addr,
        "GET",
        &path,
        &[("FILTER_BY_PREFIX", "news")],
        String::new(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let channels: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(channels, json!({"channels": {"news": {}}}));
    // Two spellings of one name: which one a server reads is not the signer's choice.
    let (status, body) = signed(
        server.addr,
        "GET",
        &path,
        &[
            ("filter_by_prefix", "news"),
            ("FILTER_BY_PREFIX", "weather"),
        ],
        String::new(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("appears more than once"), "{body}");
}

#[tokio::test]
async fn idle_metrics_connections_are_closed_after_the_head_timeout() {
    let metrics_port = free_port();
    let setup = Setup {
        server: format!(
            "handshake_timeout = 2\nmetrics_enabled = true\nmetrics_port = {metrics_port}"
        ),
        ..Setup::default()
    };
    let _server = Server::launch(free_port(), setup).await;
    let started = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(
            TcpStream::connect(("127.0.0.1", metrics_port))
                .await
                .unwrap(),
        );
    }
    for mut stream in idle {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(6), stream.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "an idle metrics connection stayed open: {read:?}"
        );
    }
    let elapsed = started.elapsed();
    eprintln!("50 idle metrics connections closed after {elapsed:?} (head timeout 2 s)");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

const HOOK_PASSWORD: &str = "HookPassw0rd-not-for-logs";

#[tokio::test]
async fn webhook_url_credentials_never_show() {
    let closed_port = free_port();
    let url = format!("http://hookuser:{HOOK_PASSWORD}@127.0.0.1:{closed_port}/hook");
    let setup = Setup {
        server: "webhook_retry_budget = 1\nwebhook_batch_window_ms = 0".into(),
        app: format!("[[apps.webhooks]]\nurl = \"{url}\"\nevent_types = [\"channel_occupied\"]"),
        capture_log: true,
        ..Setup::default()
    };
    let server = Server::launch(free_port(), setup).await;
    let mut client = Client::connect(server.addr).await;
    client
        .send(json!({"event": "pusher:subscribe", "data": {"channel": "news"}}))
        .await;
    client
        .next_event("pusher_internal:subscription_succeeded")
        .await;
    // The delivery to a closed port fails, is retried for a second, and is logged.
    let started = Instant::now();
    let log = loop {
        let log = server.log();
        if log.contains("webhook delivery failed") {
            break log;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no failure logged: {log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(log.contains("hookuser:****@127.0.0.1"), "{log}");
    let (status, deliveries) = signed(
        server.addr,
        "GET",
        &format!("/apps/{APP_ID}/webhooks/deliveries"),
        &[],
        String::new(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(deliveries.contains("hookuser:****@"), "{deliveries}");

    let config = std::env::temp_dir().join(format!("sockwave-hook-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        format!("[[apps]]\nid = \"a\"\nkey = \"{KEY}\"\nsecret = \"s\"\n[[apps.webhooks]]\nurl = \"{url}\"\nevent_types = [\"channel_occupied\"]\n"),
    )
    .unwrap();
    let check = Command::new(binary())
        .args(["config", "check", "--config"])
        .arg(&config)
        .env_clear()
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&config);
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && shown.contains("hookuser:****@"),
        "{shown}"
    );
    for (what, text) in [
        ("log", &log),
        ("delivery log", &deliveries),
        ("config check", &shown.to_string()),
    ] {
        assert!(
            !text.contains(HOOK_PASSWORD),
            "the password shows in the {what}: {text}"
        );
    }
}

#[test]
fn the_doctor_masks_values_it_does_not_know_to_be_harmless() {
    let env = std::env::temp_dir().join(format!("sockwave-doctor-{}.env", std::process::id()));
    std::fs::write(
        &env,
        "BROADCAST_DRIVER=pusher\nPUSHER_APP_ID=1\nPUSHER_APP_KEY=k\nPUSHER_APP_SECRET=s\n\
         DATABASE_URL=postgres://app:db-password-one@db/app\nDATABASE_URL=postgres://app:db-password-two@db/app\n\
         STRIPE_API_KEY=sk_live_first\nSTRIPE_API_KEY=sk_live_second\nBROADCAST_DRIVER=log\n",
    )
    .unwrap();
    let output = Command::new(binary())
        .args(["doctor", "--offline", "--env"])
        .arg(&env)
        .env_clear()
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("duplicate DATABASE_URL") && stdout.contains("duplicate STRIPE_API_KEY"),
        "{stdout}"
    );
    for secret in [
        "db-password-one",
        "db-password-two",
        "sk_live_first",
        "sk_live_second",
    ] {
        assert!(!stdout.contains(secret), "{secret} shows: {stdout}");
    }
    // Values known to be harmless still help.
    assert!(
        stdout.contains("(pusher)") && stdout.contains("(log)"),
        "{stdout}"
    );
}

/// A raw WebSocket after the upgrade and `connection_established`.
async fn upgraded(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /app/{KEY}?protocol=7&client=js&version=8.4.0 HTTP/1.1\r\nHost: sockwave\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&received).contains("connection_established") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed during the upgrade");
        received.extend_from_slice(&buf[..n]);
    }
    stream
}

/// A masked client frame.
fn frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut out = vec![first_byte, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Sends `bytes`; the close code the server answers with and how long until it closed TCP.
async fn close_after(addr: std::net::SocketAddr, bytes: &[u8]) -> (u16, Duration) {
    let mut stream = upgraded(addr).await;
    stream.write_all(bytes).await.unwrap();
    let sent = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Err(_) => panic!("the connection stayed open"),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
    let closed = sent.elapsed();
    let at = received
        .iter()
        .position(|b| *b == 0x88)
        .expect("a close frame");
    let code = u16::from_be_bytes([received[at + 2], received[at + 3]]);
    (code, closed)
}

#[tokio::test]
async fn a_protocol_error_closes_the_tcp_connection_at_once() {
    let server = Server::start(free_port(), "").await;
    let cases: [(&str, Vec<u8>, u16); 3] = [
        ("reserved bit", frame(0x80 | 0x40 | 0x1, b"{}"), 1002),
        (
            "invalid UTF-8 in a close reason",
            frame(0x88, &[0x03, 0xe8, 0xff, 0xfe]),
            1007,
        ),
        (
            "a close code a peer may not send",
            frame(0x88, &[0x03, 0xed]),
            1002,
        ),
    ];
    for (what, bytes, expected) in cases {
        let (code, closed) = close_after(server.addr, &bytes).await;
        eprintln!("{what}: close {code}, TCP closed after {closed:?}");
        assert_eq!(code, expected, "{what}");
        assert!(closed < Duration::from_millis(500), "{what}: {closed:?}");
    }
    // A clean close still gets its close frame back.
    let (code, _) = close_after(server.addr, &frame(0x88, &[0x03, 0xe8])).await;
    assert_eq!(code, 1000);
}
