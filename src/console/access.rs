//! Who may open the console: the admin token from the configuration (every app) or the app's
//! own secret (that app only), sent in the `Authorization: Bearer` header — never in a URL,
//! where proxy access logs and browser history would keep it — and compared in constant time.
//!
//! Wrong tokens are throttled per source address (`rate_limit::FailureThrottle`): after a
//! handful within a minute, every attempt from that address is refused with 429 until the
//! minute ends, right token or not. Behind a reverse proxy every client shares the proxy's
//! address; the console is an operator's tool, so that is an acceptable price.

use std::net::IpAddr;
use std::sync::Arc;

use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, StatusCode};
use tokio::time::Instant;

use crate::app::App;
use crate::context::Context;
use sockwave_protocol::auth::signature::constant_time_eq;

/// A refusal: the status and the message for the JSON body, and for 429 the seconds to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Denied {
    /// HTTP status.
    pub(super) status: StatusCode,
    /// What to fix.
    pub(super) message: String,
    /// `Retry-After`, for 429.
    pub(super) retry_after_secs: Option<u64>,
}

impl Denied {
    fn new(status: StatusCode, message: impl Into<String>) -> Denied {
        Denied {
            status,
            message: message.into(),
            retry_after_secs: None,
        }
    }
}

/// The bearer token of a request, if any.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Checks the token for `app_id` from `address`: the admin token or the app's secret.
pub(super) fn authorize(
    ctx: &Context,
    address: Option<IpAddr>,
    app_id: Option<&str>,
    token: Option<&str>,
) -> Result<Arc<App>, Denied> {
    let throttle = &ctx.rate_limits.console_failures;
    let now = Instant::now();
    if let Some(retry_after) = address.and_then(|a| throttle.blocked(a, now)) {
        return Err(Denied {
            retry_after_secs: Some(retry_after),
            ..Denied::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many wrong console tokens from this address: wait {retry_after} s"),
            )
        });
    }
    let app_id = app_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Denied::new(StatusCode::BAD_REQUEST, "app_id is required (in the query)"))?;
    let given = token.unwrap_or("").as_bytes();
    let admin = ctx
        .config
        .console
        .token
        .as_deref()
        .is_some_and(|t| constant_time_eq(t.as_bytes(), given));
    let app = ctx.apps.find_by_id(app_id);
    let app_secret = app
        .as_ref()
        .is_some_and(|app| constant_time_eq(app.secret.as_bytes(), given));
    if !admin && !app_secret {
        if let Some(address) = address {
            throttle.fail(address, now);
        }
        return Err(Denied::new(
            StatusCode::UNAUTHORIZED,
            "wrong token: send the console token from the configuration, or the app's secret, as 'Authorization: Bearer <token>'",
        ));
    }
    app.ok_or_else(|| {
        Denied::new(
            StatusCode::NOT_FOUND,
            format!(
                "app '{}' does not exist on this server",
                app_id.chars().take(64).collect::<String>()
            ),
        )
    })
}
