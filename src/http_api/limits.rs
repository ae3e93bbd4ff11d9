//! The per-app HTTP API rate limits: backend events per second (`POST /events` costs one per
//! channel, `POST /batch_events` one per event, as in Soketi) and read requests per second
//! (channel, user and delivery-log queries). Limits apply after the signature check, so an
//! unsigned request cannot spend an app's budget.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue};
use hyper::Response;

use super::error::ApiError;
use crate::app::App;
use crate::context::Context;
use crate::metrics::Limit;
use crate::pressure::Refusal;
use crate::publish::Event;
use crate::rate_limit::Decision;

/// `X-RateLimit-Limit`.
const LIMIT_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
const REMAINING_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-remaining");

/// Spends `cost` points of the app's budget for `limit`; `Ok(None)` when the app has no such
/// limit. `limit` is `BackendEvents` or `ReadRequests`.
pub(super) async fn spend(
    ctx: &Context,
    app: &App,
    limit: Limit,
    cost: usize,
) -> Result<Option<Decision>, ApiError> {
    let (max, key, what) = match limit {
        Limit::BackendEvents => (
            app.limits.max_backend_events_per_second,
            "backend_events",
            "backend events (one per channel)",
        ),
        Limit::ReadRequests => (
            app.limits.max_read_requests_per_second,
            "read_requests",
            "read requests",
        ),
        Limit::ClientEvents
        | Limit::Connections
        | Limit::IpConnections
        | Limit::IpNewConnections
        | Limit::Backpressure => return Ok(None),
    };
    let Some(max) = max else {
        return Ok(None);
    };
    let key = format!("{}:{key}", app.id);
    let cost = u32::try_from(cost).unwrap_or(u32::MAX);
    let decision = ctx.rate_limits.api.check(&key, cost, max).await;
    if decision.allowed {
        return Ok(Some(decision));
    }
    ctx.metrics.app(&app.id).rate_limited(limit);
    let message = if cost > max {
        format!(
            "this request costs {cost} {what}, more than app '{}' may spend in a second ({max}); split it",
            app.id
        )
    } else {
        format!(
            "too many {what} for app '{}': at most {max} per second; retry after {} s",
            app.id,
            decision.retry_after_secs()
        )
    };
    Err(ApiError::RateLimited { message, decision })
}

/// Refuses a publish while a node of the cluster (or this one) is behind delivering.
pub(super) fn backpressure(ctx: &Context, app: &App) -> Result<(), ApiError> {
    let refusal = ctx
        .pressure
        .refusal(tokio::time::Instant::now())
        .or_else(|| ctx.pressure.outgoing_refusal(ctx.cluster.outgoing_queued()));
    refuse(ctx, app, refusal)
}

/// Refuses a publish of `events` while this node paces publishes for a node that was behind,
/// or ramps up to a flood of deliveries on the other nodes (checked once the events are
/// counted; see `pressure::pace` and `pressure::ramp`).
pub(super) fn pace(ctx: &Context, app: &App, events: &[Event]) -> Result<(), ApiError> {
    if !ctx.pressure.enabled() {
        return Ok(());
    }
    let remote = crate::publish::remote_deliveries(ctx, &app.id, events);
    let now = tokio::time::Instant::now();
    refuse(ctx, app, ctx.pressure.paced(events.len(), remote, now))
}

/// The 429 for a backpressure refusal, counted.
fn refuse(ctx: &Context, app: &App, refusal: Option<Refusal>) -> Result<(), ApiError> {
    let Some(refusal) = refusal else {
        return Ok(());
    };
    ctx.metrics.app(&app.id).rate_limited(Limit::Backpressure);
    Err(ApiError::Backpressure {
        node: refusal.node,
        behind: refusal.behind,
        retry_after_secs: refusal.retry_after.as_secs_f64().ceil().max(1.0) as u64,
    })
}

/// Adds `X-RateLimit-Limit` and `X-RateLimit-Remaining`.
pub(super) fn add_headers(response: &mut Response<Full<Bytes>>, decision: &Decision) {
    let headers = response.headers_mut();
    headers.insert(LIMIT_HEADER, HeaderValue::from(decision.limit));
    headers.insert(REMAINING_HEADER, HeaderValue::from(decision.remaining));
}
