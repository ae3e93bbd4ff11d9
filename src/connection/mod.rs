//! One socket's life: the WebSocket upgrade, the handshake reply, reading frames, flushing
//! the outbound queue, and the close.
//!
//! A single task per socket reads and decodes client frames, answers them, and writes what
//! the direct path could not (`outbox`). It holds no timers: liveness (pings, pong and write
//! timeouts, authorization deadlines) and shutdown reach it as close requests from the
//! server-wide `watchdog` and the shutdown sequence. Other code reaches the socket only
//! through its `SocketHandle`.

pub(crate) mod handshake;
mod member;
pub(crate) mod message_rate;
pub(crate) mod pump;
mod resume;
pub mod session;
mod subscriptions;
mod task;
pub(crate) mod user_data;
pub(crate) mod watchdog;
pub(crate) mod xhr;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONNECTION, RETRY_AFTER, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::{Request, Response, StatusCode};
use sockwave_protocol::websocket::{accept_key, deflate};

use crate::app::App;
use crate::context::Context;
use crate::http::Peer;
use crate::metrics::Limit;
use crate::rate_limit::IpRefusal;
pub use handshake::ClientMeta;
use sockwave_protocol::ErrorCode;

/// Answers a WebSocket upgrade request on `/app/{key}` and spawns the connection task.
/// App and protocol problems are reported over the WebSocket (pusher-js only understands
/// them there); only a request that is not a WebSocket upgrade gets an HTTP error.
pub(crate) fn upgrade(
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
    let accept = accept_key(client_key.as_bytes());
    let origin = headers.get("origin").and_then(|v| v.to_str().ok());
    let meta = ClientMeta::parse(request.uri().query(), origin);
    // Browsers offer compression on every connection; accepting it costs a socket nothing
    // (no state is kept between messages, see `outbox::deflate`).
    let deflate = match ctx.config.ws_compression {
        true => deflate::negotiate(
            headers
                .get_all(SEC_WEBSOCKET_EXTENSIONS)
                .iter()
                .filter_map(|value| value.to_str().ok()),
        ),
        false => None,
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let tasks = ctx.socket_tasks.clone();
    // Everything the socket's task needs later goes into one box, captured alone: a spawned
    // future is sized for its largest state plus everything it captured (kept for its whole
    // life, even once moved out), and this one lives as long as the socket.
    let upgrade = Box::new(task::Upgrade {
        ctx,
        app_key: app_key.to_string(),
        meta,
        ip_slot,
        deflate,
    });
    tasks.spawn(async move {
        // The app is looked up here, after the 101: a database-backed store may have to
        // read it, and every refusal is reported over the WebSocket anyway.
        let admission = admit(&upgrade.ctx, &upgrade.app_key, &upgrade.meta).await;
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(err) => return tracing::debug!(error = %err, "websocket upgrade failed"),
        };
        match task::start(upgrade, admission, upgraded) {
            Some(Ok(connection)) => task::run(connection).await,
            // Boxed: the close's timers would otherwise size every socket's task.
            Some(Err(refused)) => Box::pin(task::refuse(refused)).await,
            None => tracing::error!("upgraded connection is not a TCP or TLS stream"),
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
    if let Some(agreed) = deflate {
        headers.insert(
            SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_str(&agreed.response_header()).expect("the extension reply is ASCII"),
        );
    }
    response
}

/// A per-IP limit refused the upgrade: 429 before any task is spawned, so a flood of
/// connections from one address costs as little as possible.
fn ip_refused(
    ctx: &Context,
    peer: Option<SocketAddr>,
    refusal: IpRefusal,
) -> Response<Full<Bytes>> {
    let text = ip_refusal(ctx, refusal);
    tracing::debug!(peer = peer.map(tracing::field::display), reason = %text, "websocket upgrade refused");
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Counts a per-IP refusal in the metrics and says why, for WebSocket upgrades and HTTP
/// transport sessions alike.
fn ip_refusal(ctx: &Context, refusal: IpRefusal) -> String {
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
    text
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

/// Decides whether a connection may be served: known app key, enabled app, good protocol.
async fn admit(
    ctx: &Context,
    app_key: &str,
    meta: &ClientMeta,
) -> Result<Arc<App>, (ErrorCode, String)> {
    meta.check_protocol()?;
    let shown: String = app_key.chars().take(64).collect();
    let found = ctx.apps.lookup_by_key(app_key).await.map_err(|error| {
        // The client cannot act on the database's error; the log names it.
        tracing::warn!(app_key = %shown, %error, "connection refused: the app could not be looked up");
        (
            ErrorCode::AppNotFound,
            format!("app key '{shown}' could not be looked up on this server right now"),
        )
    })?;
    let app = found.ok_or_else(|| {
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
