//! The live event console: a page served at `/console` (off by default), a Server-Sent Events
//! stream of what happens in one app, and an event creator that publishes through the normal
//! publish path.
//!
//! Access needs the admin token from the configuration, or the app's own secret (that app
//! only), in the `Authorization` header (see `access`). The page is locked down with a
//! Content-Security-Policy that allows only its own script and style, and may not be framed.
//! The stream never slows the server: see `tap`.

mod access;
mod stream;

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    RETRY_AFTER, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::context::Context;
use crate::http::body::{self, BodyLimits};
use crate::http::Peer;
use crate::publish::{self, EventError};

/// The page, its script and its style, embedded so the console works offline and needs no
/// files next to the binary. `{assets}` in the page becomes the relative path to the assets.
const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");
/// Largest event-creator request accepted.
const MAX_PUBLISH_BODY: usize = 256 * 1024;
/// Only the page's own files, no inline code, no framing, no form posts elsewhere.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A response body that may stream (the event stream) or not (everything else).
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// Handles `/console`, its assets, `/console/stream` and `/console/publish`.
pub(crate) async fn handle(
    ctx: Arc<Context>,
    request: Request<Incoming>,
    path: &str,
) -> Response<Body> {
    let settings = &ctx.config.console;
    if !settings.enabled {
        return error(
            StatusCode::NOT_FOUND,
            "the console is disabled: set [console] enabled = true (SOCKWAVE_CONSOLE_ENABLED=true)",
        );
    }
    let address = request.extensions().get::<Peer>().map(|peer| peer.0.ip());
    match (request.method(), path) {
        (&Method::GET, "/console") => page("console/"),
        (&Method::GET, "/console/") => page(""),
        (&Method::GET, "/console/console.js") => asset(SCRIPT, "text/javascript; charset=utf-8"),
        (&Method::GET, "/console/console.css") => asset(STYLE, "text/css; charset=utf-8"),
        (&Method::GET, "/console/stream") => {
            let query = query_of(&request);
            if param(&query, "token").is_some() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "the token must not be in the URL (proxy logs and browser history keep URLs): send it as 'Authorization: Bearer <token>'",
                );
            }
            let token = access::bearer(request.headers());
            match access::authorize(&ctx, address, param(&query, "app_id"), token) {
                Ok(app) => stream::open(ctx.clone(), app),
                Err(denied) => refusal(denied),
            }
        }
        (&Method::POST, "/console/publish") => publish(ctx, request, address).await,
        _ => error(StatusCode::NOT_FOUND, "no such console route"),
    }
}

fn page(assets: &str) -> Response<Body> {
    let mut response = asset(
        &PAGE.replace("{assets}", assets),
        "text/html; charset=utf-8",
    );
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn asset(text: &str, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(text.to_string())));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn query_of(request: &Request<Incoming>) -> Vec<(String, String)> {
    form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The event creator: publishes `{channel, event, data}` to `?app_id=` through the normal
/// path. The token is checked before the body is read, and the body is read under the same
/// deadline and budget as the API's.
async fn publish(
    ctx: Arc<Context>,
    request: Request<Incoming>,
    address: Option<IpAddr>,
) -> Response<Body> {
    let query = query_of(&request);
    let token = access::bearer(request.headers());
    let app = match access::authorize(&ctx, address, param(&query, "app_id"), token) {
        Ok(app) => app,
        Err(denied) => return refusal(denied),
    };
    let limits = BodyLimits {
        max_bytes: MAX_PUBLISH_BODY,
        timeout: ctx.config.request_body_timeout,
    };
    let declared = body::declared_length(request.headers());
    let body = match body::read(request.into_body(), declared, &limits, &ctx.body_budget).await {
        Ok(body) => body,
        Err(err) => return error(err.status(), &err.to_string()),
    };
    let Ok(input) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be JSON: {channel, event, data}",
        );
    };
    let event_json =
        json!({"name": input["event"], "channel": input["channel"], "data": input["data"]});
    let event = match publish::parse_event(&event_json, &app.limits, false) {
        Ok(event) => event,
        Err(err @ EventError::Invalid(_)) => {
            return error(StatusCode::BAD_REQUEST, &err.to_string())
        }
        Err(err @ EventError::TooLarge(_)) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, &err.to_string())
        }
    };
    let registry = ctx.registry.app(&app.id);
    let reached = match publish::publish(&ctx, &app, &registry, &event).await {
        Ok(reached) => reached,
        Err(err) => return error(StatusCode::SERVICE_UNAVAILABLE, &err.to_string()),
    };
    tracing::info!(app_id = %app.id, event = %event.name, reached, "console published a test event");
    json_response(StatusCode::OK, json!({ "reached": reached }))
}

fn refusal(denied: access::Denied) -> Response<Body> {
    let mut response = error(denied.status, &denied.message);
    if let Some(seconds) = denied.retry_after_secs {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).boxed()
}

fn json_response(status: StatusCode, body: Value) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, json!({"error": message, "code": status.as_u16()}))
}
