//! Reconnect storm: N pusher-js-like clients, spread over source addresses 127.0.0.2–250,
//! each subscribed to a public, private or presence channel. The server is restarted
//! (SIGTERM, then a new process on the same port); every client reconnects after a random
//! delay and subscribes again. Measured: time until all are resubscribed, reconnect
//! attempts refused while no server listened, and the new server's peak memory.
//!
//! `SOCKWAVE_STORM_CLIENTS` (default 300) and `SOCKWAVE_STORM_JITTER_MS` (default 1000)
//! scale it; the full run is 15,000 clients with 2,000 ms of jitter.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sockwave_protocol::auth::signature::sign;
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::process::{env_or, free_port, Server, KEY, SECRET};

/// Shared by the driver and every client.
struct Shared {
    /// 1 while the first server runs, 2 once its replacement is up.
    epoch: AtomicUsize,
    /// Clients subscribed at least once during each epoch.
    subscribed: [AtomicUsize; 3],
    /// Connection attempts that failed (nobody listening, refused upgrade, handshake error).
    failed_attempts: AtomicU64,
    /// Close frames with 4200 received.
    closes_4200: AtomicU64,
    stop: CancellationToken,
}

enum Outcome {
    /// The server closed with this code.
    Closed(u16),
    /// The connection could not be made or broke without a close frame.
    Failed,
    Stopped,
}

/// xorshift64: per-client jitter without a shared lock.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_storm_resubscribes_everyone() {
    let n_clients = env_or("SOCKWAVE_STORM_CLIENTS", 300) as usize;
    let jitter = Duration::from_millis(env_or("SOCKWAVE_STORM_JITTER_MS", 1000));
    let bound = Duration::from_secs(env_or("SOCKWAVE_STORM_BOUND_SECS", 60));
    let port = free_port();
    let server = Server::start(port, "").await;
    let addr = server.addr;
    let shared = Arc::new(Shared {
        epoch: AtomicUsize::new(1),
        subscribed: Default::default(),
        failed_attempts: AtomicU64::new(0),
        closes_4200: AtomicU64::new(0),
        stop: CancellationToken::new(),
    });

    // Connect everybody, a few hundred handshakes at a time, as page loads would.
    let started = Instant::now();
    let admission = Arc::new(Semaphore::new(256));
    let mut tasks = Vec::with_capacity(n_clients);
    for index in 0..n_clients {
        tasks.push(tokio::spawn(client(
            index,
            addr,
            shared.clone(),
            jitter,
            admission.clone(),
        )));
    }
    wait_for(&shared, 1, n_clients, bound).await;
    let connect_time = started.elapsed();
    let (steady_rss, steady_peak) = server.memory_kib();

    // The restart: SIGTERM (every socket gets 4200), then a new process on the same port.
    let terminated = Instant::now();
    server.terminate().await;
    let down_for = terminated.elapsed();
    // Bumped while nothing listens, so every subscription counted for epoch 2 is on the
    // new server.
    shared.epoch.store(2, Ordering::Release);
    let server = Server::start(port, "").await;
    let restarted = Instant::now();
    wait_for(&shared, 2, n_clients, bound).await;
    let after_sigterm = terminated.elapsed();
    let after_restart = restarted.elapsed();
    let (rss, peak) = server.memory_kib();

    eprintln!(
        "storm: {n_clients} clients, jitter 0-{jitter:?}: first connect {connect_time:.2?}; \
         steady RSS {} MiB (peak {} MiB); restart took {down_for:.2?}; all resubscribed \
         {after_sigterm:.2?} after SIGTERM, {after_restart:.2?} after the new server was up; \
         {} closes with 4200, {} failed attempts; new server RSS {} MiB, peak {} MiB",
        steady_rss / 1024,
        steady_peak / 1024,
        shared.closes_4200.load(Ordering::Relaxed),
        shared.failed_attempts.load(Ordering::Relaxed),
        rss / 1024,
        peak / 1024,
    );
    assert!(
        shared.closes_4200.load(Ordering::Relaxed) as usize >= n_clients * 9 / 10,
        "most clients must hear 4200 from the shutdown"
    );
    shared.stop.cancel();
    for task in tasks {
        let _ = task.await;
    }
    drop(server);
}

async fn wait_for(shared: &Shared, epoch: usize, n_clients: usize, bound: Duration) {
    let started = Instant::now();
    loop {
        let done = shared.subscribed[epoch].load(Ordering::Acquire);
        if done >= n_clients {
            return;
        }
        assert!(
            started.elapsed() < bound,
            "only {done} of {n_clients} clients subscribed within {bound:?} (epoch {epoch})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One client for the whole test: connect, subscribe, stay; after a close or a failure,
/// wait a random delay and do it again, as pusher-js does.
async fn client(
    index: usize,
    addr: SocketAddr,
    shared: Arc<Shared>,
    jitter: Duration,
    admission: Arc<Semaphore>,
) {
    let source = Ipv4Addr::new(127, 0, 0, 2 + (index % 249) as u8);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1));
    let mut last_epoch = 0;
    let mut first = true;
    loop {
        let permit = if first {
            Some(
                admission
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore open"),
            )
        } else {
            None
        };
        let outcome = session(index, addr, source, &shared, &mut last_epoch, permit).await;
        first = false;
        let delay = match outcome {
            Outcome::Stopped => return,
            Outcome::Closed(4200) => {
                shared.closes_4200.fetch_add(1, Ordering::Relaxed);
                Duration::from_millis(rng.below(jitter.as_millis() as u64 + 1))
            }
            Outcome::Closed(_) | Outcome::Failed => {
                shared.failed_attempts.fetch_add(1, Ordering::Relaxed);
                // pusher-js waits about a second before trying an unreachable host again.
                Duration::from_millis(500 + rng.below(jitter.as_millis() as u64 + 1))
            }
        };
        tokio::select! {
            _ = shared.stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn session(
    index: usize,
    addr: SocketAddr,
    source: Ipv4Addr,
    shared: &Shared,
    last_epoch: &mut usize,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Outcome {
    let connect = async {
        let socket = TcpSocket::new_v4().ok()?;
        socket.bind(SocketAddrV4::new(source, 0).into()).ok()?;
        let stream = socket.connect(addr).await.ok()?;
        let url = format!("ws://{addr}/app/{KEY}?protocol=7&client=js&version=8.4.0&flash=false");
        let (ws, _) = tokio_tungstenite::client_async(url, stream).await.ok()?;
        Some(ws)
    };
    let ws = tokio::select! {
        _ = shared.stop.cancelled() => return Outcome::Stopped,
        ws = tokio::time::timeout(Duration::from_secs(20), connect) => ws,
    };
    let Ok(Some(mut ws)) = ws else {
        return Outcome::Failed;
    };
    let mut permit = permit;
    loop {
        let message = tokio::select! {
            _ = shared.stop.cancelled() => return Outcome::Stopped,
            message = ws.next() => message,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                return Outcome::Closed(frame.map_or(1005, |f| u16::from(f.code)));
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Outcome::Failed,
        };
        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        match frame["event"].as_str().unwrap_or("") {
            "pusher:connection_established" => {
                let data: Value = serde_json::from_str(frame["data"].as_str().unwrap_or("{}"))
                    .unwrap_or_default();
                let socket_id = data["socket_id"].as_str().unwrap_or("").to_string();
                let subscribe = subscribe_frame(index, &socket_id);
                if ws.send(Message::text(subscribe.to_string())).await.is_err() {
                    return Outcome::Failed;
                }
            }
            "pusher_internal:subscription_succeeded" => {
                permit.take();
                let epoch = shared.epoch.load(Ordering::Acquire);
                if epoch > *last_epoch {
                    *last_epoch = epoch;
                    shared.subscribed[epoch].fetch_add(1, Ordering::AcqRel);
                }
            }
            "pusher:ping" => {
                let pong = json!({"event": "pusher:pong", "data": {}}).to_string();
                let _ = ws.send(Message::text(pong)).await;
            }
            _ => {}
        }
    }
}

/// A third each of public, private and presence channels, 50 channels of each kind.
fn subscribe_frame(index: usize, socket_id: &str) -> Value {
    let room = index % 50;
    match index % 3 {
        0 => json!({"event": "pusher:subscribe", "data": {"channel": format!("storm-{room}")}}),
        1 => {
            let channel = format!("private-storm-{room}");
            let signature = sign(SECRET, format!("{socket_id}:{channel}").as_bytes());
            json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": format!("{KEY}:{signature}")}})
        }
        _ => {
            let channel = format!("presence-storm-{room}");
            let data = json!({"user_id": format!("user-{index}")}).to_string();
            let signature = sign(SECRET, format!("{socket_id}:{channel}:{data}").as_bytes());
            json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": format!("{KEY}:{signature}"), "channel_data": data}})
        }
    }
}
