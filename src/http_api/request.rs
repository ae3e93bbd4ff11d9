//! Turning an incoming request into a verified one: app lookup, body read under a size cap,
//! query decoding and the Pusher signature check.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::Request;

use super::error::ApiError;
use crate::app::App;
use crate::auth::{verify_request, ApiCredentials, ApiRequest};
use crate::context::Context;

/// A request whose app exists and is enabled, and whose signature checked out.
#[derive(Debug)]
pub struct Verified {
    /// The app in the path.
    pub app: Arc<App>,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
}

impl Verified {
    /// A query parameter by (case-sensitive) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Reads and verifies a request for `app_id`. `signed_path` is the path without the
/// deployment prefix; `received_path` the path as it arrived.
pub async fn verify(
    ctx: &Context,
    request: Request<Incoming>,
    app_id: &str,
    signed_path: &str,
) -> Result<Verified, ApiError> {
    let app = ctx
        .apps
        .find_by_id(app_id)
        .ok_or_else(|| ApiError::AppNotFound(app_id.chars().take(64).collect()))?;
    if !app.enabled {
        return Err(ApiError::AppDisabled(app.id.clone()));
    }
    let method = request.method().as_str().to_ascii_uppercase();
    let received_path = request.uri().path().to_string();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let body = read_body(ctx, request).await?;
    let credentials = ApiCredentials {
        app_id: &app.id,
        key: &app.key,
        secret: &app.secret,
        timestamp_window: ctx.config.auth_timestamp_window,
    };
    let api_request = ApiRequest {
        method: &method,
        path: signed_path,
        received_path: (received_path != signed_path).then_some(received_path.as_str()),
        query: &query,
        body: &body,
    };
    verify_request(&api_request, &credentials, unix_now())?;
    Ok(Verified { app, query, body })
}

/// Reads the body, refusing it before buffering when `Content-Length` is over the cap, and
/// while reading when a chunked body grows past it.
async fn read_body(ctx: &Context, request: Request<Incoming>) -> Result<Bytes, ApiError> {
    let max = ctx.config.max_request_body_bytes;
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "request body is larger than the server limit of {max} bytes"
        ))
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large());
    }
    let collected = Limited::new(request.into_body(), max)
        .collect()
        .await
        .map_err(|err| {
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                ApiError::BadRequest(format!("could not read the request body: {err}"))
            }
        })?;
    Ok(collected.to_bytes())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
