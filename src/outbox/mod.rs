//! A socket's outbound side, shared by its connection task and everyone who sends to it.
//!
//! Sending never waits. A frame is first queued (a lock, a reference count, no syscall);
//! whoever queues into an empty queue then flushes it straight to the kernel from its own
//! thread (`flush_now`: the whole queue in one vectored write, headers built on the stack,
//! payloads shared, never copied). `try_send` does both at once; a broadcast queues to every
//! subscriber into a `Flushes` batch and flushes it once no lock is held (`fanout`). Only what the kernel does
//! not take is left to the connection task, woken to wait for writability. TLS sockets
//! always leave the writing to their task: only it may touch the TLS state. The queue is
//! bounded (a full one closes the socket as a slow consumer) and its slots are freed by the
//! watchdog once empty, so an idle socket owns no outbound memory. A socket that negotiated
//! `permessage-deflate` queues a broadcast's compressed bytes, compressed once for all its
//! subscribers (`deflate`).
//!
//! Frames are never reordered or interleaved: every write, from a sender or from the task,
//! happens under the queue's lock, front first.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::net::TcpStream;

use self::deflate::Compression;
#[cfg(test)]
use self::queue::MAX_FRAMES_PER_WRITE;
use self::queue::{Queue, Queued};
use self::stream::SocketIo;
use crate::metrics::AppMetrics;
use sockwave_protocol::websocket::Opcode;
use sockwave_protocol::SocketId;

pub(crate) mod clock;
pub(crate) mod deflate;
pub(crate) mod fanout;
mod queue;
pub(crate) mod stream;

pub use fanout::{ban_writes, Flushes, WriteBan};
pub(crate) use sockwave_protocol::Frame;

/// What `enqueue` did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enqueued {
    /// Queued into an empty queue: the caller must `flush_now` (or hand it to the task).
    First,
    /// Queued behind other frames; whoever queued the first of them flushes.
    Behind,
    /// Not queued.
    Refused(SendOutcome),
}

/// What happened to a frame handed to `try_send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendOutcome {
    /// Written to the socket's kernel buffer.
    Sent,
    /// Queued for the socket's task to write when the socket is writable.
    Queued,
    /// The queue was full: the socket is being closed as a slow consumer (4100).
    SlowConsumer,
    /// The socket is closing or gone.
    Gone,
}

impl SendOutcome {
    #[cfg(test)]
    /// Whether the socket took the frame (it will reach the client unless the connection
    /// breaks).
    pub(crate) fn accepted(self) -> bool {
        matches!(self, SendOutcome::Sent | SendOutcome::Queued)
    }
}

/// Why somebody other than the connection task wants the socket closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseRequest {
    /// The queue overflowed (4100).
    SlowConsumer = 1,
    /// The socket took none of its queued bytes for the write timeout (4100).
    Stalled,
    /// terminate_connections from the HTTP API (4009).
    Terminated,
    /// Not signed in or subscribed to a private channel in time (4009).
    Unauthorized,
    /// No pong after a ping (4201).
    PongTimeout,
    /// The server is shutting down (4200).
    Shutdown,
    /// The app was disabled or removed where apps are kept (4003).
    AppDisabled,
    /// This node missed frames of a history channel the socket follows (a cluster engine
    /// outage): reconnect (4200), so a client with the recovery add-on resumes exactly.
    Resync,
}

impl CloseRequest {
    fn from_u8(value: u8) -> Option<CloseRequest> {
        use CloseRequest::*;
        [
            SlowConsumer,
            Stalled,
            Terminated,
            Unauthorized,
            PongTimeout,
            Shutdown,
            AppDisabled,
            Resync,
        ]
        .into_iter()
        .find(|request| *request as u8 == value)
    }
}

/// A cheap, cloneable reference to one socket.
#[derive(Debug, Clone)]
pub struct SocketHandle(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    id: SocketId,
    queue: Mutex<Queue>,
    /// Wakes the connection task: frames to flush, or a close request.
    task: AtomicWaker,
    close: AtomicU8,
    capacity: usize,
    /// What the socket compresses, if it negotiated `permessage-deflate`.
    compression: Option<Compression>,
    metrics: Arc<AppMetrics>,
    /// When the client last sent anything (`clock` milliseconds).
    last_seen: AtomicU64,
    /// When the server pinged it and is still waiting for an answer; 0 when not waiting.
    ping_sent: AtomicU64,
    opened_at: u64,
    /// Signed in, or subscribed to a private or presence channel.
    authorized: AtomicBool,
}

impl SocketHandle {
    /// A handle for a new socket; `direct` is the TCP stream for direct writes, if plain.
    pub(crate) fn new(
        id: SocketId,
        capacity: usize,
        direct: Option<Arc<TcpStream>>,
        metrics: Arc<AppMetrics>,
    ) -> SocketHandle {
        SocketHandle::compressing(id, capacity, direct, None, metrics)
    }

    /// `new` for a socket that negotiated `permessage-deflate` (`compression`).
    pub(crate) fn compressing(
        id: SocketId,
        capacity: usize,
        direct: Option<Arc<TcpStream>>,
        compression: Option<Compression>,
        metrics: Arc<AppMetrics>,
    ) -> SocketHandle {
        let now = clock::now_ms();
        SocketHandle(Arc::new(Shared {
            id,
            queue: Mutex::new(Queue {
                direct,
                ..Queue::default()
            }),
            task: AtomicWaker::new(),
            close: AtomicU8::new(0),
            capacity,
            compression,
            metrics,
            last_seen: AtomicU64::new(now),
            ping_sent: AtomicU64::new(0),
            opened_at: now,
            authorized: AtomicBool::new(false),
        }))
    }

    /// A handle with no socket behind it (tests): frames queue until `take_queued`.
    pub fn detached(id: SocketId, capacity: usize) -> SocketHandle {
        SocketHandle::new(id, capacity, None, Arc::new(AppMetrics::default()))
    }

    /// The socket's id.
    pub fn id(&self) -> SocketId {
        self.0.id
    }

    #[cfg(test)]
    /// Sends a text frame without waiting. A full queue means the client is not reading:
    /// the socket is asked to close with 4100 rather than letting memory grow.
    pub(crate) fn try_send(&self, frame: &Frame) -> SendOutcome {
        let enqueued = self.enqueue(frame);
        if !matches!(enqueued, Enqueued::Refused(_)) {
            self.count_sent(1, frame.len());
        }
        match enqueued {
            Enqueued::First => self.flush_now(),
            Enqueued::Behind => SendOutcome::Queued,
            Enqueued::Refused(outcome) => outcome,
        }
    }

    /// Queues a text frame without writing it. `First` means the queue was empty and the
    /// caller must call `flush_now` (a fan-out queues to every subscriber first, then
    /// flushes them in parallel; see `fanout`).
    pub(crate) fn enqueue(&self, frame: &Frame) -> Enqueued {
        // A socket asked to close takes nothing more: a frame after one it missed (a slow
        // consumer's, say) would move a recovering client's position past the gap.
        if self.0.close.load(Ordering::Acquire) != 0 {
            return Enqueued::Refused(SendOutcome::Gone);
        }
        // Outside the lock: the first compressing subscriber of a broadcast compresses it.
        let (compressed, payload) = match self.0.compression {
            Some(compression) => compression.shared(frame.as_shared()),
            None => (false, frame.bytes()),
        };
        let mut queue = self.lock();
        if queue.sealed {
            return Enqueued::Refused(SendOutcome::Gone);
        }
        if queue.frames.len() >= self.0.capacity {
            drop(queue);
            self.request_close(CloseRequest::SlowConsumer);
            return Enqueued::Refused(SendOutcome::SlowConsumer);
        }
        let first = queue.frames.is_empty();
        queue.frames.push_back(Queued {
            opcode: Opcode::Text,
            compressed,
            payload,
        });
        let held = queue.hold.is_some();
        drop(queue);
        // Not counted here: a fan-out counts its frames once per app (`Flushes`), so that
        // metrics cost one update per broadcast rather than one per delivery.
        if held {
            // The task flushes after its replies.
            if first {
                self.0.task.wake();
            }
            return Enqueued::Behind;
        }
        if first {
            Enqueued::First
        } else {
            Enqueued::Behind
        }
    }

    /// Writes what is queued straight to the kernel, from the caller's thread. What the
    /// socket does not take now is left to the connection task, which is woken to wait for
    /// writability; TLS sockets always leave it to the task.
    pub(crate) fn flush_now(&self) -> SendOutcome {
        let mut queue = self.lock();
        if queue.sealed {
            return SendOutcome::Gone;
        }
        // Taken out and put back rather than cloned: no reference-count traffic per flush.
        let tcp = match queue.hold {
            None => queue.direct.take(),
            Some(_) => None,
        };
        let Some(tcp) = tcp else {
            drop(queue);
            self.0.task.wake();
            return SendOutcome::Queued;
        };
        while !queue.frames.is_empty() {
            match queue.write_some(|slices| tcp.try_write_vectored(slices)) {
                Ok(0) => break,
                Ok(n) => queue.advance(n),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    // Broken connection: the task notices on its next read.
                    queue.seal();
                    drop(queue);
                    self.0.task.wake();
                    return SendOutcome::Gone;
                }
            }
        }
        queue.direct = Some(tcp);
        if queue.frames.is_empty() {
            return SendOutcome::Sent;
        }
        queue.stalled_since = clock::now_ms();
        drop(queue);
        self.0.task.wake();
        SendOutcome::Queued
    }

    /// Asks the connection task to close the socket. Later requests are ignored.
    pub(crate) fn request_close(&self, request: CloseRequest) {
        let first = self
            .0
            .close
            .compare_exchange(0, request as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if first {
            self.0.task.wake();
        }
    }

    /// Frames the queue holds before the socket counts as a slow consumer.
    pub(crate) fn capacity(&self) -> usize {
        self.0.capacity
    }

    /// The close requested so far, if any.
    pub(crate) fn requested_close(&self) -> Option<CloseRequest> {
        CloseRequest::from_u8(self.0.close.load(Ordering::Acquire))
    }

    /// Counts frames queued for this socket in its app's metrics (senders count: a fan-out
    /// once per app and broadcast, see `Flushes`).
    pub(crate) fn count_sent(&self, n_messages: usize, n_bytes: usize) {
        self.0.metrics.ws_sent(n_messages, n_bytes);
    }

    /// Whether this socket counts in the same app metrics as `other`.
    pub(crate) fn same_metrics(&self, other: &SocketHandle) -> bool {
        Arc::ptr_eq(&self.0.metrics, &other.0.metrics)
    }

    /// Whether frames wait in the queue.
    pub(crate) fn has_queued(&self) -> bool {
        !self.lock().frames.is_empty()
    }

    /// Takes frames from the front of the queue while they fit in `max_bytes` (always at
    /// least one), for a socket without a stream.
    pub(crate) fn take_queued_up_to(&self, max_bytes: usize) -> Vec<Bytes> {
        let mut queue = self.lock();
        let mut taken = Vec::new();
        let mut bytes = 0;
        while let Some(front) = queue.frames.front() {
            if !taken.is_empty() && bytes + front.payload.len() > max_bytes {
                break;
            }
            bytes += front.payload.len();
            let front = queue.frames.pop_front().expect("a front frame");
            debug_assert!(
                !front.compressed,
                "a socket without a stream never compresses"
            );
            taken.push(front.payload);
            if let Some(at) = &mut queue.hold {
                *at = at.saturating_sub(1);
            }
        }
        taken
    }

    /// For a socket without a stream: whether its queued frames are waiting for a client
    /// that does not take them (the watchdog closes it after `pong_timeout`, as it closes a
    /// WebSocket whose bytes wait that long).
    pub(crate) fn set_waiting(&self, waiting: bool) {
        let mut queue = self.lock();
        match (waiting, queue.stalled_since) {
            (true, 0) => queue.stalled_since = clock::now_ms(),
            (false, _) => queue.stalled_since = 0,
            (true, _) => {}
        }
    }

    /// Takes the frames waiting in the queue: sockets without a stream (the HTTP
    /// transports' sessions, whose task sends them on) and tests.
    pub fn take_queued(&self) -> Vec<Bytes> {
        let mut queue = self.lock();
        queue.written = 0;
        queue.hold = queue.hold.map(|_| 0);
        std::mem::take(&mut queue.frames)
            .into_iter()
            .map(|queued| {
                debug_assert!(
                    !queued.compressed,
                    "a socket without a stream never compresses"
                );
                queued.payload
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.0.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A reply of the task's, compressed if it is a text frame and the socket compresses.
    fn reply(&self, opcode: Opcode, payload: Bytes) -> Queued {
        match self.0.compression {
            Some(compression) if opcode == Opcode::Text => {
                let (compressed, payload) = compression.single(payload);
                Queued {
                    opcode,
                    compressed,
                    payload,
                }
            }
            _ => Queued::plain(opcode, payload),
        }
    }
}

/// The connection task's side.
impl SocketHandle {
    /// Registers the task to be woken for frames to flush or a close request.
    pub(crate) fn register(&self, cx: &Context<'_>) {
        self.0.task.register(cx.waker());
    }

    /// Frames sent from now on wait in the queue until `release`.
    pub(crate) fn hold(&self) {
        let mut queue = self.lock();
        let at = queue.frames.len();
        queue.hold = Some(at);
    }

    /// Puts the task's own replies ahead of what was queued during the hold.
    pub(crate) fn release(&self, replies: Vec<(Opcode, Bytes)>) {
        // Compressed (where the socket compresses) before the lock is taken.
        let replies: Vec<Queued> = replies
            .into_iter()
            .map(|(opcode, payload)| self.reply(opcode, payload))
            .collect();
        let mut queue = self.lock();
        let len = queue.frames.len();
        // Never ahead of a frame whose first bytes are already on the wire.
        let started = usize::from(queue.written > 0);
        let at = queue
            .hold
            .take()
            .unwrap_or(len)
            .clamp(started.min(len), len);
        if queue.sealed {
            return;
        }
        for (i, reply) in replies.into_iter().enumerate() {
            queue.frames.insert(at + i, reply);
        }
        let over = queue.frames.len() > self.0.capacity;
        drop(queue);
        if over {
            self.request_close(CloseRequest::SlowConsumer);
        }
    }

    /// Queues the last frames (the error and the close frame) and accepts nothing after
    /// them. A slow consumer's unstarted frames are dropped so its close code arrives.
    pub(crate) fn seal_with(&self, last: Vec<(Opcode, Bytes)>, drop_unstarted: bool) {
        let mut queue = self.lock();
        if queue.sealed {
            return;
        }
        if drop_unstarted {
            let keep = usize::from(queue.written > 0);
            queue.frames.truncate(keep);
        }
        queue.frames.extend(
            last.into_iter()
                .map(|(opcode, payload)| Queued::plain(opcode, payload)),
        );
        queue.hold = None;
        queue.sealed = true;
    }

    /// Writes queued frames while the socket takes them. Ready(Ok) once the queue is
    /// empty; Pending (the task woken when the socket is writable) while bytes wait.
    pub(crate) fn poll_flush(
        &self,
        cx: &mut Context<'_>,
        io: &mut SocketIo,
    ) -> Poll<io::Result<()>> {
        let mut queue = self.lock();
        loop {
            if queue.frames.is_empty() {
                queue.stalled_since = 0;
                return io.poll_flush(cx);
            }
            let written = queue.write_some(|slices| match io.poll_write_vectored(cx, slices) {
                Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                Poll::Ready(result) => result,
            });
            let n = match written {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    if queue.stalled_since == 0 {
                        queue.stalled_since = clock::now_ms();
                    }
                    return Poll::Pending;
                }
                Err(err) => return Poll::Ready(Err(err)),
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => n,
            };
            queue.advance(n);
            queue.stalled_since = clock::now_ms();
        }
    }

    /// The watchdog's look at the queue, under one lock: frees the slots of an empty queue
    /// and says since when queued bytes have waited for the socket, if they do. Freeing
    /// here rather than after every flush means a socket receiving a steady stream does not
    /// allocate and free its slots once per frame, while an idle one still ends up owning
    /// no queue memory.
    pub(crate) fn tidy(&self) -> Option<u64> {
        let mut queue = self.lock();
        if queue.frames.is_empty() && queue.frames.capacity() > 0 {
            queue.frames = VecDeque::new();
        }
        match queue.stalled_since {
            0 => None,
            at => Some(at),
        }
    }

    /// Marks the socket gone: nothing more is accepted or written directly.
    pub(crate) fn seal(&self) {
        self.lock().seal();
    }
}

/// Liveness, read by the watchdog.
impl SocketHandle {
    /// The client sent something: it is alive, and any ping is answered.
    pub(crate) fn touch(&self, now_ms: u64) {
        self.0.last_seen.store(now_ms, Ordering::Relaxed);
        self.0.ping_sent.store(0, Ordering::Relaxed);
    }

    /// When the client last sent anything.
    pub(crate) fn last_seen(&self) -> u64 {
        self.0.last_seen.load(Ordering::Relaxed)
    }

    /// When the unanswered ping was sent, if one is outstanding.
    pub(crate) fn ping_sent(&self) -> Option<u64> {
        match self.0.ping_sent.load(Ordering::Relaxed) {
            0 => None,
            at => Some(at),
        }
    }

    /// Records that a ping went out at `now_ms`.
    pub(crate) fn set_ping_sent(&self, now_ms: u64) {
        self.0.ping_sent.store(now_ms.max(1), Ordering::Relaxed);
    }

    /// When the socket was opened.
    pub(crate) fn opened_at(&self) -> u64 {
        self.0.opened_at
    }

    /// The socket signed in or joined a private or presence channel.
    pub(crate) fn set_authorized(&self) {
        self.0.authorized.store(true, Ordering::Relaxed);
    }

    /// Whether `set_authorized` was called.
    pub(crate) fn is_authorized(&self) -> bool {
        self.0.authorized.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
