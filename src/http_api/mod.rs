//! The Pusher HTTP API and health endpoints: routing, CORS, and turning handler results into
//! JSON responses. Handlers are short and delegate to `events`, `channels` and the registry;
//! failures are logged once, here.

pub(crate) mod channels;
pub(crate) mod error;
mod history;
mod limits;
pub(crate) mod request;
pub(crate) mod webhook_log;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_LENGTH, CONTENT_TYPE, ORIGIN, VARY,
};
use hyper::{Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::context::Context;
use crate::metrics::Limit;
use crate::publish;
pub(crate) use error::ApiError;

/// Answers one HTTP request. `path` is the request path with the deployment prefix removed.
pub(crate) async fn handle(
    ctx: Arc<Context>,
    request: Request<Incoming>,
    path: &str,
) -> Response<Full<Bytes>> {
    let received_at = Instant::now();
    let origin = request.headers().get(ORIGIN).cloned();
    let method = request.method().clone();
    // Requests for a known app are counted per app; made-up ids must not create series.
    let known_app = path
        .strip_prefix("/apps/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|app_id| ctx.apps.find_by_id(app_id))
        .map(|app| app.id.clone());
    let received_bytes = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let mut response = if method == Method::OPTIONS {
        let mut preflight = Response::new(Full::default());
        *preflight.status_mut() = StatusCode::NO_CONTENT;
        preflight
    } else {
        match route(&ctx, request, path, received_at).await {
            Ok(response) => response,
            Err(err) => {
                tracing::warn!(%method, path = %shorten(path), status = err.status().as_u16(), reason = %err, "http request rejected");
                ctx.metrics.http_rejected(known_app.as_ref(), err.reason());
                // Streams only see their own (existing) app, so made-up ids go nowhere.
                if let Some(app_id) = &known_app {
                    ctx.console_tap.emit_client_supplied(app_id, "publish_rejected", || {
                        json!({"status": err.status().as_u16(), "reason": err.to_string(), "path": shorten(path)})
                    });
                }
                err.into_response()
            }
        }
    };
    add_cors(&ctx, origin, &mut response);
    if let Some(app_id) = &known_app {
        let sent_bytes = response.body().size_hint().exact().unwrap_or(0);
        ctx.metrics
            .app(app_id)
            .http_call(received_bytes, sent_bytes);
    }
    response
}

async fn route(
    ctx: &Context,
    request: Request<Incoming>,
    path: &str,
    received_at: Instant,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let method = request.method().clone();
    match (&method, path) {
        (&Method::GET, "/" | "/up") => return Ok(text_response(StatusCode::OK, "OK")),
        (&Method::GET, "/ready") => {
            return Ok(if !ctx.cluster.ready() {
                text_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cluster engine unreachable",
                )
            } else if ctx.is_draining() {
                text_response(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
            } else if let Some(error) = ctx.apps.unreachable() {
                // Still ready: the apps already read keep working, and an unreachable
                // database is usually unreachable from every node alike.
                let text = format!("OK (apps database unreachable: {error}; apps already read keep working, new ones are refused)");
                Response::builder()
                    .status(StatusCode::OK)
                    .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(Full::new(Bytes::from(text)))
                    .expect("a valid response")
            } else {
                text_response(StatusCode::OK, "OK")
            });
        }
        _ => {}
    }
    let not_found = || ApiError::RouteNotFound {
        method: method.to_string(),
        path: shorten(path),
    };
    let rest = path.strip_prefix("/apps/").ok_or_else(not_found)?;
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let app_id = segments[0];
    let endpoint = match (&method, &segments[1..]) {
        (&Method::POST, ["events"]) => Endpoint::Publish,
        (&Method::POST, ["batch_events"]) => Endpoint::PublishBatch,
        (&Method::GET, ["channels"]) => Endpoint::Channels,
        (&Method::GET, ["channels", channel]) => Endpoint::Channel(channel.to_string()),
        (&Method::GET, ["channels", channel, "users"]) => Endpoint::Users(channel.to_string()),
        (&Method::GET, ["channels", channel, "history"]) => Endpoint::History(channel.to_string()),
        (&Method::POST, ["users", user_id, "terminate_connections"]) => {
            Endpoint::Terminate(user_id.to_string())
        }
        (&Method::GET, ["webhooks", "deliveries"]) => Endpoint::WebhookDeliveries,
        _ => return Err(not_found()),
    };
    let verified = request::verify(ctx, request, app_id, path).await?;
    let app_id = &verified.app.id;
    let registry = ctx.registry.app(app_id);
    let registry = registry.as_ref();
    let read_limit = match endpoint {
        Endpoint::Channels
        | Endpoint::Channel(_)
        | Endpoint::Users(_)
        | Endpoint::History(_)
        | Endpoint::WebhookDeliveries => {
            limits::spend(ctx, &verified.app, Limit::ReadRequests, 1).await?
        }
        Endpoint::Publish | Endpoint::PublishBatch | Endpoint::Terminate(_) => None,
    };
    if matches!(endpoint, Endpoint::Publish | Endpoint::PublishBatch) {
        limits::backpressure(ctx, &verified.app)?;
    }
    let mut backend_limit = None;
    let body = match endpoint {
        Endpoint::Publish => {
            let event =
                publish::parse_event(&parse_json(&verified.body)?, &verified.app.limits, false)?;
            let cost = event.channels.len();
            limits::pace(ctx, &verified.app, std::slice::from_ref(&event))?;
            backend_limit = limits::spend(ctx, &verified.app, Limit::BackendEvents, cost).await?;
            let reached = publish::publish(ctx, &verified.app, registry, &event).await?;
            ctx.metrics
                .app(app_id)
                .publish_enqueued(received_at.elapsed());
            tracing::debug!(app_id = %verified.app.id, event = %event.name, channels = event.channels.len(), reached, "published");
            match publish::channel_attributes(ctx, app_id, &event) {
                Some(channels) => json!({ "channels": channels }),
                None => json!({}),
            }
        }
        Endpoint::PublishBatch => {
            let batch = publish::parse_batch(&parse_json(&verified.body)?, &verified.app.limits)?;
            let cost = batch.iter().map(|event| event.channels.len()).sum();
            limits::pace(ctx, &verified.app, &batch)?;
            backend_limit = limits::spend(ctx, &verified.app, Limit::BackendEvents, cost).await?;
            let mut attributes: Vec<Option<Value>> = Vec::with_capacity(batch.len());
            for (index, event) in batch.iter().enumerate() {
                publish::publish(ctx, &verified.app, registry, event)
                    .await
                    .map_err(|err| {
                        crate::history::HistoryError(format!(
                            "{} (batch event {index}; the events before it were published)",
                            err.0
                        ))
                    })?;
                attributes.push(publish::channel_attributes(ctx, app_id, event));
            }
            if attributes.iter().any(Option::is_some) {
                let items: Vec<Value> = attributes
                    .into_iter()
                    .map(|a| {
                        a.and_then(|channels| channels.as_object()?.values().next().cloned())
                            .unwrap_or(json!({}))
                    })
                    .collect();
                json!({ "batch": items })
            } else {
                json!({})
            }
        }
        Endpoint::Channels => channels::list(
            ctx,
            app_id,
            verified.param("filter_by_prefix"),
            verified.param("info"),
        )?,
        Endpoint::Channel(name) => channels::show(ctx, app_id, &name, verified.param("info"))?,
        Endpoint::Users(name) => channels::users(ctx, app_id, &name)?,
        Endpoint::History(name) => {
            history::read(
                ctx,
                &verified.app,
                &name,
                verified.param("after"),
                verified.param("limit"),
            )
            .await?
        }
        Endpoint::Terminate(user_id) => {
            let closed = channels::terminate(ctx, app_id, &user_id);
            tracing::info!(app_id = %verified.app.id, user_id = %user_id, sockets = closed, "terminated user connections");
            json!({})
        }
        Endpoint::WebhookDeliveries => webhook_log::deliveries(ctx, &verified.app),
    };
    let mut response = json_response(StatusCode::OK, body.to_string());
    if let Some(decision) = read_limit.or(backend_limit) {
        limits::add_headers(&mut response, &decision);
    }
    Ok(response)
}

enum Endpoint {
    Publish,
    PublishBatch,
    Channels,
    Channel(String),
    Users(String),
    History(String),
    Terminate(String),
    WebhookDeliveries,
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|err| ApiError::BadRequest(format!("request body is not valid JSON: {err}")))
}

/// A response with a JSON body.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text_response(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn add_cors(ctx: &Context, origin: Option<HeaderValue>, response: &mut Response<Full<Bytes>>) {
    let allowed = &ctx.config.cors_allowed_origins;
    let Some(origin) = origin else { return };
    let permitted = allowed
        .iter()
        .any(|a| a == "*" || origin.to_str().is_ok_and(|o| o == a));
    if !permitted {
        return;
    }
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, X-Requested-With, Accept, Authorization"),
    );
}

fn shorten(path: &str) -> String {
    path.chars().take(120).collect()
}
