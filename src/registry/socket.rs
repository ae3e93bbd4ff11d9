//! Socket identity and the handle other parts of the server hold to reach a socket: a bounded
//! queue of ready-to-send frames plus a close signal.
//!
//! Nobody but the connection task touches the WebSocket itself; everybody else goes through
//! `SocketHandle::try_send`, which never waits.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use crate::protocol::ErrorCode;

/// A serialised text frame, shared by every recipient of a broadcast (cloning is a reference
/// count increment, not a copy).
pub type Frame = tokio_tungstenite::tungstenite::Utf8Bytes;

/// A socket id, `"{high}.{low}"` on the wire (`^\d+\.\d+$`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId {
    high: u32,
    low: u64,
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.high, self.low)
    }
}

impl FromStr for SocketId {
    type Err = ();

    /// Parses `digits.digits`; anything else (signs, spaces, empty parts) is refused.
    fn from_str(s: &str) -> Result<SocketId, ()> {
        let (high, low) = s.split_once('.').ok_or(())?;
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(high) || !digits(low) {
            return Err(());
        }
        Ok(SocketId {
            high: high.parse().map_err(|_| ())?,
            low: low.parse().map_err(|_| ())?,
        })
    }
}

/// Hands out unique socket ids: a random first part per socket, a process-wide counter as the
/// second, so ids are unique on this node and collide across nodes only if both parts match.
#[derive(Debug, Default)]
pub struct SocketIdGenerator {
    counter: AtomicU64,
}

impl SocketIdGenerator {
    /// The next id.
    pub fn next_id(&self) -> SocketId {
        SocketId {
            high: rand::random_range(1..1_000_000_000),
            low: self.counter.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }
}

/// What happened to a frame handed to `try_send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued for the socket's writer.
    Queued,
    /// The queue was full: the socket is being closed as a slow consumer (4100).
    SlowConsumer,
    /// The socket is already gone.
    Gone,
}

/// A cheap, cloneable reference to one socket.
#[derive(Debug, Clone)]
pub struct SocketHandle(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    id: SocketId,
    queue: mpsc::Sender<Frame>,
    close: CloseSignal,
}

/// A one-shot request to close a socket with a code; the first request wins.
#[derive(Debug, Default)]
struct CloseSignal {
    code: AtomicU16,
    notify: Notify,
}

impl SocketHandle {
    /// A handle over the sending half of a socket's outbound queue.
    pub fn new(id: SocketId, queue: mpsc::Sender<Frame>) -> SocketHandle {
        SocketHandle(Arc::new(Shared {
            id,
            queue,
            close: CloseSignal::default(),
        }))
    }

    /// The socket's id.
    pub fn id(&self) -> SocketId {
        self.0.id
    }

    /// Queues a frame without waiting. A full queue means the client is not reading: the
    /// socket is asked to close with 4100 rather than letting memory grow.
    pub fn try_send(&self, frame: &Frame) -> SendOutcome {
        match self.0.queue.try_send(frame.clone()) {
            Ok(()) => SendOutcome::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.request_close(ErrorCode::OverCapacity);
                SendOutcome::SlowConsumer
            }
            Err(mpsc::error::TrySendError::Closed(_)) => SendOutcome::Gone,
        }
    }

    /// Asks the connection task to close the socket with `code`. Later requests are ignored.
    pub fn request_close(&self, code: ErrorCode) {
        let first = self
            .0
            .close
            .code
            .compare_exchange(0, code.as_u16(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if first {
            // notify_one stores a permit when the task is not waiting yet, so it is never lost.
            self.0.close.notify.notify_one();
        }
    }

    /// The code of the close requested so far, if any (without waiting).
    pub fn requested_close(&self) -> Option<u16> {
        match self.0.close.code.load(Ordering::Acquire) {
            0 => None,
            code => Some(code),
        }
    }

    /// Resolves once a close was requested; returns the numeric code.
    pub async fn close_requested(&self) -> u16 {
        loop {
            let code = self.0.close.code.load(Ordering::Acquire);
            if code != 0 {
                return code;
            }
            self.0.close.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_ids_round_trip() {
        let generator = SocketIdGenerator::default();
        let id = generator.next_id();
        assert_eq!(id.to_string().parse::<SocketId>(), Ok(id));
        assert_ne!(generator.next_id(), generator.next_id());
        for bad in ["", "1", "1.", ".1", "a.1", "1.2.3", "-1.2", "1.+2", " 1.2"] {
            assert!(bad.parse::<SocketId>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn full_queue_requests_a_slow_consumer_close() {
        let (tx, _rx) = mpsc::channel(1);
        let handle = SocketHandle::new(SocketIdGenerator::default().next_id(), tx);
        let frame = Frame::from("x");
        assert_eq!(handle.try_send(&frame), SendOutcome::Queued);
        assert_eq!(handle.try_send(&frame), SendOutcome::SlowConsumer);
        handle.request_close(ErrorCode::Reconnect);
        assert_eq!(handle.close_requested().await, 4100);
    }

    #[tokio::test]
    async fn closed_queue_is_gone() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let handle = SocketHandle::new(SocketIdGenerator::default().next_id(), tx);
        assert_eq!(handle.try_send(&Frame::from("x")), SendOutcome::Gone);
    }
}
