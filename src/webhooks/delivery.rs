//! Sending one batch: build and sign the body once, POST it with the required headers, retry
//! per the policy in `retry`, keep the delivery log and the counters up to date, and log every
//! final failure.
//!
//! Each batch runs in its own task so a receiver that is slow or down never delays another
//! target. A semaphore bounds the requests in flight across all targets; a permit is held
//! only during an attempt, never while waiting to retry.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::Semaphore;

use super::batch::{Batch, LaneKey};
use super::counters::Counter;
use super::log::{Outcome, Record};
use super::retry::{self, Attempt};
use super::sign::signed_body;
use super::Shared;
use crate::app::App;
use crate::app::WebhookTarget;

/// The request header carrying the app key.
pub(crate) const KEY_HEADER: &str = "X-Pusher-Key";
/// The request header carrying the body signature.
pub(crate) const SIGNATURE_HEADER: &str = "X-Pusher-Signature";

/// Most bytes of a receiver's answer read before the connection is given up.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What every delivery task shares.
#[derive(Debug)]
pub(crate) struct Sender {
    pub(crate) client: reqwest::Client,
    pub(crate) permits: Semaphore,
    pub(crate) retry_budget: Duration,
}

/// Delivers one batch (with retries) and returns its lane, so the worker can free it.
pub(crate) async fn deliver(shared: Arc<Shared>, sender: Arc<Sender>, batch: Batch) -> LaneKey {
    let app = &batch.app;
    let Some(target) = app.webhooks.get(batch.lane.1) else {
        // Lanes are built from this app's own targets, and apps never change.
        return batch.lane;
    };
    let time_ms = unix_ms();
    let signed = signed_body(&app.secret, time_ms, &batch.events);
    let names: Vec<&'static str> = batch.events.iter().map(|e| e.kind().name()).collect();
    let mut record_id = None;
    let deadline = batch.oldest + sender.retry_budget;
    retry::run(
        deadline,
        || {
            attempt(
                &sender,
                target,
                &app.key,
                signed.signature.clone(),
                signed.body.clone(),
            )
        },
        rand::random::<f64>,
        |n, result, last| {
            if last {
                // Counted before the record turns final, so a reader who sees the outcome
                // also sees it counted.
                finish(&shared, app, target, &names, n, result);
            }
            let outcome = match result {
                Attempt::Delivered { .. } => Outcome::Delivered,
                _ if last => Outcome::Failed,
                _ => Outcome::Retrying,
            };
            let update = |record: &mut Record| {
                record.attempts = n;
                record.status = result.status();
                record.error = result.error().map(String::from);
                record.outcome = outcome;
            };
            match record_id {
                None => {
                    let mut record = Record::new(time_ms, target.url.shown(), names.clone());
                    update(&mut record);
                    record_id = Some(shared.log.insert(&app.id, record));
                }
                Some(id) => shared.log.update(&app.id, id, update),
            }
        },
    )
    .await;
    batch.lane
}

/// Counts the batch's final result and logs a final failure.
fn finish(
    shared: &Shared,
    app: &App,
    target: &WebhookTarget,
    names: &[&'static str],
    n_attempts: u32,
    last: &Attempt,
) {
    let n_events = names.len() as u64;
    shared.count(
        &app.id,
        Counter::Retries,
        u64::from(n_attempts.saturating_sub(1)),
    );
    match last {
        Attempt::Delivered { .. } => shared.count(&app.id, Counter::Delivered, n_events),
        Attempt::Retryable { .. } | Attempt::Permanent { .. } => {
            shared.count(&app.id, Counter::Failed, n_events);
            tracing::warn!(
                app_id = %app.id, url = %target.url, status = last.status(),
                events = %names.join(","), attempts = n_attempts, error = last.error().unwrap_or_default(),
                "webhook delivery failed"
            );
        }
    }
}

/// One POST. Extra headers go first; configuration guarantees they never name the three
/// Pusher headers, which are set last.
async fn attempt(
    sender: &Sender,
    target: &WebhookTarget,
    app_key: &str,
    signature: String,
    body: Bytes,
) -> Attempt {
    let _permit = sender
        .permits
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let mut request = sender.client.post(target.url.as_str());
    for (name, value) in &target.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(KEY_HEADER, app_key)
        .header(SIGNATURE_HEADER, signature)
        .body(body);
    match request.send().await {
        Ok(mut response) => {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let status = response.status().as_u16();
            // Reading a short answer to its end lets the connection be reused for the next
            // request; a long one is abandoned rather than buffered.
            let mut n_read = 0;
            while let Ok(Some(chunk)) = response.chunk().await {
                n_read += chunk.len();
                if n_read > MAX_ANSWER_BYTES {
                    break;
                }
            }
            Attempt::from_status(status, retry_after)
        }
        // A request that could not even be built will not build next time either.
        Err(err) if err.is_builder() => Attempt::Permanent {
            status: None,
            error: describe(&err),
        },
        Err(err) => Attempt::Retryable {
            status: None,
            error: describe(&err),
            retry_after: None,
        },
    }
}

/// The error and its causes on one line, without the URL (the log record has it).
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}
