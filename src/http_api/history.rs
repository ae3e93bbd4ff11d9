//! `GET /apps/{id}/channels/{channel}/history`: a channel's recent events, for a backend that
//! rebuilds its state (signed like every read). Without `after`, the last `limit` events
//! kept; with `after={position}`, the events after it — or, when the history no longer
//! reaches back, none and `"complete": false` with the reason, as a resuming client is told.
//! Frames are returned as sent to clients (encrypted channels' data stays ciphertext).

use serde_json::{json, Value};

use super::error::ApiError;
use crate::app::App;
use crate::context::Context;
use crate::history::{Position, Since, MAX_READ};

/// Events returned when the request names no `limit`.
const DEFAULT_LIMIT: usize = 100;

pub(super) async fn read(
    ctx: &Context,
    app: &App,
    channel: &str,
    after: Option<&str>,
    limit: Option<&str>,
) -> Result<Value, ApiError> {
    if !app.history.covers(channel) {
        return Err(ApiError::BadRequest(format!(
            "channel '{channel}' keeps no history: add a pattern matching it to the app's history_channels"
        )));
    }
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_READ).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("limit must be a number from 1 to {MAX_READ}"))
            })?,
    };
    let after = match after {
        None => None,
        Some(text) => Some(Position::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "after must be a position like \"9f3a01c2:42\" (from an event's \"position\"), not '{text}'"
            ))
        })?),
    };
    let since = after.as_ref().map_or(Since::Start, Since::After);
    let read = ctx.history.read(app, channel, since, limit).await?;
    let events: Vec<Value> = read
        .events
        .iter()
        .filter_map(|(_, frame)| serde_json::from_str(frame.as_str()).ok())
        .collect();
    let mut body = json!({
        "channel": channel,
        "position": read.latest.to_string(),
        "complete": read.gap.is_none(),
        "events": events,
    });
    if let Some(gap) = read.gap {
        body["reason"] = gap.reason().into();
    }
    Ok(body)
}
