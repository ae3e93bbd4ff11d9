//! A Pusher protocol 7 client speaking raw WebSocket frames: connect and wait for
//! `pusher:connection_established`, subscribe (with a channel-auth signature when asked), then
//! listen, answering `pusher:ping` and tallying what arrives.
//!
//! Frames are classified by scanning for a few fixed substrings instead of parsing JSON: the
//! bench reads up to hundreds of thousands of frames per second on cores it shares with the
//! server under test, and every cycle it spends is a cycle the server does not get. Event
//! payloads are plain strings (`t=<ns> s=<seq> …`), so the scan needs no JSON unescaping.
//! Each client keeps a 4 KiB read buffer (tungstenite's default is 128 KiB) so that 19,000
//! clients fit comfortably in the generator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{client_async_with_config, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::histogram::Histogram;
use crate::target::{Target, Transport};
use crate::xhr::XhrConn;

/// How long one protocol step (handshake, established, subscription) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a close handshake may take before the socket is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Marks a bench event's payload: `"data":"t=<publish time in ns> s=<sequence> <padding>"`.
const BENCH_DATA_PREFIX: &str = "\"data\":\"t=";

/// Nanoseconds since the Unix epoch: the machine's clock, which every process on it reads
/// alike, so a publisher in one process stamps events that subscribers in other processes
/// time (`listen`, `publish`). Runs last seconds to minutes, over which the clock is not
/// stepped on a machine keeping time.
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

/// A text frame, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A bench event stamped at `sent_ns` (see [`now_ns`]).
    BenchEvent {
        /// When the publisher sent it.
        sent_ns: u64,
    },
    /// `pusher:ping`: must be answered with `pusher:pong`.
    Ping,
    /// `pusher_internal:member_added`.
    MemberAdded,
    /// `pusher_internal:subscription_succeeded`.
    Subscribed,
    /// `pusher:error` or `pusher:subscription_error`.
    Error,
    /// Anything else (`pusher:pong`, `member_removed`, `subscription_count`, …).
    Other,
}

/// The value of `"event"` in a frame, without parsing the rest.
fn event_name(text: &str) -> Option<&str> {
    let start = text.find("\"event\":\"")? + "\"event\":\"".len();
    let rest = &text[start..];
    Some(&rest[..rest.find('"')?])
}

/// Classifies a text frame by scanning it.
pub(crate) fn classify(text: &str) -> Kind {
    if let Some(at) = text.find(BENCH_DATA_PREFIX) {
        let digits = &text[at + BENCH_DATA_PREFIX.len()..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        if let Ok(sent_ns) = digits[..end].parse() {
            return Kind::BenchEvent { sent_ns };
        }
    }
    match event_name(text) {
        Some("pusher:ping") => Kind::Ping,
        Some("pusher_internal:member_added") => Kind::MemberAdded,
        Some("pusher_internal:subscription_succeeded") => Kind::Subscribed,
        Some("pusher:error" | "pusher:subscription_error") => Kind::Error,
        _ => Kind::Other,
    }
}

/// The payload of a bench event: timestamp and sequence first, padded with `x` to `size` bytes.
pub(crate) fn bench_payload(sequence: u64, size: usize) -> String {
    let mut data = format!("t={} s={sequence} ", now_ns());
    let padding = size.saturating_sub(data.len());
    data.extend(std::iter::repeat('x').take(padding));
    data
}

/// What every listening client adds up; shared by all of a scenario's clients.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Publish-to-receive latency of bench events.
    pub(crate) latency: Histogram,
    /// `member_added` frames received.
    pub(crate) members_added: AtomicU64,
    /// `pusher:ping` frames answered.
    pub(crate) pings: AtomicU64,
    /// Clients whose connection ended before the scenario stopped them.
    pub(crate) disconnects: AtomicU64,
    /// When the last bench event arrived (ns, [`now_ns`] clock).
    pub(crate) last_delivery_ns: AtomicU64,
}

impl Tally {
    /// Bench events received so far.
    pub(crate) fn deliveries(&self) -> u64 {
        self.latency.count()
    }

    /// Counts one frame.
    fn count(&self, kind: Kind) {
        match kind {
            Kind::BenchEvent { sent_ns } => {
                let now = now_ns();
                self.latency
                    .record(Duration::from_nanos(now.saturating_sub(sent_ns)));
                self.last_delivery_ns.fetch_max(now, Ordering::Relaxed);
            }
            Kind::MemberAdded => {
                self.members_added.fetch_add(1, Ordering::Relaxed);
            }
            Kind::Ping | Kind::Subscribed | Kind::Error | Kind::Other => {}
        }
    }
}

/// What a resuming subscribe got (see `subscribe_resuming`).
pub(crate) struct Resumed {
    /// Seqs of the events replayed before the notice, in arrival order.
    pub(crate) replayed: Vec<u64>,
    /// The notice's position (`{epoch}:{seq}`).
    pub(crate) position: String,
    /// The notice was `resume_failed`.
    pub(crate) failed: bool,
}

/// One connected Pusher client.
pub(crate) struct PusherClient {
    conn: Conn,
    socket_id: String,
}

/// The transport under a client.
enum Conn {
    Ws(Box<WebSocketStream<TcpStream>>),
    Xhr(Box<XhrConn>),
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
}

impl PusherClient {
    /// Opens a WebSocket from the next source address and waits for the socket id.
    pub(crate) async fn connect(target: &Target) -> anyhow::Result<PusherClient> {
        tokio::time::timeout(STEP_TIMEOUT, Self::connect_inner(target))
            .await
            .context("timed out connecting")?
    }

    async fn connect_inner(target: &Target) -> anyhow::Result<PusherClient> {
        let conn = match target.transport {
            Transport::Ws => {
                let stream = target
                    .connect_tcp(target.ws_addr)
                    .await
                    .context("tcp connect")?;
                let (ws, _response) =
                    client_async_with_config(target.ws_url.as_str(), stream, Some(ws_config()))
                        .await
                        .context("websocket handshake")?;
                Conn::Ws(Box::new(ws))
            }
            Transport::XhrStreaming => Conn::Xhr(Box::new(XhrConn::open(target).await?)),
        };
        let mut client = PusherClient {
            conn,
            socket_id: String::new(),
        };
        loop {
            let text = client
                .next_text()
                .await?
                .context("closed before established")?;
            match event_name(&text) {
                Some("pusher:connection_established") => {
                    client.socket_id = socket_id_of(&text)?;
                    return Ok(client);
                }
                Some("pusher:error") => bail!("refused: {text}"),
                _ => {}
            }
        }
    }

    /// The socket id the server assigned.
    pub(crate) fn socket_id(&self) -> &str {
        &self.socket_id
    }

    /// Subscribes and waits for `subscription_succeeded`. `auth` and `channel_data` are sent
    /// when given (private and presence channels). Frames that arrive meanwhile are tallied.
    pub(crate) async fn subscribe(
        &mut self,
        channel: &str,
        auth: Option<&str>,
        channel_data: Option<&str>,
        tally: &Tally,
    ) -> anyhow::Result<()> {
        let mut data = json!({ "channel": channel });
        if let Some(auth) = auth {
            data["auth"] = json!(auth);
        }
        if let Some(channel_data) = channel_data {
            data["channel_data"] = json!(channel_data);
        }
        let frame = json!({ "event": "pusher:subscribe", "data": data }).to_string();
        tokio::time::timeout(STEP_TIMEOUT, async {
            self.send_text(frame).await?;
            loop {
                let text = self
                    .next_text()
                    .await?
                    .context("closed while subscribing")?;
                match classify(&text) {
                    Kind::Subscribed => return Ok(()),
                    Kind::Error => bail!("subscription to {channel} refused: {text}"),
                    kind => tally.count(kind),
                }
            }
        })
        .await
        .with_context(|| format!("timed out subscribing to {channel}"))?
    }

    /// Subscribes as sockwave's recovery add-on does (`resume_after`, empty for a first
    /// subscribe) and reads until the resume notice; returns the seqs of the events replayed
    /// before it and the notice's position and event.
    pub(crate) async fn subscribe_resuming(
        &mut self,
        channel: &str,
        resume_after: &str,
    ) -> anyhow::Result<Resumed> {
        let data = json!({ "channel": channel, "resume_after": resume_after });
        let frame = json!({ "event": "pusher:subscribe", "data": data }).to_string();
        tokio::time::timeout(STEP_TIMEOUT, async {
            self.send_text(frame).await?;
            let mut replayed = Vec::new();
            loop {
                let text = self.next_text().await?.context("closed while resuming")?;
                let value: Value = serde_json::from_str(&text).context("a frame is not JSON")?;
                let position = value["position"].as_str().unwrap_or_default().to_string();
                match value["event"].as_str() {
                    Some(event @ ("pusher_internal:resumed" | "pusher_internal:resume_failed")) => {
                        return Ok(Resumed {
                            replayed,
                            position,
                            failed: event.ends_with("failed"),
                        });
                    }
                    Some("pusher:error" | "pusher:subscription_error") => {
                        bail!("subscription to {channel} refused: {text}")
                    }
                    _ if value["channel"] == channel && !position.is_empty() => {
                        let seq = position.rsplit(':').next().unwrap_or("").parse::<u64>();
                        replayed.push(seq.context("a malformed position")?);
                    }
                    _ => {}
                }
            }
        })
        .await
        .with_context(|| format!("timed out resuming {channel}"))?
    }

    /// Reads frames until `stop` is cancelled (then closes politely) or the server ends the
    /// connection (counted as a disconnect). Pings are answered, bench events timed.
    pub(crate) async fn listen(mut self, tally: &Tally, stop: CancellationToken) {
        loop {
            let text = tokio::select! {
                () = stop.cancelled() => break,
                text = self.next_text() => text,
            };
            let Ok(Some(text)) = text else {
                tally.disconnects.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let kind = classify(&text);
            if kind == Kind::Ping {
                tally.pings.fetch_add(1, Ordering::Relaxed);
                let pong = r#"{"event":"pusher:pong","data":{}}"#;
                if self.send_text(pong.to_string()).await.is_err() {
                    tally.disconnects.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            tally.count(kind);
        }
        self.close().await;
    }

    /// Sends a close frame and waits briefly for the server's reply, as browsers do.
    pub(crate) async fn close(self) {
        // An HTTP session ends when its stream is dropped (the server notices at once).
        let Conn::Ws(mut ws) = self.conn else {
            return;
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            let _ = WebSocketStream::close(&mut ws, None).await;
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }

    async fn send_text(&mut self, text: String) -> anyhow::Result<()> {
        match &mut self.conn {
            Conn::Ws(ws) => Ok(ws.send(Message::text(text)).await?),
            Conn::Xhr(xhr) => xhr.send(&text).await,
        }
    }

    /// The next text frame; `None` once the connection is closed.
    async fn next_text(&mut self) -> anyhow::Result<Option<Utf8Bytes>> {
        let ws = match &mut self.conn {
            Conn::Ws(ws) => ws,
            Conn::Xhr(xhr) => return Ok(xhr.next_text().await?.map(Utf8Bytes::from)),
        };
        while let Some(message) = ws.next().await {
            match message? {
                Message::Text(text) => return Ok(Some(text)),
                Message::Close(_) => return Ok(None),
                // tungstenite answers WebSocket pings itself.
                Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
        Ok(None)
    }
}

/// The socket id inside `pusher:connection_established`, whose `data` is a JSON string.
fn socket_id_of(text: &str) -> anyhow::Result<String> {
    let frame: Value = serde_json::from_str(text).context("connection_established is not JSON")?;
    let data = match &frame["data"] {
        Value::String(inner) => serde_json::from_str(inner).context("data is not JSON")?,
        other => other.clone(),
    };
    data["socket_id"]
        .as_str()
        .map(str::to_owned)
        .context("connection_established without socket_id")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Kind) {
        assert_eq!(classify(text), expected, "{text}");
    }

    #[test]
    fn classifies_frames_of_any_key_order() {
        check(
            r#"{"event":"e","channel":"c","data":"t=123 s=4 xx"}"#,
            Kind::BenchEvent { sent_ns: 123 },
        );
        check(
            r#"{"channel":"c","data":"t=9 s=1","event":"e"}"#,
            Kind::BenchEvent { sent_ns: 9 },
        );
        check(r#"{"event":"pusher:ping","data":{}}"#, Kind::Ping);
        check(
            r#"{"event":"pusher_internal:member_added","channel":"presence-a","data":"{}"}"#,
            Kind::MemberAdded,
        );
        check(
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"a","data":"{}"}"#,
            Kind::Subscribed,
        );
        check(
            r#"{"event":"pusher:subscription_error","data":{}}"#,
            Kind::Error,
        );
        check(r#"{"event":"other","data":"t=x"}"#, Kind::Other);
    }

    #[test]
    fn payloads_have_the_requested_size_and_parse_back() {
        let data = bench_payload(7, 100);
        assert_eq!(data.len(), 100);
        let frame = json!({"event": "e", "channel": "c", "data": data}).to_string();
        assert!(matches!(classify(&frame), Kind::BenchEvent { .. }));
    }

    #[test]
    fn socket_id_from_established() {
        let text = r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}"#;
        assert_eq!(socket_id_of(text).unwrap(), "1.2");
    }
}
