//! Property test: any interleaving of publishes, deliveries, disconnects and resumes gives a
//! client running the add-on's logic every event at most once and in order — and, unless it
//! was told about a gap, every event: each event it processes is the one after the last.
//!
//! The model drives the real store, registry and `deliver`; only the cluster bus is modelled:
//! in "shared" mode (Redis) a publish is delivered later (`Deliver`), in publish order, so a
//! resume can read the store before or after frames still on their way.

use proptest::prelude::*;
use std::collections::VecDeque;

use super::{deliver, Outcome};
use crate::app::{App, HistoryPolicy};
use crate::history::{AllStats, MemoryStore, Position, Since, MAX_READ};
use crate::outbox::{Frame, SocketHandle};
use crate::registry::{AppRegistry, SocketIdGenerator, Stamp};
use sockwave_protocol::{messages, ChannelName};

const CHANNEL: &str = "history-p";

#[derive(Debug, Clone)]
enum Op {
    Publish,
    Deliver,
    Disconnect,
    Connect,
    /// Unsubscribe and subscribe again on the same socket while a resume may be pending:
    /// the old resume must not end the new hold.
    Resubscribe,
    /// A resume that outlived its subscription ends now.
    FinishStale,
    /// The node misses the next frame on its way (a cluster engine outage): it must notice
    /// at the frame after and ask its subscribers to reconnect, never deliver past the gap.
    Lose,
    Read,
    Finish,
    Drain,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Publish),
        3 => Just(Op::Deliver),
        1 => Just(Op::Disconnect),
        1 => Just(Op::Connect),
        1 => Just(Op::Resubscribe),
        1 => Just(Op::FinishStale),
        1 => Just(Op::Lose),
        2 => Just(Op::Read),
        2 => Just(Op::Finish),
        3 => Just(Op::Drain),
    ]
}

/// The add-on's bookkeeping (the highest position seen), and the checks.
#[derive(Debug, Default)]
struct Client {
    position: Option<Position>,
    /// The last event processed: each later one must be newer (at most once, in order).
    last_event: u64,
    /// Every event processed, by seq.
    processed: Vec<u64>,
    /// The first position the server gave (a first subscribe).
    start: Option<u64>,
    gaps: usize,
}

impl Client {
    fn take(&mut self, frame: &str) {
        let value: serde_json::Value = serde_json::from_str(frame).unwrap();
        let position = value["position"]
            .as_str()
            .map(|p| Position::parse(p).unwrap());
        match value["event"].as_str().unwrap() {
            "tick" => {
                let position = position.expect("a history event has a position");
                let recorded = self.position.as_ref().expect("events come after a notice");
                assert_eq!(position.epoch, recorded.epoch);
                assert!(
                    position.seq > self.last_event,
                    "event {} after {}: a duplicate or out of order",
                    position.seq,
                    self.last_event
                );
                if position.seq > recorded.seq {
                    assert_eq!(position.seq, recorded.seq + 1, "an event skipped silently");
                    self.position = Some(position.clone());
                }
                self.last_event = position.seq;
                self.processed.push(position.seq);
            }
            "pusher_internal:resumed" => {
                let position = position.unwrap();
                match &self.position {
                    Some(recorded) => assert_eq!(
                        recorded, &position,
                        "the replay reaches the notice's position"
                    ),
                    None => self.start = Some(position.seq),
                }
                self.position = Some(position);
            }
            "pusher_internal:resume_failed" => {
                let data: serde_json::Value =
                    serde_json::from_str(value["data"].as_str().unwrap()).unwrap();
                assert_eq!(data["reason"], "too_old", "{frame}");
                self.gaps += 1;
                let position = position.unwrap(); // refetched: a new baseline
                self.last_event = self.last_event.max(position.seq);
                self.position = Some(position);
            }
            other => panic!("unexpected frame {other}"),
        }
    }
}

struct Model {
    app: App,
    store: MemoryStore,
    stats: AllStats,
    registry: AppRegistry,
    ids: SocketIdGenerator,
    shared: bool,
    in_flight: VecDeque<(Stamp, Frame)>,
    socket: Option<SocketHandle>,
    /// Between `Connect` and `Finish`: the hold's token, the position sent, then the read.
    reading: Option<(u64, String, Option<Outcome>)>,
    /// A resume whose subscription was replaced (`Resubscribe`).
    stale: Option<(u64, Outcome)>,
    client: Client,
    published: u64,
}

impl Model {
    fn new(shared: bool, max_events: usize) -> Model {
        let mut app = App::default_dev();
        app.history = HistoryPolicy {
            channels: vec!["history-*".into()],
            max_events,
            ..HistoryPolicy::default()
        };
        Model {
            registry: AppRegistry::new(&app.id),
            app,
            store: MemoryStore::default(),
            stats: AllStats::default(),
            ids: SocketIdGenerator::default(),
            shared,
            in_flight: VecDeque::new(),
            socket: None,
            reading: None,
            stale: None,
            client: Client::default(),
            published: 0,
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Publish => {
                let frame = messages::channel_event("tick", CHANNEL, "{}");
                let mut delivered = None;
                self.store
                    .append(&self.app, CHANNEL, &frame, &self.stats, |frame, stamp| {
                        delivered = Some((stamp, frame.clone()));
                    });
                let (stamp, frame) = delivered.unwrap();
                self.published += 1;
                if self.shared {
                    self.in_flight.push_back((stamp, frame));
                } else {
                    self.broadcast(stamp, &frame);
                }
            }
            Op::Deliver => {
                if let Some((stamp, frame)) = self.in_flight.pop_front() {
                    self.broadcast(stamp, &frame);
                }
            }
            Op::Lose => {
                if self.shared {
                    self.in_flight.pop_front();
                }
            }
            Op::Disconnect => {
                if let Some(socket) = self.socket.take() {
                    self.registry.unsubscribe(CHANNEL, socket.id());
                    self.reading = None; // queued frames are lost with the socket
                }
            }
            Op::Connect => {
                if self.socket.is_none() {
                    let socket = SocketHandle::detached(self.ids.next_id(), 1_000_000);
                    self.subscribe(&socket);
                    self.socket = Some(socket);
                }
            }
            Op::Resubscribe => {
                if let Some(socket) = self.socket.clone() {
                    // The client drains what it has first (an app leaving then joining).
                    self.apply(&Op::Drain);
                    if self.socket.is_none() {
                        return; // it was asked to reconnect instead
                    }
                    self.registry.unsubscribe(CHANNEL, socket.id());
                    if let Some((token, _, Some(outcome))) = self.reading.take() {
                        self.stale = Some((token, outcome));
                    }
                    self.subscribe(&socket);
                }
            }
            Op::FinishStale => {
                if let (Some((token, outcome)), Some(socket)) = (self.stale.take(), &self.socket) {
                    let ended = deliver(&self.registry, socket, CHANNEL, token, true, outcome);
                    assert!(ended.is_none(), "a stale resume ended a newer hold");
                }
            }
            Op::Read => {
                if let Some((_, sent, read @ None)) = &mut self.reading {
                    let after = Position::parse(sent);
                    let since = after.as_ref().map_or(Since::Now, Since::After);
                    let got = self
                        .store
                        .read(&self.app, CHANNEL, since, MAX_READ, &self.stats);
                    *read = Some(Outcome::Read(got));
                }
            }
            Op::Finish => {
                if matches!(self.reading, Some((_, _, Some(_)))) {
                    let (token, sent, outcome) = self.reading.take().unwrap();
                    let socket = self.socket.as_ref().unwrap();
                    let asked = !sent.is_empty();
                    let ended = deliver(
                        &self.registry,
                        socket,
                        CHANNEL,
                        token,
                        asked,
                        outcome.unwrap(),
                    );
                    assert!(
                        ended.is_some() || socket.requested_close().is_some(),
                        "a resume ends its hold unless the socket must reconnect"
                    );
                }
            }
            Op::Drain => {
                if let Some(socket) = &self.socket {
                    for frame in socket.take_queued() {
                        self.client.take(std::str::from_utf8(&frame).unwrap());
                    }
                    if socket.requested_close().is_some() {
                        // Asked to reconnect (a gap on this node): the client does.
                        self.apply(&Op::Disconnect);
                    }
                }
            }
        }
    }

    fn broadcast(&self, stamp: Stamp, frame: &Frame) {
        let mut flushes = crate::outbox::Flushes::new();
        self.registry
            .broadcast_positioned(CHANNEL, frame, Some(stamp), None, &mut flushes);
        flushes.flush();
    }

    /// Subscribes `socket` with a hold, as the add-on's subscribe does.
    fn subscribe(&mut self, socket: &SocketHandle) {
        let channel = ChannelName::parse(CHANNEL, 200).unwrap();
        let token = self
            .registry
            .subscribe(&channel, socket, None, true)
            .hold
            .expect("a hold");
        let sent = self
            .client
            .position
            .as_ref()
            .map_or(String::new(), Position::to_string);
        self.reading = Some((token, sent, None));
    }

    /// Everything settles: frames arrive, a pending resume finishes, the client reads — and
    /// reconnects when it was asked to.
    fn settle(&mut self) {
        while !self.in_flight.is_empty() {
            self.apply(&Op::Deliver);
        }
        self.apply(&Op::Read);
        self.apply(&Op::Finish);
        // The engine link is back: channels this node fell behind on are resynchronised
        // (a frame lost while nothing follows it is only found this way).
        for (channel, _) in self.registry.history_marks() {
            let read = self
                .store
                .read(&self.app, &channel, Since::Now, 0, &self.stats);
            self.registry
                .resync_if_behind(&channel, read.latest.stamp());
        }
        self.apply(&Op::Drain);
        if self.socket.is_none() {
            self.apply(&Op::Connect);
            self.apply(&Op::Read);
            self.apply(&Op::Finish);
            self.apply(&Op::Drain);
        }
    }
}

fn run(shared: bool, max_events: usize, ops: &[Op]) {
    let mut model = Model::new(shared, max_events);
    model.apply(&Op::Connect);
    for op in ops {
        model.apply(op);
    }
    model.apply(&Op::Connect);
    model.settle();
    let position = model
        .client
        .position
        .as_ref()
        .expect("connected at the end");
    assert_eq!(
        position.seq, model.published,
        "a connected client ends up with the channel's last event"
    );
    if model.client.gaps == 0 {
        let start = model.client.start.expect("a first subscribe");
        let after_start: Vec<u64> = model
            .client
            .processed
            .iter()
            .copied()
            .filter(|seq| *seq > start)
            .collect();
        let all: Vec<u64> = (start + 1..=model.published).collect();
        assert_eq!(
            after_start, all,
            "without a gap notice, every event after the first position"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn in_memory_history(ops in prop::collection::vec(op(), 0..120), max_events in 1usize..40) {
        run(false, max_events, &ops);
    }

    #[test]
    fn shared_history_with_frames_in_flight(ops in prop::collection::vec(op(), 0..120), max_events in 1usize..40) {
        run(true, max_events, &ops);
    }
}

#[test]
fn a_long_outage_with_a_large_history_loses_nothing() {
    let mut ops = vec![Op::Publish, Op::Read, Op::Finish, Op::Drain, Op::Disconnect];
    ops.extend(std::iter::repeat_n(Op::Publish, 500));
    ops.extend([Op::Connect, Op::Publish, Op::Read, Op::Publish, Op::Finish]);
    run(true, 1000, &ops);
}
