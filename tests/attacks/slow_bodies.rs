//! Finding 2: the body (up to 2 MiB) was read before the signature was checked, with no
//! deadline; 40 connections sending all but the last byte held ~94 MB for 60+ s with nothing
//! but a valid app id. The console's event creator did the same with 256 KiB and no app id.
//!
//! Bound: 40 such bodies hold less than 20 MB of server memory and every connection is
//! answered and closed within 20 s.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::{free_port, signed_query, Server, Setup, APP_ID};

const BODY_BYTES: usize = 2 * 1024 * 1024;
const N_CONNECTIONS: usize = 40;
const MEMORY_BOUND_KIB: u64 = 20 * 1024;
const CLOSE_BOUND: Duration = Duration::from_secs(20);

/// How the attacker sends the body after the head.
#[derive(Clone, Copy)]
enum Pace {
    /// Everything but the last byte at once, then nothing.
    AllButLast,
    /// 1 KiB every 200 ms from the start.
    Trickle,
}

/// What one connection saw: the status of the answer and when it came, and when the server
/// closed the connection (`None`: still open when the attacker gave up).
#[derive(Debug)]
struct Outcome {
    status: u16,
    retry_after: bool,
    answered: Option<Duration>,
    closed: Option<Duration>,
}

/// How long the attacker keeps a connection before giving up on it.
const GIVE_UP: Duration = Duration::from_secs(25);

/// Sends `head` and then `body` at `pace` while reading the answer; returns when the server
/// closes the connection.
async fn attack(addr: SocketAddr, head: String, body: Vec<u8>, pace: Pace) -> Outcome {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let sender = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        match pace {
            Pace::AllButLast => {
                writer.write_all(&body[..body.len() - 1]).await?;
                std::future::pending::<()>().await;
            }
            Pace::Trickle => {
                for chunk in body.chunks(1024) {
                    writer.write_all(chunk).await?;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        Ok::<_, std::io::Error>(())
    });
    let mut received = Vec::new();
    let mut answered = None;
    let mut buf = [0u8; 4096];
    let closed = loop {
        let left = GIVE_UP.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, reader.read(&mut buf)).await {
            Err(_) => break None,
            Ok(Ok(0)) | Ok(Err(_)) => break Some(started.elapsed()),
            Ok(Ok(n)) => {
                answered.get_or_insert(started.elapsed());
                received.extend_from_slice(&buf[..n]);
            }
        }
    };
    sender.abort();
    let text = String::from_utf8_lossy(&received);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Outcome {
        status,
        retry_after: text.to_ascii_lowercase().contains("\r\nretry-after: "),
        answered,
        closed,
    }
}

/// Runs `N_CONNECTIONS` attacks at once while sampling the server's memory; the outcomes and
/// the growth of its resident memory, in KiB.
async fn run_attacks(
    server: &Server,
    head: impl Fn() -> String,
    body: &[u8],
    pace: Pace,
) -> (Vec<Outcome>, u64) {
    let (baseline, _) = server.memory_kib();
    let watch = server.watch_rss();
    let attacks: Vec<_> = (0..N_CONNECTIONS)
        .map(|_| tokio::spawn(attack(server.addr, head(), body.to_vec(), pace)))
        .collect();
    let mut outcomes = Vec::new();
    for attack in attacks {
        outcomes.push(attack.await.expect("the attack ran"));
    }
    let growth = watch.peak_kib().await.saturating_sub(baseline);
    (outcomes, growth)
}

fn api_head(query: &str, length: usize) -> String {
    format!(
        "POST /apps/{APP_ID}/events?{query} HTTP/1.1\r\nHost: sockwave\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// A 2 MiB event body (its size is what matters, not that it is a valid event).
fn big_body() -> Vec<u8> {
    let data = "x".repeat(BODY_BYTES - 60);
    let body = format!(r#"{{"name":"e","channel":"c","data":"{data}"}}"#);
    body.into_bytes()
}

/// Prints what the attack cost the server, then checks the bounds.
fn report(what: &str, outcomes: &[Outcome], growth_kib: u64) {
    let slowest_answer = outcomes.iter().filter_map(|o| o.answered).max();
    let slowest_close = outcomes.iter().filter_map(|o| o.closed).max();
    let n_open = outcomes.iter().filter(|o| o.closed.is_none()).count();
    let mut statuses: Vec<u16> = outcomes.iter().map(|o| o.status).collect();
    statuses.sort_unstable();
    statuses.dedup();
    eprintln!(
        "{what}: {N_CONNECTIONS} connections, statuses {statuses:?}, slowest answer {slowest_answer:?}, slowest close {slowest_close:?}, {n_open} still open after {GIVE_UP:?}, server memory +{growth_kib} KiB"
    );
    assert!(growth_kib < MEMORY_BOUND_KIB, "{what}: +{growth_kib} KiB");
    assert_eq!(n_open, 0, "{what}: connections kept open");
    assert!(
        slowest_close.is_some_and(|c| c < CLOSE_BOUND),
        "{what}: {slowest_close:?}"
    );
}

/// Answered (with a status) within `limit`.
fn answered_within(outcome: &Outcome, limit: Duration) -> bool {
    outcome.answered.is_some_and(|at| at < limit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_bodies_are_refused_before_a_byte_is_read() {
    let server = Server::start(free_port(), "").await;
    let body = big_body();
    // A valid app id and key and a well-formed query, signed for another path: what anyone
    // can send without the secret.
    let head = || {
        let query = signed_query("POST", "/apps/another/events", &[], &body);
        api_head(&query, BODY_BYTES)
    };
    let (outcomes, growth) = run_attacks(&server, head, &body, Pace::AllButLast).await;
    report("unsigned, all but the last byte", &outcomes, growth);
    for outcome in &outcomes {
        assert_eq!(outcome.status, 401, "{outcome:?}");
        assert!(
            answered_within(outcome, Duration::from_secs(2)),
            "{outcome:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_bodies_held_back_are_cut_off_within_the_budget() {
    let server = Server::start(free_port(), "").await;
    let body = big_body();
    let query = signed_query("POST", &format!("/apps/{APP_ID}/events"), &[], &body);
    let head = || api_head(&query, BODY_BYTES);
    let (outcomes, growth) = run_attacks(&server, head, &body, Pace::AllButLast).await;
    report("signed, all but the last byte", &outcomes, growth);
    // The budget admits a few bodies; they time out (408). The rest are told to come back
    // (503 with Retry-After) before their body is read.
    let timed_out = outcomes.iter().filter(|o| o.status == 408).count();
    let turned_away: Vec<&Outcome> = outcomes.iter().filter(|o| o.status == 503).collect();
    assert!(timed_out >= 1, "{outcomes:?}");
    assert_eq!(timed_out + turned_away.len(), N_CONNECTIONS, "{outcomes:?}");
    assert!(
        !turned_away.is_empty()
            && turned_away
                .iter()
                .all(|o| o.retry_after && answered_within(o, Duration::from_secs(2))),
        "{outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_bodies_sent_below_the_minimum_rate_are_cut_off() {
    // A budget large enough for every connection, so the rate alone decides.
    let server = Server::start(free_port(), "request_body_budget_kb = 102400").await;
    let body = big_body();
    let query = signed_query("POST", &format!("/apps/{APP_ID}/events"), &[], &body);
    let head = || api_head(&query, BODY_BYTES);
    let (outcomes, growth) = run_attacks(&server, head, &body, Pace::Trickle).await;
    report("signed, 5 KiB/s", &outcomes, growth);
    for outcome in &outcomes {
        assert_eq!(outcome.status, 408, "{outcome:?}");
        // The rate applies after a 2 s grace: well before the 10 s whole-body deadline.
        assert!(
            answered_within(outcome, Duration::from_secs(6)),
            "{outcome:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_publish_bodies_need_the_token_first() {
    let setup = Setup {
        tables: "[console]\nenabled = true\ntoken = \"a-console-token-of-32-characters\"".into(),
        ..Setup::default()
    };
    let server = Server::launch(free_port(), setup).await;
    let body = vec![b'x'; 256 * 1024];
    let head = || {
        format!(
            "POST /console/publish?app_id={APP_ID} HTTP/1.1\r\nHost: sockwave\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            256 * 1024
        )
    };
    let (outcomes, growth) = run_attacks(&server, head, &body, Pace::AllButLast).await;
    report("console publish without a token", &outcomes, growth);
    for outcome in &outcomes {
        // 401, or 429 once this address has sent too many wrong tokens.
        assert!(matches!(outcome.status, 401 | 429), "{outcome:?}");
        assert!(
            answered_within(outcome, Duration::from_secs(2)),
            "{outcome:?}"
        );
    }
}
