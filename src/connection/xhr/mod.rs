//! pusher-js's HTTP fallback transports, `xhr_streaming` and `xhr_polling`, for clients
//! whose network breaks WebSocket upgrades.
//!
//! A session (named by the client: `{key}/{server}/{session}`) is a socket like a WebSocket
//! — same protocol, limits, metrics, webhooks and cluster — whose bytes travel over plain
//! HTTP requests on the WebSocket port: receive requests (a stream, or long polls) carry
//! lines from the server, send requests carry the client's messages. `path` recognises the
//! URLs, `framing` writes and reads the lines, `session` runs each session's task.

mod framing;
pub(crate) mod path;
mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, ORIGIN, RETRY_AFTER, VARY};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot};

use self::path::{Kind, Target};
use self::session::Input;
use super::ClientMeta;
use crate::context::Context;
use crate::http::body::{self, BodyLimits};
use crate::http::Peer;
use crate::rate_limit::IpRefusal;

/// A response body: whole, or streamed line by line (the same type as the console's).
pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// Requests one session's task has waiting (sends, and a receive replacing another);
/// further requests wait for room, up to `INBOX_WAIT`.
const INBOX: usize = 8;
/// How long a request waits for room in its session's inbox before it is refused (429):
/// pusher-js ignores the answer to a send, so a refusal loses a message.
const INBOX_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// Lines a receive response holds before the session stops moving frames into it (each at
/// most 64 KiB, unless one frame is larger).
const RESPONSE_LINES: usize = 2;

/// The open sessions of one server.
#[derive(Default)]
pub(crate) struct Sessions {
    open: Mutex<HashMap<String, mpsc::Sender<Input>>>,
}

impl Sessions {
    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<Input>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Takes a session out of the table when its task ends, however it ends.
struct Entry {
    sessions: Arc<Sessions>,
    id: String,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.sessions.remove(&self.id);
    }
}

/// Serves a request whose path looks like an HTTP transport URL (`path::looks_like_transport`).
pub(crate) async fn route(
    ctx: Arc<Context>,
    sessions: Arc<Sessions>,
    request: Request<Incoming>,
    path: &str,
) -> Response<Body> {
    if !ctx.config.http_transports {
        let message = "pusher-js's HTTP fallback transports are turned off on this server \
                       (server.http_transports = false): clients must use WebSocket";
        return error(StatusCode::NOT_FOUND, message, None);
    }
    match path::parse(path) {
        Some(target) => handle(ctx, sessions, request, target).await,
        None => error(
            StatusCode::NOT_FOUND,
            "malformed HTTP transport URL: expected [/pusher]/app/{key}/{server}/{session}/xhr_streaming, /xhr or /xhr_send",
            None,
        ),
    }
}

/// Serves one transport request.
async fn handle(
    ctx: Arc<Context>,
    sessions: Arc<Sessions>,
    request: Request<Incoming>,
    target: Target<'_>,
) -> Response<Body> {
    let origin = request
        .headers()
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let allow_origin = match cors_origin(&ctx, origin.as_deref()) {
        Ok(allowed) => allowed,
        Err(origin) => {
            let message = format!(
                "origin '{origin}' may not use the HTTP transports: add it to http_transport_origins"
            );
            return error(StatusCode::FORBIDDEN, &message, None);
        }
    };
    let mut response = match *request.method() {
        Method::POST => match target.kind {
            Kind::Streaming | Kind::Polling => {
                receive(&ctx, &sessions, &request, &target, origin).await
            }
            Kind::Send => send(&ctx, &sessions, request, &target).await,
        },
        Method::OPTIONS => preflight(),
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "pusher-js's HTTP transports use POST",
            None,
        ),
    };
    let headers = response.headers_mut();
    if let Some(allowed) = allow_origin {
        headers.insert("access-control-allow-origin", allowed);
        headers.insert(VARY, HeaderValue::from_static("Origin"));
    }
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache, must-revalidate, max-age=0"),
    );
    response
}

/// The `Access-Control-Allow-Origin` value for `origin`: `None` for a request without an
/// `Origin` (same-origin or not a browser), `Err` for an origin that is not allowed.
fn cors_origin(ctx: &Context, origin: Option<&str>) -> Result<Option<HeaderValue>, String> {
    let Some(origin) = origin else {
        return Ok(None);
    };
    let allowed = &ctx.config.http_transport_origins;
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return Ok(HeaderValue::from_str(origin).ok());
    }
    Err(origin.chars().take(100).collect())
}

/// pusher-js's requests carry `Content-Type: application/json`, so a browser asks first when
/// the page is on another origin (and again for every URL, which are all unique).
fn preflight() -> Response<Body> {
    let mut response = Response::new(Full::default().boxed());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("POST, OPTIONS"),
    );
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("Content-Type"),
    );
    headers.insert("access-control-max-age", HeaderValue::from_static("600"));
    response
}

/// A receive request: a new session's first, or the next one of an open session. The
/// response streams the lines the session's task puts into it.
async fn receive(
    ctx: &Arc<Context>,
    sessions: &Arc<Sessions>,
    request: &Request<Incoming>,
    target: &Target<'_>,
    origin: Option<String>,
) -> Response<Body> {
    let id = format!("{}/{}", target.app_key, target.session);
    let (lines_tx, lines_rx) = mpsc::channel(RESPONSE_LINES);
    let input = Input::Receive {
        kind: target.kind,
        lines: lines_tx,
    };
    let inbox = match session_inbox(ctx, sessions, request, target, origin, id) {
        Ok(inbox) => inbox,
        Err(response) => return *response,
    };
    if let Err(response) = hand_over(&inbox, input).await {
        return *response;
    }
    let chunks = futures_util::stream::unfold(lines_rx, |mut lines| async move {
        let line = lines.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(Frame::data(line)), lines))
    });
    let mut response = Response::new(StreamBody::new(chunks).boxed());
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/javascript; charset=UTF-8"),
    );
    // nginx would otherwise hold the stream back until its buffer fills.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The inbox of session `id`, started now if it is new (admission happens in its task).
fn session_inbox(
    ctx: &Arc<Context>,
    sessions: &Arc<Sessions>,
    request: &Request<Incoming>,
    target: &Target<'_>,
    origin: Option<String>,
    id: String,
) -> Result<mpsc::Sender<Input>, Box<Response<Body>>> {
    let mut open = sessions.lock();
    let inbox = match open.get(&id) {
        Some(inbox) => inbox.clone(),
        None => {
            if ctx.is_draining() {
                return Err(Box::new(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server is shutting down",
                    Some("1"),
                )));
            }
            let peer = request.extensions().get::<Peer>().map(|peer| peer.0);
            let ip_slot = match peer.map(|peer| ctx.rate_limits.ip.try_admit(peer.ip())) {
                None => None,
                Some(Ok(slot)) => Some(slot),
                Some(Err(refusal)) => return Err(Box::new(ip_refused(ctx, refusal))),
            };
            let (inbox, inbox_rx) = mpsc::channel(INBOX);
            open.insert(id.clone(), inbox.clone());
            let meta = ClientMeta::parse(request.uri().query(), origin.as_deref());
            let start = Start {
                ctx: ctx.clone(),
                sessions: sessions.clone(),
                id,
                app_key: target.app_key.to_string(),
                transport: target.kind.transport(),
                meta,
                ip_slot,
            };
            ctx.socket_tasks.spawn(start.run(inbox_rx));
            inbox
        }
    };
    Ok(inbox)
}

/// What a new session's task needs before it is admitted.
struct Start {
    ctx: Arc<Context>,
    sessions: Arc<Sessions>,
    id: String,
    app_key: String,
    transport: &'static str,
    meta: ClientMeta,
    ip_slot: Option<crate::rate_limit::IpSlot>,
}

impl Start {
    async fn run(self, inbox: mpsc::Receiver<Input>) {
        let Start {
            ctx,
            sessions,
            id,
            app_key,
            transport,
            meta,
            ip_slot,
        } = self;
        let admitted = match super::admit(&ctx, &app_key, &meta).await {
            Ok(app) => super::task::open_http(&ctx, app, &meta, transport),
            Err((code, message)) => {
                tracing::info!(code = code.as_u16(), reason = %message, transport = %transport, "connection refused");
                Err(super::task::Ending::Pusher(code, message))
            }
        };
        let _entry = Entry { sessions, id };
        session::run(ctx, admitted, inbox).await;
        drop(ip_slot);
    }
}

/// A send request: the client's messages, handed to its session's task.
async fn send(
    ctx: &Context,
    sessions: &Sessions,
    request: Request<Incoming>,
    target: &Target<'_>,
) -> Response<Body> {
    let id = format!("{}/{}", target.app_key, target.session);
    let Some(inbox) = sessions.lock().get(&id).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "no such session: it ended or never started (open one with xhr_streaming or xhr)",
            None,
        );
    };
    let declared = body::declared_length(request.headers());
    // One message per request from pusher-js, JSON-encoded once more inside the array.
    let limits = BodyLimits {
        max_bytes: ctx.config.max_ws_message_bytes * 2 + 64,
        timeout: ctx.config.request_body_timeout,
    };
    let bytes = match body::read(request.into_body(), declared, &limits, &ctx.body_budget).await {
        Ok(bytes) => bytes,
        Err(err) => return error(err.status(), &err.to_string(), None),
    };
    let messages = match framing::parse_send(&bytes) {
        Ok(messages) => messages,
        Err(reason) => return error(StatusCode::BAD_REQUEST, &reason, None),
    };
    drop(bytes);
    let max = ctx.config.max_ws_message_bytes;
    if messages.iter().any(|message| message.len() > max) {
        let reason =
            format!("a message is larger than the server limit of {max} bytes (max_ws_message_kb)");
        return error(StatusCode::PAYLOAD_TOO_LARGE, &reason, None);
    }
    let (done, answer) = oneshot::channel();
    if let Err(response) = hand_over(&inbox, Input::Send { messages, done }).await {
        return *response;
    }
    match answer.await {
        Ok(Ok(())) => {
            let mut response = Response::new(Full::default().boxed());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Ok(Err(reason)) => error(StatusCode::GONE, &reason, None),
        Err(_) => error(StatusCode::GONE, "the session ended", None),
    }
}

/// Gives a request to its session's task, waiting for room up to `INBOX_WAIT`.
async fn hand_over(inbox: &mpsc::Sender<Input>, input: Input) -> Result<(), Box<Response<Body>>> {
    match tokio::time::timeout(INBOX_WAIT, inbox.send(input)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Box::new(error(StatusCode::GONE, "the session ended", None))),
        Err(_) => Err(Box::new(error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests at once for this session",
            Some("1"),
        ))),
    }
}

fn ip_refused(ctx: &Context, refusal: IpRefusal) -> Response<Body> {
    let text = super::ip_refusal(ctx, refusal);
    error(StatusCode::TOO_MANY_REQUESTS, &text, Some("1"))
}

/// A JSON error body, `{"error": "..."}`, like the HTTP API's.
fn error(status: StatusCode, message: &str, retry_after: Option<&'static str>) -> Response<Body> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(seconds) = retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from_static(seconds));
    }
    response
}
