//! Every way an HTTP API request can fail, and the one conversion into a status code with a
//! JSON body `{"error": "...", "code": <status>}` that tells the developer what to fix.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};
use sockwave_protocol::AppId;

use crate::http::BodyError;
use crate::publish::EventError;
use crate::rate_limit::Decision;
use sockwave_protocol::auth::ApiAuthError;

/// An HTTP API failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// No route matches the method and path.
    #[error("no route for {method} {path}")]
    RouteNotFound {
        /// The method.
        method: String,
        /// The path, cut to a printable length.
        path: String,
    },
    /// The app id in the path is unknown.
    #[error("app '{0}' does not exist on this server")]
    AppNotFound(String),
    /// The app is disabled.
    #[error("app '{0}' is disabled")]
    AppDisabled(AppId),
    /// The app could not be looked up: its database is unreachable (the log says why).
    #[error(
        "app '{0}' could not be looked up right now: the apps database is unreachable; try again"
    )]
    AppsUnavailable(String),
    /// The request signature, key, timestamp or body hash was refused.
    #[error(transparent)]
    Auth(#[from] ApiAuthError),
    /// The request is malformed or breaks a count/length limit.
    #[error("{0}")]
    BadRequest(String),
    /// The body was not read: too large, too slow, or the server's body budget is spent.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// An event was malformed or over a limit.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A node is behind delivering events: the publish was not accepted (backpressure).
    #[error("{node} is behind {behind}: this publish was not accepted; retry after {retry_after_secs} s (backpressure_fanout_ms)")]
    Backpressure {
        /// Which node.
        node: String,
        /// What it is behind doing.
        behind: &'static str,
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// A history channel's store (Redis) could not be written or read; nothing was published
    /// to that channel.
    #[error(
        "{0}; the event was not published to this channel or any after it in the request (retry)"
    )]
    History(#[from] crate::history::HistoryError),
    /// The app spent its backend events or read requests for this second.
    #[error("{message}")]
    RateLimited {
        /// What was limited and how to recover.
        message: String,
        /// The limiter's decision, for the rate-limit headers.
        decision: Decision,
    },
}

impl ApiError {
    /// The HTTP status for this failure.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::RouteNotFound { .. } | ApiError::AppNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::AppDisabled(_) => StatusCode::FORBIDDEN,
            ApiError::AppsUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Auth(ApiAuthError::DuplicateParam(_)) => StatusCode::BAD_REQUEST,
            ApiError::Auth(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Body(err) => err.status(),
            ApiError::Event(EventError::Invalid(_)) => StatusCode::BAD_REQUEST,
            ApiError::Event(EventError::TooLarge(_)) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::History(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Backpressure { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// A short, fixed label for metrics (`http_rejections_total{reason}`).
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            ApiError::RouteNotFound { .. } => "route_not_found",
            ApiError::AppNotFound(_) => "app_not_found",
            ApiError::AppDisabled(_) => "app_disabled",
            ApiError::AppsUnavailable(_) => "apps_unavailable",
            ApiError::Auth(ApiAuthError::DuplicateParam(_)) => "bad_request",
            ApiError::Auth(_) => "auth",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Body(BodyError::TooLarge { .. }) => "payload_too_large",
            ApiError::Body(BodyError::TooSlow { .. }) => "body_too_slow",
            ApiError::Body(BodyError::Busy { .. }) => "body_budget",
            ApiError::Body(BodyError::Broken(_)) | ApiError::Event(EventError::Invalid(_)) => {
                "bad_request"
            }
            ApiError::Event(EventError::TooLarge(_)) => "payload_too_large",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::History(_) => "history_unavailable",
            ApiError::Backpressure { .. } => "backpressure",
        }
    }

    /// The response: status and JSON body.
    pub(crate) fn into_response(self) -> Response<Full<Bytes>> {
        let status = self.status();
        let body = serde_json::json!({"error": self.to_string(), "code": status.as_u16()});
        let mut response = super::json_response(status, body.to_string());
        match &self {
            ApiError::RateLimited { decision, .. } => {
                super::limits::add_headers(&mut response, decision);
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(decision.retry_after_secs()));
            }
            ApiError::Backpressure {
                retry_after_secs, ..
            } => {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::Body(BodyError::Busy { .. }) => {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
