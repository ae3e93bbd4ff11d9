//! `GET /apps/{id}/webhooks/deliveries`: the app's recent webhook requests and counters, plus
//! its configured targets, so an app owner can see why a webhook did not arrive.
//!
//! Signed like every other API route (the caller already verified it). Target headers are
//! left out: they often carry credentials.

use serde_json::{json, Value};

use crate::app::App;
use crate::context::Context;

/// The response body: `{"targets": [...], "deliveries": [...], "counters": {...}}`, newest
/// delivery first.
pub(crate) fn deliveries(ctx: &Context, app: &App) -> Value {
    let mut report = ctx.webhooks.recent_deliveries(&app.id);
    let targets: Vec<Value> = app
        .webhooks
        .iter()
        .map(|target| {
            let event_types: Vec<&str> =
                target.event_types.iter().map(|kind| kind.name()).collect();
            json!({
                "url": target.url.shown(),
                "event_types": event_types,
                "filter": {
                    "channel_name_starts_with": target.filter.starts_with,
                    "channel_name_ends_with": target.filter.ends_with,
                },
            })
        })
        .collect();
    report["targets"] = Value::Array(targets);
    report
}
