//! Finding 1: a publish that reaches nobody looked for a near-identical channel by walking
//! every channel of the app, once per target, under the node-wide cluster view lock. With
//! ~60k channels held by anonymous sockets, a publish to 100 empty channels took 14 s and a
//! concurrent `GET /up` waited as long.
//!
//! `SOCKWAVE_ATTACK_CHANNELS` (default 20,000) sets how many channels the attacker holds.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::process::{env_or, free_port, get, signed, Server, APP_ID};
use crate::ws::Client;

/// Channels per socket: the server's per-socket limit.
const PER_SOCKET: usize = 1000;

/// One anonymous socket subscribed to `PER_SOCKET` public channels.
async fn hold_channels(addr: std::net::SocketAddr, socket_index: usize) -> Client {
    let mut client = Client::connect(addr).await;
    for n in 0..PER_SOCKET {
        let channel = format!("held-{socket_index}-{n}");
        client
            .feed(json!({"event": "pusher:subscribe", "data": {"channel": channel}}))
            .await;
    }
    client.flush().await;
    for _ in 0..PER_SOCKET {
        client
            .next_event("pusher_internal:subscription_succeeded")
            .await;
    }
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_to_empty_channels_does_not_scan_the_apps_channels() {
    let n_channels = env_or("SOCKWAVE_ATTACK_CHANNELS", 20_000) as usize;
    // The attack does not depend on the message rate; a high one just fills the server fast.
    let server = Server::start(
        free_port(),
        "max_ws_messages_per_second = 100000\nws_message_burst = 100000",
    )
    .await;
    let addr = server.addr;
    let holders: Vec<_> = (0..n_channels.div_ceil(PER_SOCKET))
        .map(|index| tokio::spawn(hold_channels(addr, index)))
        .collect();
    let mut sockets = Vec::new();
    for holder in holders {
        sockets.push(holder.await.expect("a holder subscribed"));
    }

    let channels: Vec<String> = (0..100).map(|n| format!("empty-{n}")).collect();
    let body = json!({"name": "stats.updated", "channels": channels, "data": "{}"}).to_string();
    let path = format!("/apps/{APP_ID}/events");
    let mut worst_publish = Duration::ZERO;
    let mut worst_up = Duration::ZERO;
    for _ in 0..3 {
        let started = Instant::now();
        let (publish, up) = tokio::join!(signed(addr, "POST", &path, &[], body.clone()), async {
            // Sent while the publish is being handled.
            tokio::time::sleep(Duration::from_millis(2)).await;
            let sent = Instant::now();
            let status = get(addr, "/up").await;
            (status, sent.elapsed())
        });
        assert_eq!(publish.0, 200, "{}", publish.1);
        assert_eq!(up.0, Some(200));
        worst_publish = worst_publish.max(started.elapsed());
        worst_up = worst_up.max(up.1);
    }
    eprintln!(
        "{n_channels} channels held by {} anonymous sockets: a publish to 100 empty channels took at most {worst_publish:?}, a concurrent GET /up {worst_up:?}",
        sockets.len()
    );
    // Milliseconds in a release build; the bound leaves room for a debug build on a busy
    // machine, and is far below the seconds the scan took.
    assert!(
        worst_publish < Duration::from_millis(500),
        "{worst_publish:?}"
    );
    assert!(worst_up < Duration::from_millis(500), "{worst_up:?}");
}
