//! Every way an HTTP API request can fail, and the one conversion into a status code with a
//! JSON body `{"error": "...", "code": <status>}` that tells the developer what to fix.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::auth::ApiAuthError;

/// An HTTP API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
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
    AppDisabled(String),
    /// The request signature, key, timestamp or body hash was refused.
    #[error(transparent)]
    Auth(#[from] ApiAuthError),
    /// The request is malformed or breaks a count/length limit.
    #[error("{0}")]
    BadRequest(String),
    /// The body or an event's data is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
}

impl ApiError {
    /// The HTTP status for this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::RouteNotFound { .. } | ApiError::AppNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::AppDisabled(_) => StatusCode::FORBIDDEN,
            ApiError::Auth(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The response: status and JSON body.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let status = self.status();
        let body = serde_json::json!({"error": self.to_string(), "code": status.as_u16()});
        super::json_response(status, body.to_string())
    }
}
