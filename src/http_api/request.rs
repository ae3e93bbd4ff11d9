//! Turning an incoming request into a verified one: app lookup, the Pusher signature over
//! the head (the query signs `body_md5`), and only then the body, read under the limits of
//! `http::body` and compared with the signed hash. A request without a valid signature is
//! refused before a single byte of its body is read.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::Request;

use super::error::ApiError;
use crate::app::App;
use crate::context::Context;
use crate::http::body::{self, Body, BodyLimits};
use sockwave_protocol::auth::api_auth::{canonical_query, verify_head, ApiRequestHead};
use sockwave_protocol::auth::ApiCredentials;

/// A request whose app exists and is enabled, and whose signature and body checked out.
#[derive(Debug)]
pub(crate) struct Verified<'a> {
    /// The app in the path.
    pub app: Arc<App>,
    /// Query parameters, names lower-cased as they were signed.
    pub query: Vec<(String, String)>,
    /// The body; it counts against the server's body budget until dropped.
    pub body: Body<'a>,
}

impl Verified<'_> {
    /// A query parameter by its (lower-case) name.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Reads and verifies a request for `app_id`. `signed_path` is the path without the
/// deployment prefix.
pub(crate) async fn verify<'a>(
    ctx: &'a Context,
    request: Request<Incoming>,
    app_id: &str,
    signed_path: &str,
) -> Result<Verified<'a>, ApiError> {
    let shown: String = app_id.chars().take(64).collect();
    let app = ctx
        .apps
        .lookup_by_id(app_id)
        .await
        .map_err(|error| {
            tracing::warn!(app_id = %shown, %error, "HTTP API request refused: the app could not be looked up");
            ApiError::AppsUnavailable(shown.clone())
        })?
        .ok_or(ApiError::AppNotFound(shown))?;
    if !app.enabled {
        return Err(ApiError::AppDisabled(app.id.clone()));
    }
    let method = request.method().as_str().to_ascii_uppercase();
    let received_path = request.uri().path().to_string();
    let query = canonical_query(
        form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
    )?;
    // A body over the cap is refused from its declared length alone: the clearest answer,
    // and it needs no signature check.
    let declared = body::declared_length(request.headers());
    body::check_declared(declared, ctx.config.max_request_body_bytes)?;
    let credentials = ApiCredentials {
        app_id: &app.id,
        key: &app.key,
        secret: &app.secret,
        timestamp_window: ctx.config.auth_timestamp_window,
    };
    let head = ApiRequestHead {
        method: &method,
        path: signed_path,
        received_path: (received_path != signed_path).then_some(received_path.as_str()),
        query: &query,
        has_body: declared != Some(0),
    };
    let body_check = verify_head(&head, &credentials, unix_now())?;
    let limits = BodyLimits {
        max_bytes: ctx.config.max_request_body_bytes,
        timeout: ctx.config.request_body_timeout,
    };
    let body = body::read(request.into_body(), declared, &limits, &ctx.body_budget).await?;
    body_check.verify(&body)?;
    Ok(Verified { app, query, body })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
