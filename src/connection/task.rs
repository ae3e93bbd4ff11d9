//! The connection task: admission, the `connection_established` reply, the message loop and
//! the close handshake.

use std::future::poll_fn;
use std::sync::Arc;

use bytes::Bytes;
use tokio::time::{Duration, Instant};

use super::message_rate::MessageRate;
use super::pump::{Event, Pump};
use super::session::Session;
use super::ClientMeta;
use crate::app::App;
use crate::context::Context;
use crate::metrics::{AppMetrics, Limit};
use crate::outbox::clock;
use crate::outbox::deflate::Compression;
use crate::outbox::CloseRequest;
use crate::outbox::SocketHandle;
use crate::rate_limit::IpSlot;
use sockwave_protocol::websocket::{close_payload, Incoming, Opcode, PerMessageDeflate};
use sockwave_protocol::{messages, ErrorCode, ParseError};

/// How long a close (error frame, close frame, the client's close reply) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why the connection loop ended.
pub(super) enum Ending {
    /// The TCP connection went away.
    ClientGone,
    /// The client sent a close frame (with this code); the reply echoes it.
    ClientClosed(Option<u16>),
    /// The server closes with a Pusher code (a `pusher:error` frame goes first).
    Pusher(ErrorCode, String),
    /// The client broke the WebSocket protocol (1002, 1007) or sent a message over the limit
    /// (1009): the server closes with that code and drops the TCP connection at once, without
    /// waiting for a close reply a misbehaving client may never send (RFC 6455 §7.1.7).
    WebSocket(u16, String),
}

impl Ending {
    /// The Pusher code and message the client is told, for an ending the server decided.
    pub(super) fn pusher_close(self) -> Option<(ErrorCode, String)> {
        match self {
            Ending::Pusher(code, message) => Some((code, message)),
            _ => None,
        }
    }

    fn code(&self) -> Option<u16> {
        match self {
            Ending::ClientGone => None,
            Ending::ClientClosed(code) => *code,
            Ending::Pusher(code, _) => Some(code.as_u16()),
            Ending::WebSocket(code, _) => Some(*code),
        }
    }

    fn describe(&self) -> String {
        match self {
            Ending::ClientGone => "connection lost".to_string(),
            Ending::ClientClosed(code) => match code {
                Some(code) => format!("client closed ({code})"),
                None => "client closed".to_string(),
            },
            Ending::Pusher(code, message) => format!("{} {message}", code.as_u16()),
            Ending::WebSocket(code, message) => format!("{code} {message}"),
        }
    }
}

/// What the upgrade request decided, carried to the socket's task.
pub(super) struct Upgrade {
    pub(crate) ctx: Arc<Context>,
    /// The key the client asked for, looked up once the 101 is sent.
    pub(crate) app_key: String,
    pub(crate) meta: ClientMeta,
    /// The address's open-socket slot (per-IP limits), held for the socket's whole life.
    pub(crate) ip_slot: Option<IpSlot>,
    /// The `permessage-deflate` parameters the 101 reply agreed to, if any.
    pub(crate) deflate: Option<PerMessageDeflate>,
}

/// An admitted socket: everything its task keeps, in one allocation.
pub(super) struct Connection {
    ctx: Arc<Context>,
    pump: Pump,
    session: Session,
    socket: SocketHandle,
    _ip_slot: Option<IpSlot>,
}

/// A socket that is only told why it cannot be served.
pub(super) struct Refused {
    pump: Pump,
    socket: SocketHandle,
    ending: Ending,
}

/// Takes over the upgraded stream: admits the socket (the app `admission` found, the
/// connection limit), registers it and queues `connection_established`, or says why not.
/// `None` if hyper handed back a stream of an unexpected type. Synchronous on purpose:
/// nothing here lives across an `.await`, so none of it grows the socket's task.
#[allow(clippy::boxed_local)] // boxed by the caller to keep the spawned future small
pub(super) fn start(
    upgrade: Box<Upgrade>,
    admission: Result<Arc<App>, (ErrorCode, String)>,
    upgraded: hyper::upgrade::Upgraded,
) -> Option<Result<Box<Connection>, Box<Refused>>> {
    let Upgrade {
        ctx,
        app_key: _,
        meta,
        ip_slot,
        deflate,
    } = *upgrade;
    let pump = Pump::upgraded(upgraded, ctx.config.max_ws_message_bytes, deflate.is_some())?;
    let socket_id = ctx.socket_ids.next_id();
    let capacity = ctx.config.socket_queue_capacity;
    let compression =
        deflate.map(|agreed| Compression::new(agreed, ctx.config.ws_compression_min_bytes));
    let new_socket = |metrics| {
        SocketHandle::compressing(socket_id, capacity, pump.io.direct(), compression, metrics)
    };
    let app = match admission {
        Ok(app) => app,
        Err((code, message)) => {
            tracing::info!(code = code.as_u16(), reason = %message, client = shown(&meta.client), "connection refused");
            let socket = new_socket(Arc::new(AppMetrics::default()));
            let ending = Ending::Pusher(code, message);
            return Some(Err(Box::new(Refused {
                pump,
                socket,
                ending,
            })));
        }
    };
    let socket = new_socket(ctx.metrics.app(&app.id));
    match register(&ctx, app, &socket, &meta, "ws") {
        Ok(session) => Some(Ok(Box::new(Connection {
            ctx,
            pump,
            session,
            socket,
            _ip_slot: ip_slot,
        }))),
        Err(ending) => Some(Err(Box::new(Refused {
            pump,
            socket,
            ending,
        }))),
    }
}

/// Admits a session of pusher-js's HTTP transports (`transport`) like a socket: a
/// `SocketHandle` without a stream, whose queue the session's task empties.
pub(super) fn open_http(
    ctx: &Arc<Context>,
    app: Arc<App>,
    meta: &ClientMeta,
    transport: &'static str,
) -> Result<(Session, SocketHandle), Ending> {
    let metrics = ctx.metrics.app(&app.id);
    let capacity = ctx.config.socket_queue_capacity;
    let socket = SocketHandle::new(ctx.socket_ids.next_id(), capacity, None, metrics);
    let session = register(ctx, app, &socket, meta, transport)?;
    Ok((session, socket))
}

/// Registers an admitted socket within the app's connection limit, logs it and queues
/// `connection_established`; or says why it cannot be served.
fn register(
    ctx: &Arc<Context>,
    app: Arc<App>,
    socket: &SocketHandle,
    meta: &ClientMeta,
    transport: &'static str,
) -> Result<Session, Ending> {
    let socket_id = socket.id();
    let metrics = ctx.metrics.app(&app.id);
    let registry = ctx.registry.app(&app.id);
    // The limit counts the whole cluster: other nodes' sockets as of their last heartbeat.
    let remote = ctx.cluster.lock().remote_connections(&app.id);
    let local_limit = app.max_connections.map(|max| max.saturating_sub(remote));
    if !registry.try_add_socket(socket.clone(), local_limit) {
        let limit = app.max_connections.unwrap_or_default();
        let message = format!("app '{}' is over its connection limit of {limit}", app.id);
        metrics.rate_limited(Limit::Connections);
        tracing::warn!(app_id = %app.id, limit, transport = %transport, "connection refused: over quota");
        return Err(Ending::Pusher(ErrorCode::OverConnectionQuota, message));
    }
    // Shutdown asks every registered socket to close; one registered just after that walk
    // sees the token instead.
    if ctx.close_sockets.is_cancelled() {
        socket.request_close(CloseRequest::Shutdown);
    }
    tracing::info!(
        socket_id = %socket_id, app_id = %app.id, client = shown(&meta.client),
        version = shown(&meta.version), origin = shown(&meta.origin), transport = %transport,
        "connection opened"
    );
    ctx.console_tap
        .emit_client_supplied(&app.id, "connection_opened", || {
            serde_json::json!({
                "socket_id": socket_id.to_string(), "client": meta.client,
                "version": meta.version, "origin": meta.origin, "transport": transport,
            })
        });
    let session = Session::new(ctx.clone(), app, registry, socket.clone());
    metrics.connection_opened();
    let established = messages::connection_established(
        session.socket_id(),
        ctx.config.activity_timeout.as_secs(),
    );
    metrics.ws_sent(1, established.len());
    socket.release(vec![(Opcode::Text, Bytes::from(established))]);
    Ok(session)
}

/// Serves an admitted socket until it closes.
pub(super) async fn run(mut connection: Box<Connection>) {
    let Connection {
        ctx,
        pump,
        session,
        socket,
        ..
    } = &mut *connection;
    let ending = serve(ctx, pump, session, socket).await;
    connection.finish(&ending);
    // Boxed: the close's timers exist only while a socket closes, not in every idle task.
    Box::pin(close(&mut connection.pump, &connection.socket, ending)).await;
}

/// Tells a refused socket why, and closes it.
pub(super) async fn refuse(refused: Box<Refused>) {
    let Refused {
        mut pump,
        socket,
        ending,
    } = *refused;
    close(&mut pump, &socket, ending).await;
}

impl Connection {
    fn finish(&mut self, ending: &Ending) {
        finish(&self.ctx, &mut self.session, &self.socket, ending);
    }
}

/// Leaves every channel, unregisters the socket and logs why it closed.
pub(super) fn finish(ctx: &Context, session: &mut Session, socket: &SocketHandle, ending: &Ending) {
    session.leave_all();
    session.registry().remove_socket(socket.id());
    let metrics = session.metrics();
    if matches!(
        socket.requested_close(),
        Some(CloseRequest::SlowConsumer | CloseRequest::Stalled)
    ) {
        metrics.slow_consumer_closed();
    }
    metrics.connection_closed();
    let reason = ending.describe();
    let app_id = &session.app().id;
    tracing::info!(socket_id = %socket.id(), app_id = %app_id, reason = %reason, "connection closed");
    ctx.console_tap.emit(app_id, "connection_closed", || {
        serde_json::json!({"socket_id": socket.id().to_string(), "code": ending.code(), "reason": reason})
    });
}

/// The message loop: returns why it ended.
async fn serve(
    ctx: &Context,
    pump: &mut Pump,
    session: &mut Session,
    socket: &SocketHandle,
) -> Ending {
    let mut message_rate = MessageRate::new(
        ctx.config.max_ws_messages_per_second,
        ctx.config.ws_message_burst,
        Instant::now(),
    );
    loop {
        let (messages, invalid) = match poll_fn(|cx| pump.poll_event(cx, socket)).await {
            Event::CloseRequested(request) => return requested_ending(ctx, session, request),
            Event::Gone => return Ending::ClientGone,
            Event::Messages(messages) => (messages, None),
            Event::Invalid(messages, err) => (messages, Some(err)),
        };
        if !messages.is_empty() {
            socket.touch(clock::now_ms());
            // Frames that handling these messages sends to this socket (a subscription count,
            // say) wait until the replies are queued ahead of them.
            socket.hold();
            let mut replies = Vec::new();
            let ending = handle(ctx, session, &mut message_rate, messages, &mut replies);
            socket.release(replies);
            if let Some(ending) = ending {
                return ending;
            }
        }
        if let Some(err) = invalid {
            return Ending::WebSocket(err.close_code(), err.to_string());
        }
    }
}

/// Handles client messages in order, collecting the replies.
pub(super) fn handle(
    ctx: &Context,
    session: &mut Session,
    message_rate: &mut MessageRate,
    messages: Vec<Incoming>,
    replies: &mut Vec<(Opcode, Bytes)>,
) -> Option<Ending> {
    let now = Instant::now();
    let metrics = session.metrics();
    for message in messages {
        if !message_rate.allow(now) {
            return Some(Ending::Pusher(
                ErrorCode::OverCapacity,
                format!(
                    "message rate limit exceeded: at most {} messages per second (bursts of {}); reconnect and send less",
                    ctx.config.max_ws_messages_per_second, ctx.config.ws_message_burst
                ),
            ));
        }
        let texts = match message {
            Incoming::Text(text) => {
                metrics.ws_received(text.len());
                session.handle_text(&text)
            }
            Incoming::Binary(payload) => {
                metrics.ws_received(payload.len());
                vec![session.parse_error(&ParseError::Binary)]
            }
            Incoming::Ping(payload) => {
                replies.push((Opcode::Pong, Bytes::from(payload)));
                continue;
            }
            Incoming::Pong => continue,
            Incoming::Close(code) => return Some(Ending::ClientClosed(code)),
        };
        metrics.ws_sent(texts.len(), texts.iter().map(String::len).sum());
        replies.extend(
            texts
                .into_iter()
                .map(|text| (Opcode::Text, Bytes::from(text))),
        );
    }
    None
}

pub(super) fn requested_ending(ctx: &Context, session: &Session, request: CloseRequest) -> Ending {
    let (code, message) = match request {
        CloseRequest::SlowConsumer => (
            ErrorCode::OverCapacity,
            "slow consumer: the client did not read its messages fast enough".to_string(),
        ),
        CloseRequest::Stalled => (
            ErrorCode::OverCapacity,
            format!(
                "slow consumer: the client took none of its messages for {:?}",
                ctx.config.pong_timeout
            ),
        ),
        CloseRequest::Terminated => (
            ErrorCode::Unauthorized,
            "connection terminated by the app".to_string(),
        ),
        CloseRequest::Unauthorized => {
            let secs = session
                .app()
                .authorized_connections_timeout
                .unwrap_or_default()
                .as_secs();
            (
                ErrorCode::Unauthorized,
                format!("connection not authorized within {secs}s: sign in or subscribe to a private or presence channel"),
            )
        }
        CloseRequest::PongTimeout => (
            ErrorCode::PongNotReceived,
            "no pong received in time".to_string(),
        ),
        CloseRequest::Shutdown => (
            ErrorCode::Reconnect,
            "server is shutting down; reconnect".to_string(),
        ),
        CloseRequest::AppDisabled => (
            ErrorCode::AppDisabled,
            format!("app '{}' was disabled", session.app().id),
        ),
        CloseRequest::Resync => (
            ErrorCode::Reconnect,
            "this server missed messages of a channel with history (cluster engine outage): reconnect to resume".to_string(),
        ),
    };
    Ending::Pusher(code, message)
}

/// Sends the `pusher:error` frame (for Pusher codes) and the close frame. For a Pusher code
/// it then waits briefly for the client's close reply, so the code reaches pusher-js before
/// the TCP connection ends; after a protocol error it ends the connection at once.
async fn close(pump: &mut Pump, socket: &SocketHandle, ending: Ending) {
    let slow = matches!(
        socket.requested_close(),
        Some(CloseRequest::SlowConsumer | CloseRequest::Stalled)
    );
    let (last, await_reply) = match ending {
        Ending::ClientGone => return socket.seal(),
        Ending::ClientClosed(code) => {
            let payload = code.map(|code| close_payload(code, "")).unwrap_or_default();
            (vec![(Opcode::Close, Bytes::from(payload))], false)
        }
        Ending::Pusher(code, message) => {
            let error = messages::error(Some(code), &message, None);
            let payload = close_payload(code.as_u16(), &message);
            let frames = vec![
                (Opcode::Text, Bytes::from(error)),
                (Opcode::Close, Bytes::from(payload)),
            ];
            (frames, true)
        }
        Ending::WebSocket(code, message) => (
            vec![(Opcode::Close, Bytes::from(close_payload(code, &message)))],
            false,
        ),
    };
    // A slow consumer's unread frames are dropped so that its close code gets through.
    socket.seal_with(last, slow);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if poll_fn(|cx| socket.poll_flush(cx, &mut pump.io))
            .await
            .is_err()
        {
            return;
        }
        if await_reply {
            loop {
                match poll_fn(|cx| pump.poll_read(cx)).await {
                    Event::Messages(messages)
                        if !messages.iter().any(|m| matches!(m, Incoming::Close(_))) => {}
                    _ => break,
                }
            }
        }
        pump.io.shutdown().await;
    })
    .await;
}

/// An optional log field: tracing records the value when it is there and leaves the field
/// out when it is not (no `Some("js")` or `None` in the logs), printed bare (`client=js`)
/// like the other fields.
fn shown(value: &Option<String>) -> Option<tracing::field::DisplayValue<&str>> {
    value.as_deref().map(tracing::field::display)
}
