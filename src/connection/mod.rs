//! One socket's life: the WebSocket upgrade, the handshake reply, reading frames, writing the
//! outbound queue, heartbeats and the close.
//!
//! A single task owns the WebSocket and selects over: a close request (slow consumer or
//! app-initiated), server shutdown, the outbound queue, inbound frames and the heartbeat
//! timer. Other code reaches the socket only through its `SocketHandle`.

pub mod handshake;
pub mod message_rate;
pub mod session;
pub mod user_data;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONNECTION, RETRY_AFTER, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Duration, Instant};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::app::App;
use crate::context::Context;
use crate::metrics::{AppMetrics, Limit};
use crate::protocol::{messages, ErrorCode, ParseError};
use crate::rate_limit::IpRefusal;
use crate::registry::{Frame, SocketHandle};
pub use handshake::ClientMeta;
use message_rate::MessageRate;
use session::Session;

/// Most frames written before one flush, so a burst costs one syscall, not one per frame.
const MAX_FRAMES_PER_FLUSH: usize = 64;
/// How long a close (error frame, close frame, the client's close reply) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// The read buffer every socket allocates up front. tungstenite's default (128 KiB) made an
/// idle socket cost about 140 KB, and tungstenite zeroes the whole buffer before every read
/// attempt, so it also cost a third of the fan-out CPU (docs/performance.md, finding 1).
/// Clients send small frames; a larger message is read in several chunks and still bounded
/// by `max_ws_message_bytes`.
const READ_BUFFER_BYTES: usize = 512;
/// WebSocket close reasons are limited to 123 bytes.
const MAX_CLOSE_REASON: usize = 123;

/// Answers a WebSocket upgrade request on `/app/{key}` and spawns the connection task.
/// App and protocol problems are reported over the WebSocket (pusher-js only understands
/// them there); only a request that is not a WebSocket upgrade gets an HTTP error.
pub fn upgrade(
    ctx: Arc<Context>,
    mut request: Request<Incoming>,
    app_key: &str,
) -> Response<Full<Bytes>> {
    let headers = request.headers();
    let is_upgrade = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let version_ok = headers
        .get(SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let Some(client_key) = headers
        .get(SEC_WEBSOCKET_KEY)
        .filter(|_| is_upgrade && version_ok)
    else {
        return plain(
            StatusCode::UPGRADE_REQUIRED,
            "this path serves WebSocket connections (Pusher protocol 7); upgrade with Sec-WebSocket-Version 13",
        );
    };
    if ctx.is_draining() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "server is shutting down");
    }
    let peer = request.extensions().get::<Peer>().map(|peer| peer.0);
    let ip_slot = match peer.map(|peer| ctx.rate_limits.ip.try_admit(peer.ip())) {
        None => None,
        Some(Ok(slot)) => Some(slot),
        Some(Err(refusal)) => return ip_refused(&ctx, peer, refusal),
    };
    let accept = derive_accept_key(client_key.as_bytes());
    let origin = headers.get("origin").and_then(|v| v.to_str().ok());
    let meta = ClientMeta::parse(request.uri().query(), origin);
    let admission = admit(&ctx, app_key, &meta);
    let on_upgrade = hyper::upgrade::on(&mut request);
    let tasks = ctx.socket_tasks.clone();
    tasks.spawn(async move {
        // Holds the address's open-socket slot for the socket's whole life.
        let _ip_slot = ip_slot;
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws_config = WebSocketConfig::default()
                    .read_buffer_size(READ_BUFFER_BYTES)
                    .max_message_size(Some(ctx.config.max_ws_message_bytes))
                    .max_frame_size(Some(ctx.config.max_ws_message_bytes));
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(ws_config),
                )
                .await;
                run(ctx, ws, admission, meta).await;
            }
            Err(err) => tracing::debug!(error = %err, "websocket upgrade failed"),
        }
    });
    let mut response = Response::new(Full::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
    );
    response
}

/// The client's address, put into the request's extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// A per-IP limit refused the upgrade: 429 before any task is spawned, so a flood of
/// connections from one address costs as little as possible.
fn ip_refused(
    ctx: &Context,
    peer: Option<SocketAddr>,
    refusal: IpRefusal,
) -> Response<Full<Bytes>> {
    let (limit, text) = match refusal {
        IpRefusal::TooManyOpen { max } => (
            Limit::IpConnections,
            format!("too many open connections from this address (limit {max})"),
        ),
        IpRefusal::TooManyNew { max } => (
            Limit::IpNewConnections,
            format!("too many new connections from this address (limit {max} per second)"),
        ),
    };
    ctx.metrics.ip_limited(limit);
    tracing::debug!(peer = ?peer, reason = %text, "websocket upgrade refused");
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

/// Decides whether a connection may be served: known app key, enabled app, good protocol.
fn admit(ctx: &Context, app_key: &str, meta: &ClientMeta) -> Result<Arc<App>, (ErrorCode, String)> {
    meta.check_protocol()?;
    let app = ctx.apps.find_by_key(app_key).ok_or_else(|| {
        let shown: String = app_key.chars().take(64).collect();
        (
            ErrorCode::AppNotFound,
            format!("app key '{shown}' does not exist on this server: check the key in the client options"),
        )
    })?;
    if !app.enabled {
        return Err((
            ErrorCode::AppDisabled,
            format!("app '{}' is disabled", app.id),
        ));
    }
    Ok(app)
}

/// Why the connection loop ended.
enum Ending {
    /// The client closed the socket or the TCP connection went away.
    ClientGone,
    /// The server closes with a Pusher code (a `pusher:error` frame goes first).
    Pusher(ErrorCode, String),
    /// The server closes with a plain WebSocket code (e.g. 1009 message too big).
    WebSocket(CloseCode, String),
}

/// Serves one upgraded socket until it closes.
pub async fn run<S>(
    ctx: Arc<Context>,
    mut ws: WebSocketStream<S>,
    admission: Result<Arc<App>, (ErrorCode, String)>,
    meta: ClientMeta,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let app = match admission {
        Ok(app) => app,
        Err((code, message)) => {
            tracing::info!(code = code.as_u16(), reason = %message, client = ?meta.client, "connection refused");
            close(&mut ws, Ending::Pusher(code, message)).await;
            return;
        }
    };
    let socket_id = ctx.socket_ids.next_id();
    let (queue_tx, mut queue) = mpsc::channel(ctx.config.socket_queue_capacity);
    let socket = SocketHandle::new(socket_id, queue_tx);
    let registry = ctx.registry.app(&app.id);
    // The limit counts the whole cluster: other nodes' sockets as of their last heartbeat.
    let remote = ctx.cluster.lock().remote_connections(&app.id);
    let local_limit = app.max_connections.map(|max| max.saturating_sub(remote));
    if !registry.try_add_socket(socket.clone(), local_limit) {
        let limit = app.max_connections.unwrap_or_default();
        let message = format!("app '{}' is over its connection limit of {limit}", app.id);
        ctx.metrics.app(&app.id).rate_limited(Limit::Connections);
        tracing::warn!(app_id = %app.id, limit, "connection refused: over quota");
        close(
            &mut ws,
            Ending::Pusher(ErrorCode::OverConnectionQuota, message),
        )
        .await;
        return;
    }
    tracing::info!(
        socket_id = %socket_id, app_id = %app.id, client = ?meta.client, version = ?meta.version,
        origin = ?meta.origin, "connection opened"
    );
    ctx.console_tap.emit(&app.id, "connection_opened", || {
        serde_json::json!({
            "socket_id": socket_id.to_string(), "client": meta.client,
            "version": meta.version, "origin": meta.origin,
        })
    });
    let mut session = Session::new(ctx.clone(), app.clone(), registry.clone(), socket.clone());
    let metrics = session.metrics();
    metrics.connection_opened();
    let established = messages::connection_established(
        session.socket_id(),
        ctx.config.activity_timeout.as_secs(),
    );
    metrics.ws_sent(1, established.len());
    let ending = match ws.send(Message::text(established)).await {
        Ok(()) => serve(&ctx, &mut ws, &mut queue, &mut session, &socket).await,
        Err(_) => Ending::ClientGone,
    };
    session.leave_all();
    registry.remove_socket(socket_id);
    if socket.requested_close() == Some(ErrorCode::OverCapacity.as_u16()) {
        metrics.slow_consumer_closed();
    }
    metrics.connection_closed();
    let reason = match &ending {
        Ending::ClientGone => "client closed".to_string(),
        Ending::Pusher(code, message) => format!("{} {message}", code.as_u16()),
        Ending::WebSocket(code, message) => format!("{} {message}", u16::from(*code)),
    };
    tracing::info!(socket_id = %socket_id, app_id = %app.id, reason = %reason, "connection closed");
    ctx.console_tap.emit(&app.id, "connection_closed", || {
        let code = match &ending {
            Ending::ClientGone => None,
            Ending::Pusher(code, _) => Some(code.as_u16()),
            Ending::WebSocket(code, _) => Some(u16::from(*code)),
        };
        serde_json::json!({"socket_id": socket_id.to_string(), "code": code, "reason": reason})
    });
    close(&mut ws, ending).await;
}

/// The connection loop: returns why it ended.
async fn serve<S>(
    ctx: &Context,
    ws: &mut WebSocketStream<S>,
    queue: &mut mpsc::Receiver<Frame>,
    session: &mut Session,
    socket: &SocketHandle,
) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let activity_timeout = ctx.config.activity_timeout;
    let metrics = session.metrics();
    // A socket that does not take our bytes for as long as we wait for a pong is as dead as
    // one that does not answer a ping; without this, a client that stopped reading would
    // hold its task until enough publishes overflowed its queue.
    let write_timeout = ctx.config.pong_timeout;
    let mut last_seen = Instant::now();
    let mut message_rate = MessageRate::new(
        ctx.config.max_ws_messages_per_second,
        ctx.config.ws_message_burst,
        last_seen,
    );
    let mut awaiting_pong = false;
    let heartbeat = sleep_until(last_seen + activity_timeout);
    tokio::pin!(heartbeat);
    // "Authorized connections": checked once, when the app's timeout runs out.
    let authorization_timeout = session.app().authorized_connections_timeout;
    let mut authorization_pending = authorization_timeout.is_some();
    let authorization_deadline = sleep_until(last_seen + authorization_timeout.unwrap_or_default());
    tokio::pin!(authorization_deadline);
    // Created once and polled by reference: making them anew each iteration registered and
    // unregistered a waiter per delivery (~8 % of the instructions, docs/performance.md).
    let close_request = socket.close_requested();
    tokio::pin!(close_request);
    let shutdown = ctx.close_sockets.cancelled();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            code = &mut close_request => return requested_ending(code),
            () = &mut authorization_deadline, if authorization_pending => {
                if !session.is_authorized() {
                    let secs = authorization_timeout.unwrap_or_default().as_secs();
                    return Ending::Pusher(
                        ErrorCode::Unauthorized,
                        format!("connection not authorized within {secs}s: sign in or subscribe to a private or presence channel"),
                    );
                }
                authorization_pending = false;
            }
            () = &mut shutdown => {
                return Ending::Pusher(ErrorCode::Reconnect, "server is shutting down; reconnect".to_string());
            }
            Some(frame) = queue.recv() => {
                let written = tokio::select! {
                    result = write_batch(ws, frame, queue, &metrics) => result,
                    code = &mut close_request => return requested_ending(code),
                    () = tokio::time::sleep(write_timeout) => return stalled_ending(write_timeout),
                };
                if written.is_err() {
                    return Ending::ClientGone;
                }
            }
            message = ws.next() => {
                last_seen = Instant::now();
                awaiting_pong = false;
                if matches!(message, Some(Ok(_))) && !message_rate.allow(last_seen) {
                    return Ending::Pusher(
                        ErrorCode::OverCapacity,
                        format!(
                            "message rate limit exceeded: at most {} messages per second (bursts of {}); reconnect and send less",
                            ctx.config.max_ws_messages_per_second, ctx.config.ws_message_burst
                        ),
                    );
                }
                let replies = match message {
                    None => return Ending::ClientGone,
                    Some(Err(WsError::Capacity(err))) => {
                        let limit = ctx.config.max_ws_message_bytes;
                        return Ending::WebSocket(CloseCode::Size, format!("message too big ({err}); the limit is {limit} bytes"));
                    }
                    Some(Err(_)) => return Ending::ClientGone,
                    Some(Ok(Message::Text(text))) => {
                        metrics.ws_received(text.len());
                        session.handle_text(text.as_str())
                    }
                    Some(Ok(Message::Binary(data))) => {
                        metrics.ws_received(data.len());
                        vec![session.parse_error(&ParseError::Binary)]
                    }
                    // tungstenite queues the pong itself; flushing sends it now.
                    Some(Ok(Message::Ping(_))) => Vec::new(),
                    Some(Ok(Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) => return Ending::ClientGone,
                };
                match tokio::time::timeout(write_timeout, write_replies(ws, replies, &metrics)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Ending::ClientGone,
                    Err(_) => return stalled_ending(write_timeout),
                }
            }
            () = &mut heartbeat => {
                let now = Instant::now();
                if awaiting_pong {
                    return Ending::Pusher(ErrorCode::PongNotReceived, "no pong received in time".to_string());
                }
                if now < last_seen + activity_timeout {
                    heartbeat.as_mut().reset(last_seen + activity_timeout);
                    continue;
                }
                match tokio::time::timeout(write_timeout, ws.send(Message::text(messages::ping()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Ending::ClientGone,
                    Err(_) => return stalled_ending(write_timeout),
                }
                awaiting_pong = true;
                heartbeat.as_mut().reset(now + ctx.config.pong_timeout);
            }
        }
    }
}

fn stalled_ending(write_timeout: Duration) -> Ending {
    Ending::Pusher(
        ErrorCode::OverCapacity,
        format!("slow consumer: the client took none of its messages for {write_timeout:?}"),
    )
}

fn requested_ending(code: u16) -> Ending {
    if code == ErrorCode::OverCapacity.as_u16() {
        return Ending::Pusher(
            ErrorCode::OverCapacity,
            "slow consumer: the client did not read its messages fast enough".to_string(),
        );
    }
    // The only other close request is terminate_connections from the HTTP API.
    Ending::Pusher(
        ErrorCode::Unauthorized,
        "connection terminated by the app".to_string(),
    )
}

/// Writes `first` and whatever else is already queued, then flushes once.
async fn write_batch<S>(
    ws: &mut WebSocketStream<S>,
    first: Frame,
    queue: &mut mpsc::Receiver<Frame>,
    metrics: &AppMetrics,
) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut n_bytes = first.len();
    let mut n_frames = 1;
    ws.feed(Message::Text(first)).await?;
    for _ in 1..MAX_FRAMES_PER_FLUSH {
        match queue.try_recv() {
            Ok(frame) => {
                n_bytes += frame.len();
                n_frames += 1;
                ws.feed(Message::Text(frame)).await?;
            }
            Err(_) => break,
        }
    }
    metrics.ws_sent(n_frames, n_bytes);
    ws.flush().await
}

async fn write_replies<S>(
    ws: &mut WebSocketStream<S>,
    replies: Vec<String>,
    metrics: &AppMetrics,
) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    metrics.ws_sent(replies.len(), replies.iter().map(String::len).sum());
    for reply in replies {
        ws.feed(Message::text(reply)).await?;
    }
    ws.flush().await
}

/// Sends the `pusher:error` frame (for Pusher codes) and the close frame, then waits briefly
/// for the client's close reply so the code reaches it before the TCP connection ends.
async fn close<S>(ws: &mut WebSocketStream<S>, ending: Ending)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (code, reason) = match ending {
        Ending::ClientGone => return,
        Ending::Pusher(code, message) => {
            let error = messages::error(Some(code), &message, None);
            if tokio::time::timeout(CLOSE_TIMEOUT, ws.send(Message::text(error)))
                .await
                .is_err()
            {
                return;
            }
            (CloseCode::from(code.as_u16()), message)
        }
        Ending::WebSocket(code, message) => (code, message),
    };
    let frame = CloseFrame {
        code,
        reason: truncate(&reason, MAX_CLOSE_REASON).into(),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        ws.send(Message::Close(Some(frame))).await?;
        while let Some(Ok(_)) = ws.next().await {}
        Ok::<(), WsError>(())
    })
    .await;
}

fn truncate(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
