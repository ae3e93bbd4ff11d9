//! History holds: a resuming subscriber's frames wait while its history is read, and join
//! the replay without duplicates (`finish_hold`); positioned frames carry a `Stamp`, so a node
//! that missed some (its cluster engine link dropped them) notices and asks the channel's
//! subscribers to reconnect instead of delivering past the gap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{AppRegistry, Channel, SocketId};
use crate::outbox::{CloseRequest, Flushes, Frame, SocketHandle};

/// A history frame's place: its epoch (hashed) and seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// The epoch's hash (`Stamp::epoch_key`).
    pub(crate) epoch: u64,
    /// The event's number in that epoch.
    pub(crate) seq: u64,
}

impl Stamp {
    /// A stable 64-bit key for an epoch text (FNV-1a): stamps compare epochs without
    /// carrying strings through the fan-out.
    pub(crate) fn epoch_key(epoch: &str) -> u64 {
        epoch.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// Whether `self` comes at or before `other` in the same epoch.
    fn covered_by(self, other: Stamp) -> bool {
        self.epoch == other.epoch && self.seq <= other.seq
    }
}

impl Channel {
    /// Asks every subscriber of a channel whose frames this node missed to reconnect (4200),
    /// and drops what was held or remembered for them: clients with the recovery add-on
    /// resume from the last frame they processed, on any node.
    fn resync(&mut self) {
        resync_parts(&self.subscribers, &mut self.held, &mut self.floors);
    }
}

/// `Channel::resync` for a caller holding the channel's fields apart.
fn resync_parts(
    subscribers: &HashMap<SocketId, SocketHandle>,
    held: &mut HashMap<SocketId, Held>,
    floors: &mut HashMap<SocketId, Stamp>,
) {
    for socket in subscribers.values() {
        socket.request_close(CloseRequest::Resync);
    }
    held.clear();
    floors.clear();
}

/// Hands out hold tokens, so a resume only ends the hold it started.
static HOLD_TOKENS: AtomicU64 = AtomicU64::new(1);

/// A resuming subscriber's frames: positioned ones with their stamp. Past the socket's queue
/// capacity the hold overflows: the frames are dropped and, when the resume ends, the socket
/// is closed as a slow consumer (4100) and resumes again from where it stopped, so nothing
/// is lost silently.
#[derive(Debug)]
pub(super) struct Held {
    token: u64,
    frames: Vec<(Option<Stamp>, Frame)>,
    overflowed: bool,
}

impl Held {
    /// A new hold and its token.
    pub(super) fn start() -> (u64, Held) {
        let token = HOLD_TOKENS.fetch_add(1, Ordering::Relaxed);
        let held = Held {
            token,
            frames: Vec::new(),
            overflowed: false,
        };
        (token, held)
    }
}

/// What a resume found in the history, for `finish_hold`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Replay<'a> {
    /// The events the socket missed, oldest first (empty unless `seam` is `Resumed`).
    pub(crate) events: &'a [(u64, Frame)],
    /// The epoch's key (`Stamp::epoch_key`) when the store answered.
    pub(crate) epoch: Option<u64>,
    /// The channel's last seq when the history was read.
    pub(crate) latest: u64,
    /// How the client's past meets the live frames.
    pub(crate) seam: Seam,
}

/// How a subscriber's past meets the live frames at the end of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seam {
    /// The replay reaches `latest`: later copies of events up to it are duplicates.
    Resumed,
    /// The client must refetch its state, which it does after the notice, so the state
    /// includes every event up to `latest`: later copies of them are skipped.
    Gap,
    /// A first subscribe: every event that arrives from now on is new to the client (one
    /// published before the read may still be on its way from another node), so none is
    /// skipped, and the claimed position is the one before the first held event.
    Fresh,
}

/// What `finish_hold` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Finished {
    /// The position the notice claims: the socket has every event up to it that it will
    /// ever get from before, and gets every one after it.
    pub(crate) claimed: u64,
    /// Held frames sent after the notice.
    pub(crate) released: usize,
}

impl AppRegistry {
    /// `broadcast` for a history channel's frame (`stamp` given) or for a channel where a
    /// resume holds frames: held subscribers keep the frame for later, and a subscriber that
    /// already got this event in a replay skips it. A stamp that is not the one after the
    /// last this node delivered means the node missed frames (its cluster engine link was
    /// down): the channel's subscribers are asked to reconnect (4200) instead, so clients
    /// with the recovery add-on resume exactly where they stopped.
    pub(crate) fn broadcast_positioned(
        &self,
        channel: &str,
        frame: &Frame,
        stamp: Option<Stamp>,
        except: Option<SocketId>,
        flushes: &mut Flushes,
    ) -> usize {
        let Some(mut state) = self.channels.get_mut(channel) else {
            return 0;
        };
        let Channel {
            subscribers,
            held,
            floors,
            last,
            ..
        } = &mut *state;
        if let Some(stamp) = stamp {
            let missed = last.is_some_and(|last| {
                last.epoch == stamp.epoch && stamp.seq > last.seq.saturating_add(1)
            });
            if last.is_none_or(|last| last.epoch != stamp.epoch || stamp.seq > last.seq) {
                *last = Some(stamp);
            }
            if missed {
                resync_parts(subscribers, held, floors);
                return 0;
            }
        }
        let mut reached = 0;
        for (id, socket) in subscribers.iter() {
            if Some(*id) == except {
                continue;
            }
            if let Some(waiting) = held.get_mut(id) {
                if waiting.overflowed {
                    continue;
                }
                if waiting.frames.len() >= socket.capacity() {
                    waiting.overflowed = true;
                    waiting.frames = Vec::new();
                    continue;
                }
                waiting.frames.push((stamp, frame.clone()));
                reached += 1;
                continue;
            }
            if let (Some(stamp), false) = (stamp, floors.is_empty()) {
                match floors.get(id) {
                    Some(floor) if stamp.covered_by(*floor) => continue,
                    Some(_) => {
                        floors.remove(id);
                    }
                    None => {}
                }
            }
            if flushes.send(socket, frame) {
                reached += 1;
            }
        }
        reached
    }

    /// Ends a resume's hold — the one `token` names, so a resume that outlived its
    /// subscription never ends a newer one's: queues the replayed events, then the notice
    /// `notice(claimed)` builds, then the held frames the seam lets through (see `Seam`).
    /// `None` when the socket left the channel (or subscribed again) meanwhile, or when its
    /// hold overflowed (the socket is then asked to close with 4100 and resumes again).
    pub(crate) fn finish_hold(
        &self,
        channel: &str,
        socket: &SocketHandle,
        token: u64,
        replay: Replay<'_>,
        notice: impl FnOnce(u64) -> Frame,
        flushes: &mut Flushes,
    ) -> Option<Finished> {
        let Replay {
            events: replay,
            epoch,
            latest,
            seam,
        } = replay;
        let mut state = self.channels.get_mut(channel)?;
        if state.held.get(&socket.id())?.token != token {
            return None;
        }
        let held = state.held.remove(&socket.id())?;
        if held.overflowed {
            socket.request_close(CloseRequest::SlowConsumer);
            return None;
        }
        let first_held = held
            .frames
            .iter()
            .find_map(|(stamp, _)| stamp.filter(|s| Some(s.epoch) == epoch))
            .map(|stamp| stamp.seq);
        if let Some(epoch) = epoch {
            // Frames reach this node in position order, so the first held one cannot be
            // newer than the one after what the read saw, unless this node missed some (its
            // engine link dropped them): everyone on the channel reconnects and resumes.
            if first_held.is_some_and(|first| first > latest.saturating_add(1)) {
                state.resync();
                return None;
            }
            // The read tells where the channel stood: a later frame that is not the next
            // one reveals a gap (see `broadcast_positioned`).
            if state.last.is_none() {
                state.last = Some(Stamp { epoch, seq: latest });
            }
        }
        let claimed = match (seam, first_held) {
            (Seam::Fresh, Some(first)) => latest.min(first.saturating_sub(1)),
            _ => latest,
        };
        for (_, frame) in replay {
            flushes.send(socket, frame);
        }
        flushes.send(socket, &notice(claimed));
        // Held frames of the read's epoch up to the floor were replayed (or precede the
        // claimed position); frames of another epoch are always new.
        let mut floor = match (seam, epoch) {
            (Seam::Resumed | Seam::Gap, Some(epoch)) => Some(Stamp {
                epoch,
                seq: claimed,
            }),
            _ => None,
        };
        let mut released = 0;
        for (stamp, frame) in held.frames {
            if let (Some(stamp), Some(current)) = (stamp, floor) {
                if stamp.covered_by(current) {
                    continue;
                }
            }
            if stamp.is_some() && floor.is_some() {
                floor = stamp;
            }
            flushes.send(socket, &frame);
            released += 1;
        }
        if let Some(floor) = floor {
            state.floors.insert(socket.id(), floor);
        }
        Some(Finished { claimed, released })
    }

    /// The last history frame this node delivered, per channel that had one (to check
    /// against the store after a cluster engine outage).
    pub(crate) fn history_marks(&self) -> Vec<(String, Stamp)> {
        self.channels
            .iter()
            .filter_map(|entry| Some((entry.key().clone(), entry.last?)))
            .collect()
    }

    /// After an engine outage: when the store is ahead of what this node delivered on the
    /// channel (`latest` is the store's position), the node missed frames — its subscribers
    /// reconnect and resume. Returns whether they were asked to.
    pub(crate) fn resync_if_behind(&self, channel: &str, latest: Stamp) -> bool {
        let Some(mut state) = self.channels.get_mut(channel) else {
            return false;
        };
        let behind = state
            .last
            .is_some_and(|last| last.epoch != latest.epoch || last.seq < latest.seq);
        if behind {
            state.resync();
            state.last = None;
        }
        behind
    }
}
