//! The live event console: a page served at `/console` (off by default), a Server-Sent Events
//! stream of what happens in one app, and an event creator that publishes through the normal
//! publish path.
//!
//! Access needs the admin token from the configuration, or the app's own secret (that app
//! only). The stream never slows the server: see `tap`.

pub mod hints;
mod stream;
pub mod tap;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::signature::constant_time_eq;
use crate::context::Context;
use crate::http_api::events;
pub use tap::Tap;

/// The page, embedded so the console works offline and needs no files next to the binary.
const PAGE: &str = include_str!("page.html");
/// Largest event-creator request accepted.
const MAX_PUBLISH_BODY: usize = 256 * 1024;

/// Console settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// Whether `/console` is served at all.
    pub enabled: bool,
    /// Admin token giving access to every app; without it, only app secrets open the console.
    pub token: Option<String>,
}

/// A response body that may stream (the event stream) or not (everything else).
pub type Body = BoxBody<Bytes, Infallible>;

/// Handles `/console`, `/console/stream` and `/console/publish`.
pub async fn handle(ctx: Arc<Context>, request: Request<Incoming>, path: &str) -> Response<Body> {
    let settings = &ctx.config.console;
    if !settings.enabled {
        return error(
            StatusCode::NOT_FOUND,
            "the console is disabled: set [console] enabled = true (SOCKWAVE_CONSOLE_ENABLED=true)",
        );
    }
    match (request.method(), path) {
        (&Method::GET, "/console" | "/console/") => {
            let mut response = Response::new(full(PAGE.into()));
            let headers = response.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert("cache-control", HeaderValue::from_static("no-store"));
            response
        }
        (&Method::GET, "/console/stream") => {
            let query: Vec<(String, String)> =
                form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            let param = |name: &str| {
                query
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            match authorize(&ctx, param("app_id"), param("token")) {
                Ok(app) => stream::open(ctx.clone(), app),
                Err(response) => *response,
            }
        }
        (&Method::POST, "/console/publish") => publish(ctx, request).await,
        _ => error(StatusCode::NOT_FOUND, "no such console route"),
    }
}

/// Checks the token against the admin token and the app's secret, in constant time.
fn authorize(
    ctx: &Context,
    app_id: Option<&str>,
    token: Option<&str>,
) -> Result<Arc<App>, Box<Response<Body>>> {
    let app_id = app_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Box::new(error(StatusCode::BAD_REQUEST, "app_id is required")))?;
    let app = ctx.apps.find_by_id(app_id).ok_or_else(|| {
        Box::new(error(
            StatusCode::NOT_FOUND,
            &format!("app '{app_id}' does not exist on this server"),
        ))
    })?;
    let token = token.unwrap_or("").as_bytes();
    let admin = ctx
        .config
        .console
        .token
        .as_deref()
        .is_some_and(|t| constant_time_eq(t.as_bytes(), token));
    if admin || constant_time_eq(app.secret.as_bytes(), token) {
        Ok(app)
    } else {
        Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "wrong token: use the console token from the configuration, or the app's secret",
        )))
    }
}

/// The event creator: publishes `{app_id, channel, event, data}` through the normal path.
async fn publish(ctx: Arc<Context>, request: Request<Incoming>) -> Response<Body> {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let body = match Limited::new(request.into_body(), MAX_PUBLISH_BODY)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large",
            )
        }
    };
    let Ok(input) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be JSON: {app_id, channel, event, data}",
        );
    };
    let app = match authorize(&ctx, input["app_id"].as_str(), token.as_deref()) {
        Ok(app) => app,
        Err(response) => return *response,
    };
    let event_json =
        json!({"name": input["event"], "channel": input["channel"], "data": input["data"]});
    let event = match events::parse_event(&event_json, &app.limits, false) {
        Ok(event) => event,
        Err(err) => return error(err.status(), &err.to_string()),
    };
    let registry = ctx.registry.app(&app.id);
    let reached = events::publish(&ctx, &registry, &event);
    tracing::info!(app_id = %app.id, event = %event.name, reached, "console published a test event");
    json_response(StatusCode::OK, json!({ "reached": reached }))
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
