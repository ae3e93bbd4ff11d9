//! A subscriber with the recovery add-on resuming a history channel: read the history after
//! the position it sent, then, under the channel's lock, queue what it missed, a notice, and
//! the frames held while reading (`AppRegistry::finish_hold`), so nothing is duplicated,
//! reordered or lost at the seam between replay and live frames.
//!
//! The notice is `pusher_internal:resumed` (`{"replayed": n}`) or
//! `pusher_internal:resume_failed` (`{"reason", "message"}`), with the channel's position as
//! a top-level `"position"`. pusher-js passes neither to an app's handlers (it drops unknown
//! `pusher_internal:` events); the add-on reads them from the raw frames.

use std::sync::Arc;

use serde_json::json;
use sockwave_protocol::messages;
use tokio::time::Instant;

use crate::app::App;
use crate::context::Context;
use crate::history::{Gap, Position, Read, Since, MAX_READ};
use crate::outbox::{Flushes, Frame, SocketHandle};
use crate::registry::{AppRegistry, Finished, Replay, Seam, Stamp};

/// What a resume needs once the subscribe has returned.
pub(super) struct Resume {
    pub(super) ctx: Arc<Context>,
    pub(super) app: Arc<App>,
    pub(super) registry: Arc<AppRegistry>,
    pub(super) socket: SocketHandle,
    pub(super) socket_id: String,
    pub(super) channel: String,
    /// The hold this resume ends.
    pub(super) token: u64,
    /// The client's position; empty for a first subscribe (it only wants a position).
    pub(super) resume_after: String,
}

/// Reads the history in a task of its own (the store may be Redis); the socket's frames on
/// the channel wait meanwhile.
pub(super) fn start(resume: Resume) {
    tokio::spawn(run(resume));
}

/// How the read went.
pub(super) enum Outcome {
    Read(Read),
    /// The client sent something that is not a position.
    Malformed(Read),
    Unavailable(String),
}

async fn run(resume: Resume) {
    let started = Instant::now();
    let Resume {
        ctx,
        app,
        registry,
        socket,
        socket_id,
        channel,
        token,
        resume_after,
    } = resume;
    let after = match resume_after.as_str() {
        "" => Ok(None),
        text => Position::parse(text).map(Some).ok_or(()),
    };
    let read = ctx
        .history
        .read(
            &app,
            &channel,
            match &after {
                Ok(Some(after)) => Since::After(after),
                _ => Since::Now,
            },
            MAX_READ,
        )
        .await;
    let outcome = match (after.is_err(), read) {
        (_, Err(err)) => Outcome::Unavailable(err.to_string()),
        (true, Ok(read)) => Outcome::Malformed(read),
        (false, Ok(read)) => Outcome::Read(read),
    };
    let asked = !resume_after.is_empty();
    let Some(delivered) = deliver(&registry, &socket, &channel, token, asked, outcome) else {
        return; // the socket left the channel (or closed) while the history was read
    };
    let Delivered {
        finished,
        replayed,
        gap,
    } = delivered;
    if asked {
        ctx.history
            .stats
            .app(&app.id)
            .resumed(gap.is_none(), replayed);
    }
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match &gap {
        Some((reason, message)) if asked || *reason == "unavailable" => {
            tracing::info!(
                socket_id, app_id = %app.id, channel, reason, detail = %message,
                "resume failed: the client was told to refetch its state"
            );
        }
        _ => tracing::debug!(
            socket_id, app_id = %app.id, channel, replayed, held = finished.released,
            position = finished.claimed, elapsed_ms, "resumed"
        ),
    }
    ctx.console_tap.emit(&app.id, "resumed", || {
        json!({
            "socket_id": socket_id, "channel": channel, "replayed": replayed,
            "failed": gap.as_ref().map(|(reason, _)| *reason), "elapsed_ms": elapsed_ms,
        })
    });
}

/// What `deliver` sent.
pub(super) struct Delivered {
    pub(super) finished: Finished,
    pub(super) replayed: usize,
    /// The failure's reason and message, when the resume failed.
    pub(super) gap: Option<(&'static str, String)>,
}

/// Ends the hold on `channel` with what the read found: the replay, the notice, the held
/// frames. Synchronous (the store was read before); `None` when the socket left meanwhile.
pub(super) fn deliver(
    registry: &AppRegistry,
    socket: &SocketHandle,
    channel: &str,
    token: u64,
    asked: bool,
    outcome: Outcome,
) -> Option<Delivered> {
    let Answer {
        replay,
        latest,
        gap,
        epoch,
    } = Answer::from(outcome);
    let replayed = replay.len();
    let seam = match (asked, &gap) {
        (false, _) => Seam::Fresh,
        (true, None) => Seam::Resumed,
        (true, Some(_)) => Seam::Gap,
    };
    let notice = |claimed: u64| {
        let position = epoch.as_ref().map(|epoch| format!("{epoch}:{claimed}"));
        let (event, data) = match &gap {
            None => ("pusher_internal:resumed", json!({ "replayed": replayed })),
            Some((reason, message)) => (
                "pusher_internal:resume_failed",
                json!({ "reason": reason, "message": message }),
            ),
        };
        let frame = messages::channel_event(event, channel, &data.to_string());
        Frame::from(match position {
            Some(position) => messages::with_position(&frame, &position),
            None => frame,
        })
    };
    let mut flushes = Flushes::new();
    let replay = Replay {
        events: &replay,
        epoch: epoch.as_deref().map(Stamp::epoch_key),
        latest,
        seam,
    };
    let finished = registry.finish_hold(channel, socket, token, replay, notice, &mut flushes);
    flushes.flush();
    Some(Delivered {
        finished: finished?,
        replayed,
        gap,
    })
}

/// What the client is sent: the replay, the channel's seq, the failure (reason, message) if
/// any, and the epoch when the store answered.
struct Answer {
    replay: Vec<(u64, Frame)>,
    latest: u64,
    gap: Option<(&'static str, String)>,
    epoch: Option<String>,
}

impl From<Outcome> for Answer {
    fn from(outcome: Outcome) -> Answer {
        let failed = |gap: Gap| Some((gap.reason(), gap_message(gap)));
        match outcome {
            Outcome::Read(read) => Answer {
                gap: read.gap.and_then(failed),
                replay: read.events,
                latest: read.latest.seq,
                epoch: Some(read.latest.epoch),
            },
            Outcome::Malformed(read) => Answer {
                replay: Vec::new(),
                latest: read.latest.seq,
                gap: failed(Gap::UnknownPosition),
                epoch: Some(read.latest.epoch),
            },
            Outcome::Unavailable(message) => Answer {
                replay: Vec::new(),
                latest: 0,
                gap: Some(("unavailable", message)),
                epoch: None,
            },
        }
    }
}

fn gap_message(gap: Gap) -> String {
    match gap {
        Gap::HistoryLost => "this channel's history was reset (expired while idle, or lost on restart): events may have been missed; refetch the state",
        Gap::TooOld => "events after this position are no longer kept (older than history_max_age or beyond history_max_events): refetch the state",
        Gap::UnknownPosition => "this position is not one of this channel's: refetch the state",
    }
    .to_string()
}

#[cfg(test)]
mod tests;
