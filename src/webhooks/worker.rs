//! The delivery worker: one task that owns the pending webhooks. It reads the queue that
//! `Webhooks::emit` fills, runs events through the leave delay and the `cache_miss`
//! de-duplication, routes them to each interested target's lane, and starts one delivery task
//! per ready batch. It also answers drain requests at shutdown.
//!
//! The task owns all of its state, so nothing here is locked. It never waits on a receiver:
//! deliveries run in their own tasks and report back through a `JoinSet`, which keeps the
//! task graph acyclic (no channel from the deliveries back into the bounded queue).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::{Id, JoinSet};
use tokio::time::{sleep_until, Instant};

use super::batch::{LaneKey, Lanes};
use super::counters::Counter;
use super::dedupe::{CacheMissDedupe, CACHE_MISS_WINDOW};
use super::delay::LeaveHold;
use super::delivery::{deliver, Sender};
use super::{Queued, Shared};
use crate::app::EventType;
use crate::config::WebhookSettings;

/// Most commands handled before the worker looks at its timers again, so a flood of
/// events cannot starve the batches that are due.
const MAX_COMMANDS_PER_TURN: usize = 256;

/// What the worker is asked to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// Deliver this event.
    Emit(Queued),
    /// Stop holding and batching; answer once everything pending is delivered or given up.
    Drain(oneshot::Sender<()>),
}

struct Worker {
    shared: Arc<Shared>,
    sender: Arc<Sender>,
    hold: LeaveHold,
    misses: CacheMissDedupe,
    lanes: Lanes,
    in_flight: JoinSet<LaneKey>,
    /// Delivery task → its lane, so a lane is freed even if its task panicked.
    lane_of: HashMap<Id, LaneKey>,
    draining: bool,
    drain_waiters: Vec<oneshot::Sender<()>>,
    /// The emission time of the newest event read so far.
    seen_until: Option<Instant>,
}

/// Runs until every `Webhooks` handle is gone.
pub(crate) async fn run(
    shared: Arc<Shared>,
    sender: Arc<Sender>,
    settings: WebhookSettings,
    mut queue: mpsc::Receiver<Command>,
) {
    let mut worker = Worker {
        shared,
        sender,
        hold: LeaveHold::new(settings.leave_delay),
        misses: CacheMissDedupe::new(CACHE_MISS_WINDOW),
        lanes: Lanes::new(
            settings.batch_window,
            settings.batch_max_events,
            settings.queue_capacity,
        ),
        in_flight: JoinSet::new(),
        lane_of: HashMap::new(),
        draining: false,
        drain_waiters: Vec::new(),
        seen_until: None,
    };
    loop {
        let deadline = [worker.hold.next_deadline(), worker.lanes.next_deadline()]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            biased;
            Some(done) = worker.in_flight.join_next_with_id(), if !worker.in_flight.is_empty() => {
                let id = match &done {
                    Ok((id, _)) => *id,
                    Err(err) => err.id(),
                };
                if let Some(lane) = worker.lane_of.remove(&id) {
                    worker.lanes.finish(&lane);
                }
            }
            command = queue.recv() => {
                let Some(command) = command else { return };
                worker.handle(command);
                for _ in 1..MAX_COMMANDS_PER_TURN {
                    match queue.try_recv() {
                        Ok(command) => worker.handle(command),
                        Err(_) => break,
                    }
                }
            }
            () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {}
        }
        let now = Instant::now();
        // A held leave may only be released once every event emitted before its deadline has
        // been read: with events still queued, release only up to the newest one read.
        let horizon = match worker.seen_until {
            Some(seen) if !queue.is_empty() => seen.min(now),
            _ => now,
        };
        for item in worker.hold.release_due(horizon) {
            worker.route(item, now);
        }
        worker.start_ready(now);
        worker.answer_drain();
    }
}

impl Worker {
    fn handle(&mut self, command: Command) {
        match command {
            Command::Emit(item) => {
                self.shared.log.count(&item.app.id, Counter::Accepted, 1);
                self.seen_until = Some(self.seen_until.map_or(item.at, |seen| seen.max(item.at)));
                let now = Instant::now();
                // Leaves due before this event happened go first, so a join after the
                // delay does not cancel a leave that already expired.
                for due in self.hold.release_due(item.at) {
                    self.route(due, now);
                }
                let passed = if self.draining {
                    Some(item)
                } else {
                    self.hold.offer(item)
                };
                if let Some(item) = passed {
                    self.route(item, now);
                }
            }
            Command::Drain(reply) => {
                self.draining = true;
                let now = Instant::now();
                for item in self.hold.release_all() {
                    self.route(item, now);
                }
                self.drain_waiters.push(reply);
            }
        }
    }

    /// Puts an event into the lane of every target that wants it.
    fn route(&mut self, item: Queued, now: Instant) {
        let event = &item.event;
        if event.kind() == EventType::CacheMiss
            && !self.misses.admit(&item.app.id, event.channel(), item.at)
        {
            return;
        }
        for (index, target) in item.app.webhooks.iter().enumerate() {
            if !target.wants(event.kind(), event.channel()) {
                continue;
            }
            let lane = (item.app.id.clone(), index);
            if let Err(event) = self
                .lanes
                .push(lane, &item.app, event.clone(), item.at, now)
            {
                self.shared.report_drop(
                    &item.app.id,
                    target.url.shown(),
                    &event,
                    "the target's backlog is full",
                );
            }
        }
    }

    fn start_ready(&mut self, now: Instant) {
        for batch in self.lanes.take_ready(now, self.draining) {
            let lane = batch.lane.clone();
            let task = deliver(self.shared.clone(), self.sender.clone(), batch);
            let handle = self.in_flight.spawn(task);
            self.lane_of.insert(handle.id(), lane);
        }
    }

    fn answer_drain(&mut self) {
        let settled = self.hold.is_empty() && self.lanes.is_idle() && self.in_flight.is_empty();
        if settled && !self.drain_waiters.is_empty() {
            for waiter in self.drain_waiters.drain(..) {
                // The waiter may have given up at its deadline; nothing to tell then.
                let _ = waiter.send(());
            }
        }
    }
}
